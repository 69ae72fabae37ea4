"""Refuse to start a grader worker process while a test that is not marked ``workers`` runs.

A worker is the fresh interpreter ``grader_plugin.launch.isolation`` starts, directly or under
bubblewrap: its command line carries ``grader_plugin.worker.bootstrap.BOOTSTRAP``.  The guard
wraps ``subprocess.Popen.__init__``: a worker command raises :class:`WorkerWithoutMarker` and is
noted in the running test's refusal file, which the test's teardown reads, so a worker start that
some code caught and turned into an outcome still fails the test.

Which test runs is written in one state file for the whole test session, named by
:data:`STATE_VARIABLE`: the refusal file of the running test, or nothing while a test marked
``workers`` runs.  Child Python processes (a pytester subprocess, ``python -m grader_plugin
grade``, Ray's workers) install the same guard from this folder's ``sitecustomize`` and read the
same state file when they start a worker, so a process that outlives one test follows the next.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

STATE_VARIABLE = "UNITCONV_TEST_NO_WORKERS"
"""Names the state file; set for the whole test session."""


class WorkerWithoutMarker(RuntimeError):
    """A test not marked ``workers`` tried to start a grader worker."""


def is_worker_command(args) -> bool:
    """Whether a ``Popen`` command line starts a grader worker (its ``-c`` program is the bootstrap)."""
    if isinstance(args, (str, bytes, os.PathLike)):
        return False
    parts = [os.fsdecode(part) if isinstance(part, (bytes, os.PathLike)) else str(part) for part in args]
    if "-c" not in parts:
        return False
    try:
        from grader_plugin.worker.bootstrap import BOOTSTRAP
    except ModuleNotFoundError as missing:  # a Python without the grader starts no grader worker
        if missing.name == "grader_plugin":
            return False
        raise
    return BOOTSTRAP in parts


def refusal_file() -> str | None:
    """The running test's refusal file, or None while a test marked ``workers`` (or none) runs."""
    state = os.environ.get(STATE_VARIABLE)
    if not state:
        return None
    return Path(state).read_text(encoding="utf-8").strip() or None


def set_running(state: Path, refusals: Path | None) -> None:
    """Say which refusal file the running test has (None: the running test may start workers)."""
    state.write_text(str(refusals) if refusals else "", encoding="utf-8")


def guarded_init(original):
    """A ``Popen.__init__`` that refuses worker commands while an unmarked test runs, and notes them."""

    def __init__(self, args, *rest, **options):
        refusals = refusal_file() if is_worker_command(args) else None
        if refusals:
            message = "started a grader worker in a test not marked `workers` (add @pytest.mark.workers)"
            with open(refusals, "a", encoding="utf-8") as noted:
                noted.write(f"pid {os.getpid()}: {message}\n")
            raise WorkerWithoutMarker(message)
        original(self, args, *rest, **options)

    return __init__


def install_for_process() -> None:
    """Install the guard for the rest of this process when it runs under the test session."""
    if os.environ.get(STATE_VARIABLE):
        subprocess.Popen.__init__ = guarded_init(subprocess.Popen.__init__)
