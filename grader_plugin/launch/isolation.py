"""Running one task in a worker process with a time limit, a memory limit and capped output (grader side).

The worker is a new interpreter (``subprocess``, fork followed by exec: nothing of the grader's
state is shared) in its own session, inside the run's sandbox (:mod:`grader_plugin.launch.sandbox`),
with limits it cannot raise and an environment built from an allow-list.  A timeout or an output
flood kills it and everything it started.  Its output is read in a thread; past the cap the
worker is killed, since a part that prints megabytes is broken and would otherwise fill the
grader's memory or disk.  Its result is read with a size cap and checked field by field:
nothing the worker writes can crash the grader or vanish from the report.  The job goes to the
worker on its standard input; the result comes back over a pipe, as exactly one framed message
carrying a one-time token (:func:`parse_result`); a worker that leaves without one scores 0.
The result is parsed only once its size, value count and nesting are within the caps of
:mod:`grader_plugin.handin.bounded`, and every text in it that reaches a report is cut to one printable
line.  The progress channel is read at a bounded rate and up to a byte cap
(:class:`ProgressReader`), so a flood of records costs the grader neither memory nor output.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader_plugin.handin import bounded
from grader_plugin.launch import sandbox as sandboxes
from grader_plugin.launch.channels import MAX_RESULT_BYTES, OutputReader, ProgressReader, ResultReader, kill
from grader_plugin.results import WorkerOutcome
from grader_plugin.text import one_line
from grader_plugin.worker.bootstrap import BOOTSTRAP, MAGIC

MAX_REASON_CHARS = 500
"""A worker's reason is cut to this many characters (on one line) before it reaches a report."""
MEMORY_WORDS = re.compile(r"MemoryError|bad_alloc|can(not|'t) allocate memory|out of memory", re.IGNORECASE)
"""What a worker that died of its memory limit leaves in its output (Python, C++, torch, the C library)."""
STATUSES = ("ok", "missing", "error", "memory")
"""What a worker's result file may say; ``timeout``, ``exited`` and ``flood`` are the grader's own."""


def parse_result(data: bytes, token: str) -> tuple[dict | None, str]:
    """The one result a channel carried (framed, with the run's token), or why there is none.

    The body is parsed only within the bounds of :func:`grader_plugin.handin.bounded.loads`.
    """
    newline = data.find(b"\n", 0, len(MAGIC) + 100)
    parts = bytes(data[:newline]).split(b" ") if newline >= 0 else []
    if len(parts) != 3 or parts[0] != MAGIC:
        return None, "the worker's result channel did not carry a result"
    body = data[newline + 1:]
    if parts[1] != token.encode():
        return None, "the worker's result carried the wrong token (it was not sent by the grader's worker code)"
    if not parts[2].isdigit() or int(parts[2]) != len(body):
        return None, "the worker's result channel carried something other than exactly one result"
    try:
        result = bounded.loads(body, MAX_RESULT_BYTES)
    except bounded.Refused as error:
        return None, f"the worker's result was refused: it {error}"
    if not isinstance(result, dict) or result.get("status") not in STATUSES:
        return None, "the worker's result has no known status"
    return result, ""


def _outcome(result: dict, memory_mb: int, output: str, seconds: float) -> WorkerOutcome:
    """A checked result as an outcome: every field of the wrong type is left out, texts cut to one line."""
    reason = one_line(result["reason"], MAX_REASON_CHARS) if isinstance(result.get("reason"), str) else ""
    status = result["status"]
    if status == "error" and MEMORY_WORDS.search(reason):
        status = "memory"
    if status == "memory":
        reason = out_of_memory(memory_mb, reason)
    entry_point, parameters = result.get("entry_point"), result.get("num_parameters")
    integrity, models = result.get("integrity"), result.get("models")
    return WorkerOutcome(
        status,
        reason,
        result.get("data"),
        one_line(entry_point, 200) if isinstance(entry_point, str) else None,
        parameters if isinstance(parameters, int) and not isinstance(parameters, bool) else None,
        output,
        seconds,
        integrity if isinstance(integrity, dict) else None,
        [m for m in models if isinstance(m, dict)] if isinstance(models, list) else [],
    )


def out_of_memory(memory_mb: int, detail: str) -> str:
    """The reason of a worker that hit its memory limit: always says so, and the limit."""
    limit = f"limit {memory_mb} MB" if memory_mb else "no limit set; the machine's memory"
    return f"ran out of memory ({limit}): {detail}" if detail else f"ran out of memory ({limit})"


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
    binds: tuple[tuple[Path, Path], ...] = (),
) -> WorkerOutcome:
    """Run ``task(model, payload)`` in a worker; ``model`` comes from the first existing candidate.

    ``sandbox`` is how workers run (none by default); ``readable`` and ``hidden`` are the folders
    a sandboxed worker must read and must not see (besides Python and its own scratch folder);
    ``own_uid``: a grader running as root gives the worker a uid of its own (False when a folder it
    must read is readable by its owner only); ``writable``: folders a trusted worker may write;
    ``progress(phase, done, total)`` is called with the worker's progress records as they come;
    ``binds``: ``(source, destination)`` folders or files a sandboxed worker reads at
    ``destination`` (a model served in place of another, :meth:`RunWorkers.run
    <grader_plugin.launch.runner.RunWorkers.run>`).
    """
    sandbox = sandbox or sandboxes.Sandbox("none", "no sandbox asked for")
    scratch = Path(tempfile.mkdtemp(prefix="unitconv-worker-"))
    try:
        uid = sandboxes.new_uid() if sandbox.kind == "bubblewrap" and own_uid and os.geteuid() == 0 else None
        return _run(task, payload, package, parent, candidates, timeout, memory_mb, output_bytes, env or {},
                    sandbox, readable, hidden, scratch, uid, writable, progress, binds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _give(folder: Path, uid: int) -> None:
    """Make ``folder`` and everything in it the worker's own (links themselves, never their targets)."""
    os.chown(folder, uid, uid, follow_symlinks=False)
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def _run(task, payload, package, parent, candidates, timeout, memory_mb, output_bytes, env, sandbox,
         readable, hidden, scratch: Path, uid: int | None, writable=(), progress=None, binds=()) -> WorkerOutcome:
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
                                               writable=[Path(p) for p in writable], binds=list(binds))
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
    results = ResultReader(read_fd)
    results.start()
    progress_reader = ProgressReader(progress_read, progress)
    progress_reader.start()
    reader = OutputReader(process, output_bytes)
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
        kill(process)
        process.wait()
    kill(process)  # anything the worker left running in its session
    reader.join(timeout=5)
    results.join(timeout=5)
    progress_reader.join(timeout=5)
    seconds = time.perf_counter() - started
    return _verdict(process, reader, results, progress_reader, token, timed_out,
                    (timeout, memory_mb, output_bytes), seconds)


def _verdict(process, reader: OutputReader, results: ResultReader, progress_reader: ProgressReader, token: str,
             timed_out: bool, limits: tuple[float, int, int], seconds: float) -> WorkerOutcome:
    """What a finished worker's output, result and exit say, in order: flood, timeout, result, exit."""
    timeout, memory_mb, output_bytes = limits
    output = reader.text()
    if progress_reader.dropped():
        output += f"\n[grader] {progress_reader.dropped()}"
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
    if MEMORY_WORDS.search(reader.tail.decode(errors="replace")):
        return WorkerOutcome("memory", out_of_memory(memory_mb, f"the worker {how} before reporting a result"),
                             output=output, seconds=seconds)
    return WorkerOutcome("exited", f"the worker {how} before reporting a result (os._exit or a crash)",
                         output=output, seconds=seconds)
