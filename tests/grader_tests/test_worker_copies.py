"""Workers leave nothing: each gets the hand-in exactly as handed in, at one path; a failing detector shows.

Every worker that imports the hand-in gets a fresh copy of it, made from the pristine copy (or a
probe's folder), at the same path for every worker, deleted afterwards; what it changed there is
found by content hash and file type (links never followed) and reported as a warning.  Models a
probe serves in place of the real ones are bound at the real path under bubblewrap.  A detector
that raises leaves its part's integrity "could not be checked" in every writer.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from grader_plugin import hookimpl
from grader_plugin.builtin.json_report import gradescope_results
from grader_plugin.builtin.terminal_report import integrity_lines, table_lines
from grader_plugin.classroom.exports import csv_text
from grader_plugin.launch import sandbox as sandboxes
from grader_plugin.launch.copies import WorkerCopies, changed_entries, copy_tree, fingerprint
from grader_plugin.launch.request import WorkerRequest
from grader_plugin.launch.runner import RunWorkers
from grader_plugin.manager import get_plugin_manager
from grader_plugin.results import UNCHECKED, Finding, PartResult
from grader_plugin.session import GradingSession
from grader_plugin.settings import GradeSettings
from unitconv.paths import make_readable

ROOT = Path(__file__).resolve().parents[2]
CHEATERS = ROOT / "fixtures" / "cheaters"
SUBMISSIONS = ROOT / "fixtures" / "submissions"
ANSWER = "grader_plugin.worker.handin_tasks:answer_questions"
QUESTIONS = 3
WORKS, WHY = sandboxes.probe()


def read_served(model, payload: dict) -> dict:
    """Worker side (a trusted worker started by a test): what it reads at the base model's path, and sees."""
    scratch = os.getcwd()
    return {"config": Path(payload["base"], "config.json").read_text(),
            "source_seen": os.path.exists(payload["source"]),
            "env": {key: value.replace(scratch, "<scratch>").replace(str(os.getuid()), "<uid>")
                    for key, value in os.environ.items()}}  # each worker has a scratch folder and uid of its own


def _session(folder: Path, tiny: Path | None, plugins=(), **overrides) -> GradingSession:
    settings = GradeSettings(path=folder, parts=("cot",), questions=QUESTIONS, base_model=tiny and str(tiny),
                             sandbox="off", **overrides)
    session = GradingSession(settings, get_plugin_manager(list(plugins), load_entry_points=False))
    session.open()
    return session


def _ask(session: GradingSession, **options):
    questions = [q.text for q in session.public_questions(QUESTIONS)]
    outcome = session.workers.run(WorkerRequest(ANSWER, {"questions": questions}, 300, "cot", **options), "cot")
    assert outcome.ok, outcome.reason
    return outcome


def _links(folder: Path) -> list[str]:
    return [os.path.join(root, name) for root, folders, files in os.walk(folder) for name in folders + files
            if os.path.islink(os.path.join(root, name))]


def test_a_same_size_rewrite_with_its_time_set_back_and_links_show_as_changes(tmp_path):
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "state.txt").write_text("fresh\n")
    before = fingerprint(folder)
    kept = os.stat(folder / "state.txt")
    (folder / "state.txt").write_text("taken\n")
    os.utime(folder / "state.txt", ns=(kept.st_atime_ns, kept.st_mtime_ns))
    (folder / "seen").symlink_to(ROOT / "grader_plugin", target_is_directory=True)
    (folder / "gone").symlink_to(tmp_path / "no-such-file")
    after = fingerprint(folder)
    assert changed_entries(before, after) == ["gone (new)", "seen (new)", "state.txt (changed)"]
    assert not any(name.startswith("seen/") for name in after)  # the link is listed, never entered
    assert after["gone"] == f"link -> {tmp_path / 'no-such-file'}"


def test_copies_keep_links_as_links_and_every_worker_copy_is_fresh_at_one_path(tmp_path):
    source = tmp_path / "source"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("")
    copies = WorkerCopies(tmp_path / "work")
    first = copies.make(source)
    (first / "pkg" / "note").symlink_to(tmp_path / "nowhere")
    (first / "pkg" / "locked").mkdir()
    (first / "pkg" / "locked" / "inside").write_text("x")
    os.chmod(first / "pkg" / "locked", 0)
    changed = copies.discard()
    assert "pkg/locked (new)" in changed and "pkg/note (new)" in changed
    assert not first.exists() and list((tmp_path / "work").iterdir()) == []  # even a folder locked by the worker
    second = copies.make(source)
    assert second == first and fingerprint(second) == fingerprint(source)
    (source / "pkg" / "dangling").symlink_to(tmp_path / "nowhere")  # a link stays a link, dangling or not
    copy_tree(source, tmp_path / "with-link")
    assert os.readlink(tmp_path / "with-link" / "pkg" / "dangling") == str(tmp_path / "nowhere")


@pytest.mark.workers
def test_a_note_kept_by_a_same_size_rewrite_never_reaches_a_later_worker(tiny_model_dir, tmp_path):
    session = _session(CHEATERS / "note_same_size", tiny_model_dir)
    try:
        first, second = _ask(session), _ask(session)
        answers = first.data["answers"]
        assert all(math.isfinite(a) for a in answers) and second.data["answers"] == answers
        assert session.workers.changes["cot"] == ["note_same_size/state.txt (changed)"]
        assert (session.submission.folder / "state.txt").read_text() == "fresh\n"
        probe = tmp_path / "probe"  # a probe's own folder: its copy is made from there, at the same path
        copy_tree(session.submission.parent, probe)
        (probe / "note_same_size" / "state.txt").write_text("taken\n")
        told = _ask(session, hand_in=probe)
        assert told.data["answers"] != answers
        [folder] = {outcome.integrity["submission_folder"] for outcome in (first, second, told)}
        assert not Path(folder).exists()  # deleted after each worker
        [warning] = session.workers.changes_found("cot")
        assert warning.severity == "warn" and "note_same_size/state.txt (changed)" in warning.evidence
    finally:
        session.close()


@pytest.mark.workers
def test_links_left_by_a_worker_reach_neither_a_later_worker_nor_a_probes_copy(tiny_model_dir):
    session = _session(CHEATERS / "note_link", tiny_model_dir)
    try:
        first, second = _ask(session), _ask(session)
        assert all(math.isfinite(a) for a in first.data["answers"])
        assert second.data["answers"] == first.data["answers"]
        assert session.workers.changes["cot"] == [
            "note_link/answers (new)", "note_link/gone (new)", "note_link/seen (new)"]
        assert _links(session.submission.parent) == []  # what a probe copies holds no link to the answers
        assert not list(session.submission.parent.rglob("valid.json"))
    finally:
        session.close()


def test_bubblewrap_binds_a_served_folder_read_only_at_the_real_path_after_the_readable_ones(tmp_path):
    real, served, scratch = tmp_path / "real", tmp_path / "served", tmp_path / "scratch"
    for folder in (real, served, scratch):
        folder.mkdir()
    command = sandboxes.bubblewrap_command(["python"], scratch=scratch, readable=[real], hidden=[], env={},
                                           uid=None, binds=[(served, real)])
    at = command.index(str(served))
    assert command[at - 1:at + 2] == ["--ro-bind", str(served), str(real)]
    readable = [i for i in range(len(command) - 2) if command[i:i + 3] == ["--ro-bind", str(real), str(real)]]
    assert readable and readable[0] < at - 1
    assert str(served) not in command[:at] and command.count(str(served)) == 1


def test_served_models_are_bound_over_themselves_and_a_served_copy_over_the_real_folder(tiny_model_dir, tmp_path):
    settings = GradeSettings(path=tmp_path, base_model=str(tiny_model_dir), sandbox="off")
    workers = RunWorkers(settings, get_plugin_manager(load_entry_points=False), tmp_path / "work")
    real = Path(os.path.realpath(tiny_model_dir))
    assert (real, real) in workers._binds({})
    binds = workers._binds({str(tiny_model_dir): tmp_path / "copy"})
    assert (tmp_path / "copy", real) in binds and (real, real) not in binds
    assert len(binds) == len(workers._binds({}))  # the same mounts, one with another source
    with pytest.raises(ValueError, match="'nobody/none' is neither a model this run serves"):
        workers._binds({"nobody/none": tmp_path / "copy"})


@pytest.mark.workers
@pytest.mark.skipif(not WORKS, reason=f"needs bubblewrap: {WHY}")
def test_a_sandboxed_worker_reads_a_served_copy_at_the_real_path_with_the_same_environment(tiny_model_dir,
                                                                                            tmp_path):
    served = copy_tree(tiny_model_dir, tmp_path / "served")
    (served / "config.json").write_text(json.dumps({"served": "copy"}))
    make_readable(tmp_path)
    settings = GradeSettings(path=tmp_path, base_model=str(tiny_model_dir), sandbox="required")
    workers = RunWorkers(settings, get_plugin_manager(load_entry_points=False), tmp_path / "work")
    payload = {"base": str(tiny_model_dir), "source": str(served)}
    real = workers.run(WorkerRequest("test_worker_copies:read_served", payload, 120))
    probe = workers.run(WorkerRequest("test_worker_copies:read_served", payload, 120,
                                      serve={str(tiny_model_dir): served}))
    assert real.ok and probe.ok, (real.reason, probe.reason)
    assert real.data["config"] == (tiny_model_dir / "config.json").read_text()
    assert json.loads(probe.data["config"]) == {"served": "copy"}
    assert probe.data["source_seen"] is False and probe.data["env"] == real.data["env"]


class _BrokenDetector:
    @hookimpl
    def grader_scan_part(self, check, outcome, context):
        raise TypeError("unexpected shape")


class _BrokenScan:
    @hookimpl
    def grader_scan_submission(self, submission):
        raise RuntimeError("scan broke")


def test_a_scan_of_the_hand_in_that_fails_is_a_grader_error_never_a_clean_hand_in(tmp_path):
    # a class run retries such a hand-in and then lists it as a grader error (test_class_grading)
    session = GradingSession(GradeSettings(path=SUBMISSIONS / "exits", parts=("cot",), sandbox="off"),
                             get_plugin_manager([_BrokenScan()], load_entry_points=False))
    try:
        with pytest.raises(RuntimeError, match="scan broke"):
            session.open()
    finally:
        session.close()


@pytest.mark.workers
def test_a_detector_that_fails_leaves_its_part_could_not_be_checked_in_every_writer():
    session = _session(SUBMISSIONS / "exits", None, plugins=[_BrokenDetector()], timeout=120)
    try:
        result = session.grade(session.selected[0])
        report = session.report()
    finally:
        session.close()
    [unchecked] = [f for f in result.findings if f.severity == "unchecked"]
    assert "failed in grader_scan_part: TypeError: unexpected shape" in unchecked.message
    assert result.integrity_status == UNCHECKED and result.points == 0
    [row] = [line for line in table_lines(report) if line.startswith("cot ")]
    assert "UNCHECKED" in row
    lines = integrity_lines(report)
    assert any(line.startswith("  UNCHECKED cot: grader: plugin") for line in lines)
    assert "  cot: integrity could not be checked (a detector failed; see UNCHECKED above)" in lines
    assert gradescope_results(report)["extra_data"]["integrity"] == {"cot": UNCHECKED}


def test_integrity_status_orders_flag_then_unchecked_then_warnings_and_the_class_outputs_list_unchecked():
    part = PartResult("cot", "CoT", 25)
    assert part.integrity_status == "clean"
    part.findings = [Finding("d", "w", severity="warn")]
    assert part.integrity_status == "warnings"
    part.findings.append(Finding("grader", "plugin x failed", part="cot", severity="unchecked"))
    assert part.integrity_status == UNCHECKED
    part.findings.append(Finding("d", "f"))
    assert part.integrity_status == "flagged"
    with pytest.raises(ValueError, match="Finding.severity must be one of flag, warn, unchecked"):
        Finding("d", "m", severity="info")
    report = {"findings": [{"part": "cot", "detector": "grader", "message": "plugin x failed",
                            "severity": "unchecked"}]}
    row = {"student_id": "s1", "name": "A", "key": "s1", "status": "graded", "total": 1, "max_total": 2,
           "extra": 0, "flags": "[]", "error": "", "report": json.dumps(report)}
    text = csv_text([row], [], [])
    assert "cot: could not be checked: grader: plugin x failed" in text

