"""Hostile hand-ins against the grader: each hole of an unprotected worker, closed.

Tests that need the sandbox skip with the reason where bubblewrap does not work; CI installs it
(Debian package ``bubblewrap``), so there they run.  The limits, the result cap, the refusals and
the report's text hold without it too.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import sysconfig
import threading
import zipfile
from pathlib import Path

import pytest

from grader_plugin import hookimpl
from grader_plugin.builtin.json_report import grader_write_report
from grader_plugin.builtin.profiles import COURSE
from grader_plugin.builtin.terminal_report import integrity_lines, table_lines
from grader_plugin.checks import Check, Profile
from grader_plugin.integrity import behaviour, replay
from grader_plugin.launch import sandbox as sandboxes
from grader_plugin.manager import get_plugin_manager
from grader_plugin.marking.asked import AskedAnswers
from grader_plugin.marking.graded_questions import AskedQuestion
from grader_plugin.results import GradeReport, PartResult, WorkerOutcome
from grader_plugin.session import GradingSession, GradingSetupError, grade_once
from grader_plugin.settings import GradeSettings
from unitconv.paths import cache_dir, data_dir

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "fixtures" / "hostile"
HONEST = ROOT / "fixtures" / "submissions" / "honest_tiny"
WORKS, WHY = sandboxes.probe()
needs_sandbox = pytest.mark.skipif(not WORKS, reason=f"needs bubblewrap: {WHY}")


def grade(path, parts, plugins=(), **overrides):
    settings = GradeSettings(path=Path(path), parts=tuple(parts), questions=4, **overrides)
    report = grade_once(settings, get_plugin_manager(plugins, load_entry_points=False))
    return report, {part.name: part for part in report.parts}


@pytest.mark.workers
@needs_sandbox
def test_a_worker_cannot_kill_or_freeze_the_grader():
    _, results = grade(HOSTILE / "kills_grader", ["cot"], sandbox="required")
    reason = results["cot"].reason
    assert "RuntimeError: SIGSTOP to the parent: PermissionError" in reason and "sent" not in reason


@pytest.mark.workers
@needs_sandbox
def test_no_process_outlives_its_worker():
    _, results = grade(HOSTILE / "leaves_daemon", ["cot"], sandbox="required")
    assert "RuntimeError: left a daemon behind" in results["cot"].reason
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"unitconv-hostile-daemon-token" in (entry / "cmdline").read_bytes():
                left.append(entry.name)
        except OSError:
            continue
    assert left == []


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@pytest.mark.workers
@needs_sandbox
def test_a_worker_cannot_change_what_grades_later_hand_ins():
    import grader_plugin

    watched = [Path(grader_plugin.__file__), data_dir() / "valid.json", ROOT / "conftest.py",
               Path(sysconfig.get_paths()["purelib"]) / "zz_hostile.pth", cache_dir() / "hostile.txt"]
    before = [_digest(p) for p in watched]
    _, results = grade(HOSTILE / "writes_everywhere", ["cot"], sandbox="required")
    assert results["cot"].points == 0 and "RuntimeError: wrote: nothing" in results["cot"].reason
    assert [_digest(p) for p in watched] == before


@pytest.mark.workers
@needs_sandbox
def test_a_worker_cannot_read_the_grader_the_answers_or_a_server_on_the_host():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 47613))
    server.listen()
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    try:
        _, results = grade(HOSTILE / "reads_secrets", ["cot"], sandbox="required")
    finally:
        server.close()
    assert results["cot"].points == 0 and "RuntimeError: read: nothing" in results["cot"].reason, results["cot"].reason


@pytest.mark.workers
@pytest.mark.parametrize("mode", ["off", pytest.param("required", marks=needs_sandbox)])
def test_a_worker_cannot_lift_its_limits(mode):
    _, results = grade(HOSTILE / "raises_limits", ["cot"], sandbox=mode)
    assert "RuntimeError: lifted: nothing" in results["cot"].reason


@pytest.mark.workers
def test_a_huge_result_is_refused_without_being_kept():
    _, results = grade(HOSTILE / "huge_result", ["cot"], sandbox="off")
    assert results["cot"].reason == "the worker's result is larger than the 64 MB a result may have"


@pytest.mark.workers
def test_texts_from_a_hand_in_cannot_forge_lines_of_the_report():
    report, results = grade(HOSTILE / "forged_lines", ["cot", "sft"], sandbox="off")
    lines = table_lines(report) + integrity_lines(report)
    assert len(table_lines(report)) == 1 + 2 + 1  # header, two parts, totals
    assert not any("\x1b" in line or "\r" in line or "\n" in line for line in lines)
    assert [line for line in lines if line.startswith(("sft  25/25", "total: 100"))] == []
    assert results["cot"].points == 0 and results["sft"].points == 0


class _SmallModels:
    @hookimpl
    def grader_register_profiles(self, register):
        register(Profile("small", "a 5M-parameter limit", bounds=COURSE.bounds, max_parameters=5_000_000))


@pytest.mark.workers
def test_a_model_kept_under_another_attribute_counts_towards_the_size_limit(tiny_model_dir):
    _, results = grade(HOSTILE / "hidden_model", ["cot"], plugins=[_SmallModels()], profile="small",
                       base_model=str(tiny_model_dir))
    cot = results["cot"]
    assert cot.points == 0
    assert cot.reason.startswith("model has 7.4M parameters, above the 5M limit"), cot.reason


# --- refusals ------------------------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, bytes], method=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _patch_headers(path: Path, member: str, local_offset: int, central_offset: int, value: int, size=2) -> None:
    """Set a field of ``member``'s local and central headers (offsets from each header's start)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            header_name = 30 if signature == b"PK\x03\x04" else 46
            if data[start + header_name:start + header_name + len(name)] == name:
                data[start + offset:start + offset + size] = struct.pack("<H" if size == 2 else "<I", value)
            start += 4
    path.write_bytes(bytes(data))


def _bad_crc(path: Path) -> Path:
    _zip(path, {"pkg/__init__.py": b"def load_cot():\n    return None\n"})
    data = path.read_bytes()
    path.write_bytes(data.replace(b"return None", b"return Nonf", 1))
    return path


def _corrupt_member(path: Path) -> Path:
    _zip(path, {"pkg/__init__.py": b"x = 1\n" * 400}, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    start = 30 + len("pkg/__init__.py")
    data[start + 2:start + 12] = b"\xff" * 10
    path.write_bytes(bytes(data))
    return path


def _clash(path: Path) -> Path:
    return _zip(path, {"pkg/__init__.py": b"", "pkg/mod": b"a file", "pkg/mod/inner.py": b"x = 1\n"})


def _encrypted(path: Path) -> Path:
    _zip(path, {"pkg/__init__.py": b"x = 1\n"})
    _patch_headers(path, "pkg/__init__.py", 6, 8, 1)
    return path


def _unknown_method(path: Path) -> Path:
    _zip(path, {"pkg/__init__.py": b"x = 1\n"})
    _patch_headers(path, "pkg/__init__.py", 8, 10, 99)
    return path


@pytest.mark.parametrize("build", [_bad_crc, _corrupt_member, _clash, _encrypted, _unknown_method])
def test_a_zip_that_cannot_be_extracted_is_refused_in_one_line(tmp_path, build):
    archive = build(tmp_path / "broken.zip")
    report, results = grade(archive, ["cot"], sandbox="off")
    assert "cannot be extracted" in report.refused and "make the zip again" in report.refused
    assert "\n" not in report.refused and str(tmp_path) not in report.refused.split(": member")[1]
    assert results["cot"].reason.startswith("not graded: submission refused")


@pytest.mark.workers
def test_bytecode_is_dropped_from_the_copy_and_a_bytecode_only_module_is_refused(tmp_path):
    shipped = _zip(tmp_path / "cached.zip", {"pkg/__init__.py": b"def load_cot():\n    raise RuntimeError('source')\n",
                                             "pkg/__pycache__/__init__.cpython-311.pyc": b"\x00" * 64})
    _, results = grade(shipped, ["cot"], sandbox="off")
    assert results["cot"].reason.startswith("RuntimeError: source")
    only = _zip(tmp_path / "only.zip", {"pkg/__init__.py": b"", "pkg/secret.pyc": b"\x00" * 64})
    report, _ = grade(only, ["cot"], sandbox="off")
    assert report.refused == "pkg/secret.pyc: a module handed in only as bytecode; hand in its .py source instead"


def test_a_report_that_cannot_be_written_where_asked_is_written_beside_it(tmp_path):
    asked = tmp_path / "results.json"
    asked.mkdir()
    lines = []
    report = GradeReport("pkg", "course", parts=[PartResult("cot", "CoT accuracy", 25)])
    grader_write_report(report, GradeSettings(path=tmp_path, json_path=asked), lines.append)
    assert (tmp_path / "results.grade.json").is_file()
    assert lines[0].startswith(f"warning: could not write {asked}") and "results.grade.json" in lines[0]


class _Context:
    """What the integrity detectors read of a context, for a part that asked two questions."""

    def asked_questions(self):
        return [AskedQuestion("How many m in 1 km?", 1000.0), AskedQuestion("How many g in 2 kg?", 2000.0, "x")]

    def asked_answers(self, outcome):
        return AskedAnswers.of(self.asked_questions(), outcome.data)


@pytest.mark.parametrize("data", [{"answers": ["1000", None]}, {"answers": [1000.0]}, "not a dict",
                                  {"answers": [1000.0, 2000.0], "prompts": 3, "raw": [1]}])
@pytest.mark.parametrize("detector", [behaviour, replay])
def test_a_malformed_worker_result_never_crashes_a_detector(detector, data):
    check = Check(name="cot", title="CoT", points=25, score=None, entry_point="cot", answers_questions=True)
    found = detector.grader_scan_part(check, WorkerOutcome("ok", data=data), _Context())
    if detector is replay and isinstance(data, dict) and len(data["answers"]) == 2:
        # well-formed answers, one right, and no model reported: nothing ties them to a model
        assert [f.detector for f in found] == ["replay: no model"]
        return
    assert found is None or all(f.severity == "warn" for f in found)


class _BrokenDetector:
    @hookimpl
    def grader_scan_part(self, check, outcome, context):
        raise TypeError("unexpected shape")


@pytest.mark.workers
def test_a_detector_that_fails_costs_a_warning_and_the_part_stays_in_the_report():
    report, results = grade(ROOT / "fixtures" / "submissions" / "exits", ["cot", "sft"], plugins=[_BrokenDetector()],
                             sandbox="off")
    assert [p.name for p in report.parts] == ["cot", "sft"]
    warned = [f for f in results["cot"].findings if f.detector == "grader"]
    assert warned and "failed in grader_scan_part: TypeError: unexpected shape" in warned[0].message


def test_required_sandbox_without_bubblewrap_refuses_to_grade(monkeypatch, tmp_path):
    monkeypatch.setattr(sandboxes.shutil, "which", lambda name: None)
    with pytest.raises(GradingSetupError, match="--grade-sandbox required: bubblewrap not found"):
        GradingSession(GradeSettings(path=tmp_path, sandbox="required"), get_plugin_manager(load_entry_points=False))
    chosen = sandboxes.choose("auto")
    assert chosen.kind == "none" and "hostile hand-ins are not protected" in chosen.describe()


@pytest.mark.workers
@needs_sandbox
def test_an_honest_grade_is_the_same_after_hostile_hand_ins(tiny_model_dir):
    def honest():
        _, results = grade(HONEST, ["cot"], base_model=str(tiny_model_dir), sandbox="required")
        return results["cot"].points, results["cot"].value, results["cot"].details[:3]

    baseline = honest()
    for name in ("writes_everywhere", "kills_grader", "leaves_daemon"):
        grade(HOSTILE / name, ["cot"], sandbox="required")
    assert honest() == baseline
    assert os.getpid() > 0  # the grader (this process) is still here


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="private folders stop only a worker uid: needs root")
def test_a_folder_inside_a_private_folder_inside_a_readable_one_stays_readable(tmp_path):
    """A checkout under /tmp whose tool folder is private (``.tox``, mode 700) holding the venv the worker runs."""
    import subprocess
    import sys

    project = tmp_path / "checkout"
    venv = project / ".tox" / "test"
    venv.mkdir(parents=True)
    (project / ".tox").chmod(0o700)
    (venv / "marker.txt").write_text("seen")
    (project / "module.txt").write_text("also seen")
    for folder in (tmp_path, project, venv):
        folder.chmod(0o755)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = f"print(open({str(venv / 'marker.txt')!r}).read(), open({str(project / 'module.txt')!r}).read())"
    command = sandboxes.bubblewrap_command([sys.executable, "-I", "-c", code], scratch=scratch,
                                           readable=[project, venv, Path(sys.prefix), Path(sys.base_prefix)],
                                           hidden=[], env={"PATH": "/usr/bin:/bin"}, uid=sandboxes.new_uid())
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "seen also seen"), done.stderr


@pytest.mark.workers
def test_a_hand_in_on_the_embedded_default_is_scored_on_the_model_the_grader_serves():
    """A worker's home is its scratch folder; the embedded model still resolves to the grader's own converted copy
    (a copy of its own would cost a conversion per worker and could not be scored by the grader)."""
    _, results = grade(HONEST, ["generate"])
    generate = results["generate"]  # 12 new tokens a prompt: likely text, a little short of full marks
    assert generate.measure == "loss" and generate.points >= 5, generate.reason
    assert "could not score" not in generate.reason and "/tmp/" not in generate.reason
