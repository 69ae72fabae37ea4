"""Grading a whole class: finding hand-ins, the SQLite record, resuming, grader errors, exports, Ray.

The tests that grade run a local Ray instance with 2 CPUs over small fixture hand-ins on the tiny
model, grading only fast parts (``bundle_size``, and ``cot`` or ``generate`` on 2 questions).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from grader_plugin.builtin.json_report import gradescope_results
from grader_plugin.classroom import exports
from grader_plugin.classroom.handins import HandIn, content_hash, discover, pack, unpack
from grader_plugin.classroom.records import flags, report_data, report_from_data
from grader_plugin.classroom.store import ResultStore, Stamp
from grader_plugin.manager import get_plugin_manager
from grader_plugin.results import Finding, GradeReport, PartResult
from grader_plugin.session import grade_once
from grader_plugin.settings import GradeSettings

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "fixtures" / "submissions"
EXPORT = ROOT / "fixtures" / "class" / "gradescope_export"
MISSING = [name for name in ("ray", "matplotlib", "yaml") if importlib.util.find_spec(name) is None]
needs_class_extra = pytest.mark.skipif(
    bool(MISSING), reason=f"needs {', '.join(MISSING)}: pip install 'unitconv-grader[class]'")


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*.py")):
            archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return target


def make_class(root: Path) -> Path:
    """alice: a student folder holding a package; bob: a zip; carol: the package folder itself."""
    handins = root / "handins"
    (handins / "alice").mkdir(parents=True)
    shutil.copytree(SUBMISSIONS / "honest_tiny", handins / "alice" / "honest_tiny")
    zip_folder(SUBMISSIONS / "missing_part", handins / "bob.zip")
    shutil.copytree(SUBMISSIONS / "crash_on_import", handins / "carol")
    return handins


def single(path: Path, settings: GradeSettings) -> GradeReport:
    """The report single grading gives the hand-in at ``path``."""
    return grade_once(replace(settings, path=path), get_plugin_manager())


def a_report(points: float = 7, flagged: bool = False) -> GradeReport:
    part = PartResult("cot", "CoT accuracy", 25, points=points, measure="accuracy", value=0.3, reason="below",
                      seconds=2.5, output="x" * 5000)
    rule = PartResult("bundle_size", "bundle size", 0, reason="passes", value=0.01)
    found = [Finding("static_scan", "reads valid.json", part="cot", evidence="open('valid.json')", file="cot.py",
                     line=3)] if flagged else []
    part.findings = list(found)
    return GradeReport("homework", "course", [part, rule], found, execution_time=4.0, graded_by={"grader": "g 1"})


# finding hand-ins ---------------------------------------------------------------------------------
def test_plain_layout_finds_zips_student_folders_and_package_folders_and_names_what_it_cannot_grade(tmp_path):
    handins = make_class(tmp_path)
    (handins / "dave").mkdir()
    (handins / "roster.csv").write_text("id\n")
    (handins / ".DS_Store").write_text("")
    found = {h.key: h for h in discover(handins)}
    assert sorted(found) == ["alice", "bob", "carol", "dave", "roster.csv"]
    assert found["alice"].path == handins / "alice" / "honest_tiny"
    assert found["bob"].path == handins / "bob.zip" and found["bob"].student_id == "bob"
    assert found["carol"].path == handins / "carol"
    assert found["dave"].problem == ("dave: no package folder (with __init__.py) or zip inside; hand in the zip "
                                     "made by python -m grader_plugin bundle")
    assert found["roster.csv"].problem.startswith("roster.csv: neither a zip nor a folder")
    assert found["bob"].content_hash == hashlib.sha256((handins / "bob.zip").read_bytes()).hexdigest()


def test_two_hand_ins_of_one_student_are_named_not_guessed(tmp_path):
    student = tmp_path / "handins" / "erin"
    shutil.copytree(SUBMISSIONS / "exits", student / "exits")
    zip_folder(SUBMISSIONS / "exits", student / "old.zip")
    shutil.copytree(SUBMISSIONS / "exits", tmp_path / "handins" / "frank")
    zip_folder(SUBMISSIONS / "exits", tmp_path / "handins" / "frank.zip")
    erin, frank = discover(tmp_path / "handins")
    assert (erin.path, frank.path) == (None, None)
    assert erin.problem == "erin: 2 packages or zips inside (exits, old.zip); keep exactly one"
    assert frank.problem == "frank: both frank/ and frank.zip are there; keep one"


@pytest.mark.skipif(importlib.util.find_spec("yaml") is None,
                    reason="needs pyyaml: pip install 'unitconv-grader[class]'")
def test_gradescope_export_gives_names_and_ids_and_finds_the_package_in_each_submission():
    found = {h.key: h for h in discover(EXPORT)}
    assert sorted(found) == [f"submission_24681000{i}" for i in range(1, 5)]
    ada = found["submission_246810001"]
    assert (ada.student_id, ada.name) == ("1815001", "Ada Lovelace")
    assert ada.path == EXPORT / "submission_246810001" / "homework"
    assert found["submission_246810002"].path == EXPORT / "submission_246810002" / "homework"  # README beside it
    group = found["submission_246810003"]
    assert (group.student_id, group.name) == ("1815003;1815004", "Grace Hopper & Edsger Dijkstra")
    assert found["submission_246810004"].problem.startswith("submission_246810004: no package folder")


def test_content_hash_follows_the_files_and_not_caches_or_times(tmp_path):
    folder = shutil.copytree(SUBMISSIONS / "missing_part", tmp_path / "pkg")
    before = content_hash(folder)
    assert content_hash(shutil.copytree(folder, tmp_path / "copy" / "pkg")) == before
    (folder / "__pycache__").mkdir(exist_ok=True)
    (folder / "__pycache__" / "x.pyc").write_bytes(b"\0")
    os.utime(folder / "__init__.py", (1, 1))
    assert content_hash(folder) == before
    (folder / "__init__.py").write_text((folder / "__init__.py").read_text() + "\n")
    assert content_hash(folder) != before
    (folder / "__init__.py").rename(folder / "other.py")
    assert content_hash(folder) not in (before, content_hash(tmp_path / "copy" / "pkg"))


def test_a_packed_hand_in_comes_back_with_the_same_content(tmp_path):
    folder = SUBMISSIONS / "declared_entry_points"
    archive = zip_folder(folder, tmp_path / "x.zip")
    for path in (folder, archive):
        kind, blob = pack(path)
        copy = unpack(kind, blob, path.name, tmp_path / f"node-{kind}")
        assert copy.name == path.name
        assert content_hash(copy) == content_hash(path)


# the record ---------------------------------------------------------------------------------------
def test_store_commits_each_hand_in_and_says_which_need_grading_again(tmp_path):
    store = ResultStore(tmp_path / "grades.sqlite")
    stamp = Stamp("unitconv-grader 0.1.0", "course", "k1")
    alice = HandIn("alice", "alice", "Alice", tmp_path / "alice.zip", "h1")
    assert store.stale_reason(alice, stamp) == "new"
    report = a_report()
    store.record_graded(alice, stamp, report_data(report), flags(report), seconds=3.0, node="n1")
    # another connection (a later run, after this one was killed) sees the committed row
    other = sqlite3.connect(tmp_path / "grades.sqlite")
    assert other.execute("SELECT part, points, value, reason, seconds, grader_version, profile, content_hash "
                         "FROM parts WHERE key = 'alice' ORDER BY position").fetchall() == [
        ("cot", 7.0, 0.3, "below", 2.5, "unitconv-grader 0.1.0", "course", "h1"),
        ("bundle_size", 0.0, 0.01, "passes", 0.0, "unitconv-grader 0.1.0", "course", "h1")]
    other.close()
    assert store.stale_reason(alice, stamp) is None
    assert store.stale_reason(HandIn("alice", "alice", path=alice.path, content_hash="h2"), stamp) == "changed"
    assert store.stale_reason(alice, Stamp("unitconv-grader 0.2.0", "course", "k1")) == "other grader version"
    assert store.stale_reason(alice, Stamp("unitconv-grader 0.1.0", "strict", "k1")) == "other profile"
    assert store.stale_reason(alice, Stamp("unitconv-grader 0.1.0", "course", "k2")) == "other grading setup"
    store.record_error(alice, stamp, "grader error after 2 attempts: boom")
    assert store.stale_reason(alice, stamp) == "error before"
    assert store.parts(["alice"]) == []  # an error keeps no stale part rows
    store.close()


def test_stored_report_rebuilds_the_same_gradescope_results():
    report = a_report(flagged=True)
    again = report_from_data(json.loads(json.dumps(report_data(report))))
    assert gradescope_results(again) == gradescope_results(report)
    assert again.parts[0].findings == report.findings
    assert len(again.parts[0].output) == 2000
    assert flags(report) == ["cot: static_scan: reads valid.json"]


def test_csv_keeps_student_text_from_running_as_a_formula(tmp_path):
    store = ResultStore(tmp_path / "grades.sqlite")
    stamp = Stamp("g", "course", "k")
    student = HandIn("s1", "=1+1", '@SUM(A1) "Bobby"', tmp_path / "s1.zip", "h")
    report = a_report()
    store.record_graded(student, stamp, report_data(report), flags(report), seconds=1.0)
    rows = list(csv.DictReader(io.StringIO(exports.csv_text(store.handins(), store.parts(), ["cot", "bundle_size"]))))
    assert rows == [{"student_id": "'=1+1", "name": '\'@SUM(A1) "Bobby"', "submission": "s1", "status": "graded",
                     "total": "7", "max_total": "25", "extra": "0", "cot": "7", "bundle_size": "pass", "flags": "",
                     "error": ""}]
    store.close()


# grading on Ray -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs for the tests of this module, shut down after them."""
    if MISSING:
        pytest.skip(f"needs {', '.join(MISSING)}: pip install 'unitconv-grader[class]'")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def run(handins: Path, out: Path, settings: GradeSettings, **options):
    from grader_plugin.classroom.driver import ClassOptions, run_class

    plugins = options.pop("plugins", ())
    return run_class(handins, out, settings, ClassOptions(**options), plugins, stream=io.StringIO())


@pytest.mark.workers
@needs_class_extra
def test_class_run_stopped_halfway_resumes_and_grades_as_single_grading_does(tmp_path, local_ray, tiny_model_dir):
    handins, out = make_class(tmp_path), tmp_path / "results"
    settings = GradeSettings(path=tmp_path, parts=("bundle_size", "cot"), questions=2, base_model=str(tiny_model_dir))
    first = run(handins, out, settings, limit=1)  # the run stops after one hand-in, as if killed
    assert (first.graded, first.left) == (["alice"], 2)
    second = run(handins, out, settings)
    assert (sorted(second.graded), second.up_to_date, second.errors) == (["bob", "carol"], 1, [])
    third = run(handins, out, settings)
    assert (third.graded, third.up_to_date) == ([], 3)

    store = ResultStore(out / "grades.sqlite")
    rows = {(r["key"], r["part"]): r for r in store.parts()}
    assert [r["key"] for r in store.handins()] == ["alice", "bob", "carol"]
    for key, path in (("alice", handins / "alice" / "honest_tiny"), ("bob", handins / "bob.zip"),
                      ("carol", handins / "carol")):
        expected = single(path, settings)
        for part in expected.parts:
            row = rows[(key, part.name)]
            assert (row["points"], row["value"], row["reason"]) == (part.points, part.value, part.reason), key
        written = json.loads(exports.results_path(out, key).read_text())
        assert [(t["name"], t["score"], t["status"]) for t in written["tests"]] == [
            (t["name"], t["score"], t["status"]) for t in gradescope_results(expected)["tests"]]
    store.close()
    grades = list(csv.DictReader((out / "grades.csv").open()))
    assert [(g["student_id"], g["total"], g["bundle_size"], g["cot"]) for g in grades] == [
        ("alice", "0", "pass", "0"), ("bob", "0", "pass", "0"), ("carol", "0", "pass", "0")]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "carol/__init__.py:3" in page


FAULTS = '''
import os
from pathlib import Path

from grader_plugin import hookimpl

ATTEMPTS = Path({attempts!r})


@hookimpl
def grader_scan_submission(submission):
    with ATTEMPTS.open("a") as log:
        log.write(submission.package + "\\n")
    if submission.package == "raises":
        raise RuntimeError("the grader broke on purpose")
    if submission.package == "dies":
        os._exit(3)  # the task's process dies, as on a lost node
    if submission.package == "flaky" and ATTEMPTS.read_text().count("flaky") == 1:
        raise RuntimeError("a passing fault")
    return []
'''


@needs_class_extra
def test_a_hand_in_that_breaks_the_grader_twice_is_an_error_and_the_class_goes_on(tmp_path, local_ray):
    handins, out = tmp_path / "handins", tmp_path / "results"
    for name in ("dies", "fine", "flaky", "raises"):
        shutil.copytree(SUBMISSIONS / "missing_part", handins / name)
    plugin = tmp_path / "class_faults.py"
    plugin.write_text(FAULTS.format(attempts=str(tmp_path / "attempts.log")))
    summary = run(handins, out, GradeSettings(path=tmp_path, parts=("bundle_size",)), plugins=(plugin,))
    assert (sorted(summary.graded), sorted(summary.errors)) == (["fine", "flaky"], ["dies", "raises"])
    attempts = (tmp_path / "attempts.log").read_text().split()
    assert {name: attempts.count(name) for name in set(attempts)} == {"dies": 2, "fine": 1, "flaky": 2, "raises": 2}
    store = ResultStore(out / "grades.sqlite")
    reasons = {r["key"]: r["error"] for r in store.handins() if r["status"] == "error"}
    store.close()
    line = FAULTS.splitlines().index('        raise RuntimeError("the grader broke on purpose")') + 1
    assert reasons["raises"] == ("grader error after 2 attempts: RuntimeError: the grader broke on purpose "
                                 f"(class_faults.py:{line})")
    assert reasons["dies"].startswith("grader error after 2 attempts: WorkerCrashedError: ")
    assert not exports.results_path(out, "raises").exists() and exports.results_path(out, "flaky").exists()
    grades = {g["student_id"]: g for g in csv.DictReader((out / "grades.csv").open())}
    assert grades["raises"]["status"] == "error" and grades["raises"]["error"] == reasons["raises"]
    assert "Grader errors (2)" in (out / "report.html").read_text()


@needs_class_extra
def test_gradescope_export_is_graded_under_the_students_names_and_ids(tmp_path, local_ray):
    summary = run(EXPORT, tmp_path / "results", GradeSettings(path=tmp_path, parts=("bundle_size",)))
    assert summary.errors == ["submission_246810004"]
    grades = [(g["student_id"], g["name"], g["status"], g["bundle_size"])
              for g in csv.DictReader((tmp_path / "results" / "grades.csv").open())]
    assert grades == [("1815001", "Ada Lovelace", "graded", "pass"), ("1815002", "Alan Turing", "graded", "pass"),
                      ("1815003;1815004", "Grace Hopper & Edsger Dijkstra", "graded", "pass"),
                      ("1815005", "Barbara Liskov", "error", "")]


@pytest.mark.workers
@needs_class_extra
def test_generation_anchors_are_computed_once_and_shared_with_later_hand_ins(tmp_path, local_ray, tiny_model_dir):
    handins = tmp_path / "handins"
    shutil.copytree(SUBMISSIONS / "honest_tiny", handins / "ann" / "honest_tiny")
    zip_folder(SUBMISSIONS / "honest_tiny", handins / "ben.zip")
    settings = GradeSettings(path=tmp_path, parts=("generate",), questions=2, base_model=str(tiny_model_dir))
    summary = run(handins, tmp_path / "results", settings)
    first, second = summary.graded  # the first is graded alone and computes the anchors
    assert (summary.reused[first], summary.reused[second]) == (0, 1)
    store = ResultStore(tmp_path / "results" / "grades.sqlite")
    ann, ben = ((r["points"], r["value"]) for r in store.parts())
    store.close()
    assert ann == ben and ann[0] == 10


@needs_class_extra
def test_command_line_and_pytest_options_refuse_a_bad_class_run_in_one_line(tmp_path):
    handins = make_class(tmp_path)
    command = [sys.executable, "-m", "grader_plugin", "grade-class", str(handins), "--out", str(tmp_path / "r"),
               "--grade-parts", "cots"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 4
    assert "--grade-parts: 'cots' is not a part (did you mean 'cot'?)" in done.stderr
    no_out = subprocess.run([sys.executable, "-m", "pytest", f"--grade-class={handins}"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert no_out.returncode == 4 and "--grade-class needs --grade-class-out DIR" in no_out.stderr


@needs_class_extra
def test_command_line_grades_a_class_on_its_own_local_ray(tmp_path):
    handins = make_class(tmp_path)
    command = [sys.executable, "-m", "grader_plugin", "grade-class", str(handins), "--out", str(tmp_path / "r"),
               "--grade-parts", "bundle_size"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 hand-ins: 3 graded, 0 errors, 0 up to date, 0 left for a later run" in done.stdout
    assert "[3/3] " in done.stderr  # the progress lines (no terminal here)
    assert {"grades.csv", "grades.sqlite", "report.html", "results"} <= {p.name for p in (tmp_path / "r").iterdir()}
    assert len(list((tmp_path / "r" / "results").glob("*/results.json"))) == 3
