"""The ``workers`` marker is truthful: a test without it cannot start a grader worker, here or in a child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from no_workers.no_workers_guard import WorkerWithoutMarker, refusal_file

from grader_plugin.worker.bootstrap import BOOTSTRAP

WORKER = [sys.executable, "-I", "-B", "-c", BOOTSTRAP]


def _take_refusals() -> str:
    """What the guard noted for this test, cleared so that this test's own teardown stays clean."""
    refusals = Path(refusal_file())
    noted = refusals.read_text(encoding="utf-8") if refusals.exists() else ""
    refusals.unlink(missing_ok=True)
    return noted


def test_a_worker_started_in_the_test_process_is_refused_and_noted():
    with pytest.raises(WorkerWithoutMarker, match="not marked `workers`"):
        subprocess.Popen(WORKER, stdin=subprocess.PIPE)
    assert "not marked `workers`" in _take_refusals()


def test_a_worker_started_under_bubblewrap_is_refused_too():
    with pytest.raises(WorkerWithoutMarker):
        subprocess.Popen(["bwrap", "--ro-bind", "/", "/", "--", *WORKER])
    assert _take_refusals()


def test_a_worker_started_by_a_child_python_process_is_refused_and_noted():
    code = f"import subprocess; subprocess.Popen({WORKER!r})"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.returncode != 0 and "WorkerWithoutMarker" in ran.stderr
    assert f"pid {os.getpid()}:" not in (noted := _take_refusals()) and "not marked `workers`" in noted


def test_other_processes_start_as_usual():
    ran = subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True, timeout=120)
    assert ran.stdout == "ok\n" and _take_refusals() == ""


@pytest.mark.workers
def test_a_test_marked_workers_may_start_workers_and_so_may_its_child_processes():
    assert refusal_file() is None
    code = "from no_workers_guard import refusal_file; print(refusal_file())"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.stdout == "None\n", ran.stderr


@pytest.mark.workers
def test_a_grading_run_from_the_repository_root_is_no_test_and_may_start_workers(tiny_model_dir):
    """``python -m grader_plugin grade`` in the checkout loads this conftest too: its parts are no tests."""
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "grader_plugin", "grade", str(root / "fixtures" / "submissions" / "exits"),
               "-p", "no:cacheprovider", "--grade-parts", "cot", "--grade-questions", "2",
               "--grade-base-model", str(tiny_model_dir), "--grade-sandbox", "off"]
    ran = subprocess.run(command, capture_output=True, text=True, cwd=root, timeout=600)
    assert "WorkerWithoutMarker" not in ran.stdout + ran.stderr
    assert "exited with code 3" in ran.stdout  # the fixture's load_cot calls os._exit(3) in its worker
