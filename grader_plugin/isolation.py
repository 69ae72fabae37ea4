"""Running one task in a worker process with a time limit, a memory limit and capped output (grader side).

The worker is a new interpreter (``subprocess``, fork followed by exec: nothing of the grader's
state is shared) in its own session, inside the run's sandbox (:mod:`grader_plugin.sandbox`),
with limits it cannot raise and an environment built from an allow-list.  A timeout or an output
flood kills it and everything it started.  Its output is read in a thread; past the cap the
worker is killed, since a part that prints megabytes is broken and would otherwise fill the
grader's memory or disk.  Its result is read with a size cap and checked field by field:
nothing the worker writes can crash the grader or vanish from the report.  The job goes to the
worker on its standard input; the result comes back over a pipe, as exactly one framed message
carrying a one-time token (:func:`parse_result`); a worker that leaves without one scores 0.
"""

from __future__ import annotations

import json
import os
import secrets
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
from grader_plugin.worker.bootstrap import BOOTSTRAP, MAGIC
from grader_plugin.worker.progress import PHASES, RECORD

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


class _ProgressReader(threading.Thread):
    """Reads the worker's progress records (three integers each) and passes them on as they come."""

    def __init__(self, fd: int, callback):
        super().__init__(daemon=True)
        self.fd, self.callback = fd, callback

    def run(self) -> None:
        size, pending = RECORD.size, b""
        with os.fdopen(self.fd, "rb", buffering=0) as stream:
            while chunk := stream.read(4096):
                pending += chunk
                while len(pending) >= size:
                    phase, done, total = RECORD.unpack(pending[:size])
                    pending = pending[size:]
                    if self.callback is not None:
                        try:
                            self.callback(PHASES.get(phase, "working"), max(done, 0), max(total, 0))
                        except Exception:  # noqa: BLE001 - a display problem must not stop grading
                            pass


class _ResultReader(threading.Thread):
    """Reads the worker's result channel, up to :data:`MAX_RESULT_BYTES` and a little more."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd, self.data, self.overflow = fd, bytearray(), False

    def run(self) -> None:
        with os.fdopen(self.fd, "rb", buffering=0) as stream:
            while chunk := stream.read(1 << 20):
                if len(self.data) + len(chunk) > MAX_RESULT_BYTES + 4096:
                    self.overflow = True
                    continue  # keep draining so the worker is never blocked writing
                self.data += chunk


def parse_result(data: bytes, token: str) -> tuple[dict | None, str]:
    """The one result a channel carried (framed, with the run's token), or why there is none."""
    header, newline, body = bytes(data).partition(b"\n")
    parts = header.split(b" ")
    if not newline or len(parts) != 3 or parts[0] != MAGIC:
        return None, "the worker's result channel did not carry a result"
    if parts[1] != token.encode():
        return None, "the worker's result carried the wrong token (it was not sent by the grader's worker code)"
    if not parts[2].isdigit() or int(parts[2]) != len(body):
        return None, "the worker's result channel carried something other than exactly one result"
    try:
        result = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return None, f"the worker's result is not JSON ({type(error).__name__})"
    if not isinstance(result, dict) or result.get("status") not in STATUSES:
        return None, "the worker's result has no known status"
    return result, ""


def _outcome(result: dict, memory_mb: int, output: str, seconds: float) -> WorkerOutcome:
    """A checked result as an outcome: every field of the wrong type is left out."""
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
    writable: tuple[Path, ...] = (),
    progress=None,
) -> WorkerOutcome:
    """Run ``task(model, payload)`` in a worker; ``model`` comes from the first existing candidate.

    ``sandbox`` is how workers run (none by default); ``readable`` and ``hidden`` are the folders
    a sandboxed worker must read and must not see (besides Python and its own scratch folder);
    ``own_uid``: a grader running as root gives the worker a uid of its own (False when a folder it
    must read is readable by its owner only); ``writable``: folders a trusted worker may write;
    ``progress(phase, done, total)`` is called with the worker's progress records as they come.
    """
    sandbox = sandbox or sandboxes.Sandbox("none", "no sandbox asked for")
    scratch = Path(tempfile.mkdtemp(prefix="unitconv-worker-"))
    try:
        uid = sandboxes.new_uid() if sandbox.kind == "bubblewrap" and own_uid and os.geteuid() == 0 else None
        return _run(task, payload, package, parent, candidates, timeout, memory_mb, output_bytes, env or {},
                    sandbox, readable, hidden, scratch, uid, writable, progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _give(folder: Path, uid: int) -> None:
    """Make ``folder`` and everything in it the worker's own (links themselves, never their targets)."""
    os.chown(folder, uid, uid, follow_symlinks=False)
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def _run(task, payload, package, parent, candidates, timeout, memory_mb, output_bytes, env, sandbox,
         readable, hidden, scratch: Path, uid: int | None, writable=(), progress=None) -> WorkerOutcome:
    sys_path = [p for p in sys.path if p and Path(p).resolve() != Path.cwd().resolve()]
    read_fd, write_fd = os.pipe()
    progress_read, progress_write = os.pipe()
    token = secrets.token_hex(16)
    job = {
        "task": task,
        "payload": payload,
        "package": package,
        "parent": str(parent) if parent else None,
        "candidates": candidates or [],
        "result_fd": write_fd,
        "progress_fd": progress_write,
        "token": token,
        "sys_path": sys_path,
    }
    bubblewrap = sandbox.kind == "bubblewrap"
    if uid is not None:
        os.chown(scratch, uid, uid)
        for folder in writable:
            _give(folder, uid)
    command = [sys.executable, "-I", "-B", "-c", BOOTSTRAP]
    environment = sandboxes.worker_environment(env, scratch, uid)
    if bubblewrap:
        needed = [*readable, *sys_path, sys.prefix, sys.base_prefix, sys.exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable)), *([parent] if parent else [])]
        command = sandboxes.bubblewrap_command(command, scratch=scratch, readable=[Path(p) for p in needed],
                                               hidden=list(hidden), env=environment, uid=uid,
                                               writable=[Path(p) for p in writable])
        environment = {"PATH": environment["PATH"]}
    started = time.perf_counter()
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=scratch,
            env=environment,
            start_new_session=True,
            pass_fds=(write_fd, progress_write),
            preexec_fn=sandboxes.hard_limits(memory_mb),
        )
    finally:
        os.close(write_fd)
        os.close(progress_write)
    results = _ResultReader(read_fd)
    results.start()
    progress_reader = _ProgressReader(progress_read, progress)
    progress_reader.start()
    reader = _OutputReader(process, output_bytes)
    reader.start()
    try:
        process.stdin.write(json.dumps(job).encode() + b"\n")
        process.stdin.close()
    except OSError:
        pass  # the worker is already gone; what it left says why
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(process)
        process.wait()
    _kill(process)  # anything the worker left running in its session
    reader.join(timeout=5)
    results.join(timeout=5)
    progress_reader.join(timeout=5)
    seconds = time.perf_counter() - started
    output = reader.text()
    if reader.flooded:
        return WorkerOutcome("flood", f"printed more than {output_bytes // 1000} kB of output",
                             output=output, seconds=seconds)
    if timed_out:
        return WorkerOutcome("timeout", f"did not finish within the {timeout:g} s time limit",
                             output=output, seconds=seconds)
    if results.overflow:
        why = f"the worker's result is larger than the {MAX_RESULT_BYTES / 1e6:.0f} MB a result may have"
        return WorkerOutcome("error", why, output=output, seconds=seconds)
    if results.data:
        result, problem = parse_result(results.data, token)
        if result is None:
            return WorkerOutcome("error", problem, output=output, seconds=seconds)
        return _outcome(result, memory_mb, output, seconds)
    code = process.returncode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return WorkerOutcome("exited", f"the worker {how} before reporting a result (os._exit or a crash)",
                         output=output, seconds=seconds)
