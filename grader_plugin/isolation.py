"""Running one task in a worker process with a time limit, a memory limit and capped output (grader side).

The worker is a new interpreter (``subprocess``, fork followed by exec: nothing of the grader's
state is shared) in its own session, inside the run's sandbox (:mod:`grader_plugin.sandbox`),
with limits it cannot raise and an environment built from an allow-list.  A timeout or an output
flood kills it and everything it started.  Its output is read in a thread; past the cap the
worker is killed, since a part that prints megabytes is broken and would otherwise fill the
grader's memory or disk.  Its result file is read with a size cap and checked field by field:
nothing the worker writes can crash the grader or vanish from the report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader_plugin import sandbox as sandboxes
from grader_plugin.results import WorkerOutcome
from grader_plugin.worker.bootstrap import BOOTSTRAP

KEEP_BYTES = 4000
MAX_RESULT_BYTES = 64_000_000
STATUSES = ("ok", "missing", "error", "memory")
"""What a worker's result file may say; ``timeout``, ``exited`` and ``flood`` are the grader's own."""


class _OutputReader(threading.Thread):
    """Reads the worker's output, keeping its start and end, and kills it past ``cap`` bytes."""

    def __init__(self, process: subprocess.Popen, cap: int):
        super().__init__(daemon=True)
        self.process, self.cap = process, cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.flooded = False

    def run(self) -> None:
        stream = self.process.stdout
        while chunk := stream.read1(65536):
            self.total += len(chunk)
            if len(self.head) < KEEP_BYTES:
                self.head += chunk[: KEEP_BYTES - len(self.head)]
            self.tail = (self.tail + chunk)[-KEEP_BYTES:]
            if self.total > self.cap and not self.flooded:
                self.flooded = True
                _kill(self.process)

    def text(self) -> str:
        if self.total <= len(self.head):
            return self.head.decode(errors="replace")
        return (
            self.head.decode(errors="replace")
            + f"\n[... {self.total} bytes in all ...]\n"
            + self.tail.decode(errors="replace")
        )


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_result(path: Path, memory_mb: int, output: str, seconds: float) -> WorkerOutcome:
    """The worker's result file as an outcome; a file too large, unreadable or of the wrong shape is an error."""
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        why = f"the worker's result is {size / 1e6:.0f} MB, more than the {MAX_RESULT_BYTES / 1e6:.0f} MB it may have"
        return WorkerOutcome("error", why, output=output, seconds=seconds)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return WorkerOutcome("error", f"the worker's result is not JSON ({type(error).__name__})",
                             output=output, seconds=seconds)
    if not isinstance(result, dict) or result.get("status") not in STATUSES:
        return WorkerOutcome("error", "the worker's result has no known status", output=output, seconds=seconds)
    reason = result.get("reason") if isinstance(result.get("reason"), str) else ""
    if result["status"] == "memory":
        reason = f"ran out of memory (limit {memory_mb} MB): {reason}"
    entry_point, parameters = result.get("entry_point"), result.get("num_parameters")
    integrity, models = result.get("integrity"), result.get("models")
    return WorkerOutcome(
        result["status"],
        reason,
        result.get("data"),
        entry_point if isinstance(entry_point, str) else None,
        parameters if isinstance(parameters, int) and not isinstance(parameters, bool) else None,
        output,
        seconds,
        integrity if isinstance(integrity, dict) else None,
        [m for m in models if isinstance(m, dict)] if isinstance(models, list) else [],
    )


def run_task(
    task: str,
    payload: dict,
    *,
    package: str | None = None,
    parent: Path | None = None,
    candidates: list[str] | None = None,
    timeout: float = 120.0,
    memory_mb: int = 0,
    output_bytes: int = 1_000_000,
    env: dict[str, str] | None = None,
    sandbox: sandboxes.Sandbox | None = None,
    readable: tuple[Path, ...] = (),
    hidden: tuple[Path, ...] = (),
    own_uid: bool = True,
) -> WorkerOutcome:
    """Run ``task(model, payload)`` in a worker; ``model`` comes from the first existing candidate.

    ``sandbox`` is how workers run (none by default); ``readable`` and ``hidden`` are the folders
    a sandboxed worker must read and must not see (besides Python and its own scratch folder);
    ``own_uid``: a grader running as root gives the worker a uid of its own (False when a folder it
    must read is readable by its owner only).
    """
    sandbox = sandbox or sandboxes.Sandbox("none", "no sandbox asked for")
    scratch = Path(tempfile.mkdtemp(prefix="unitconv-worker-"))
    try:
        uid = sandboxes.new_uid() if sandbox.kind == "bubblewrap" and own_uid and os.geteuid() == 0 else None
        return _run(task, payload, package, parent, candidates, timeout, memory_mb, output_bytes, env or {},
                    sandbox, readable, hidden, scratch, uid)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(task, payload, package, parent, candidates, timeout, memory_mb, output_bytes, env, sandbox,
         readable, hidden, scratch: Path, uid: int | None) -> WorkerOutcome:
    result_path = scratch / "result.json"
    sys_path = [p for p in sys.path if p and Path(p).resolve() != Path.cwd().resolve()]
    job = {
        "task": task,
        "payload": payload,
        "package": package,
        "parent": str(parent) if parent else None,
        "candidates": candidates or [],
        "result_path": str(result_path),
        "sys_path": sys_path,
    }
    job_path = scratch / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    bubblewrap = sandbox.kind == "bubblewrap"
    if uid is not None:
        os.chown(scratch, uid, uid)
    command = [sys.executable, "-I", "-B", "-c", BOOTSTRAP, str(job_path)]
    environment = sandboxes.worker_environment(env, scratch, uid)
    if bubblewrap:
        needed = [*readable, *sys_path, sys.prefix, sys.base_prefix, sys.exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable)), *([parent] if parent else [])]
        command = sandboxes.bubblewrap_command(command, scratch=scratch, readable=[Path(p) for p in needed],
                                               hidden=list(hidden), env=environment, uid=uid)
        environment = {"PATH": environment["PATH"]}
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=scratch,
        env=environment,
        start_new_session=True,
        preexec_fn=sandboxes.hard_limits(memory_mb),
    )
    reader = _OutputReader(process, output_bytes)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(process)
        process.wait()
    _kill(process)  # anything the worker left running in its session
    reader.join(timeout=5)
    seconds = time.perf_counter() - started
    output = reader.text()
    if reader.flooded:
        return WorkerOutcome("flood", f"printed more than {output_bytes // 1000} kB of output",
                             output=output, seconds=seconds)
    if timed_out:
        return WorkerOutcome("timeout", f"did not finish within the {timeout:g} s time limit",
                             output=output, seconds=seconds)
    if result_path.is_file() and not result_path.is_symlink():
        return _read_result(result_path, memory_mb, output, seconds)
    code = process.returncode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return WorkerOutcome("exited", f"the worker {how} before reporting a result (os._exit or a crash)",
                         output=output, seconds=seconds)
