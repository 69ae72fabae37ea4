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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

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
WHERE = re.compile(r"[\w./-]{1,300}\.py:\d{1,9}")
"""A worker's ``where`` (the hand-in's file and line that failed) must look like this, or it is left out."""
CAUSES = ("hub",)
"""What a worker's ``cause`` may say (``hub``: a hub model that is not served); anything else is left out."""


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
    where, cause = result.get("where"), result.get("cause")
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
        where if isinstance(where, str) and WHERE.fullmatch(where) else "",
        cause if cause in CAUSES else "",
    )


def out_of_memory(memory_mb: int, detail: str) -> str:
    """The reason of a worker that hit its memory limit: always says so, and the limit."""
    limit = f"limit {memory_mb} MB" if memory_mb else "no limit set; the machine's memory"
    return f"ran out of memory ({limit}): {detail}" if detail else f"ran out of memory ({limit})"


@dataclass(frozen=True)
class Launch:
    """Everything one worker start needs, decided by the run (:mod:`grader_plugin.launch.runner`).

    :param task: the ``module:function`` the worker runs as ``task(model, payload)``.
    :param payload: JSON-able data the task receives.
    :param package: the hand-in's package the worker imports, or None (a trusted worker).
    :param parent: the folder holding that package.
    :param candidates: ``module:attribute`` names of the entry point, tried in order.
    :param timeout: seconds before the worker is killed.
    :param memory_mb: address-space limit (0: none); ``output_bytes``: output cap.
    :param env: the worker's allow-listed environment.
    :param sandbox: how workers run (none by default).
    :param readable: folders a sandboxed worker must read besides Python and its scratch folder.
    :param hidden: folders it must not see.
    :param own_uid: a grader running as root gives the worker a uid of its own (False when a folder
        it must read is readable by its owner only).
    :param writable: folders the worker may write.
    :param binds: ``(source, destination)`` folders or files a sandboxed worker reads at
        ``destination`` (a model served in place of another).
    """

    task: str
    payload: dict
    package: str | None = None
    parent: Path | None = None
    candidates: tuple[str, ...] = ()
    timeout: float = 120.0
    memory_mb: int = 0
    output_bytes: int = 1_000_000
    env: Mapping[str, str] = field(default_factory=dict)
    sandbox: sandboxes.Sandbox = field(default_factory=lambda: sandboxes.Sandbox("none", "no sandbox asked for"))
    readable: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()
    own_uid: bool = True
    writable: tuple[Path, ...] = ()
    binds: tuple[tuple[Path, Path], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))  # frozen: a copy nobody changes


@dataclass
class Started:
    """A worker that was started: its process, the readers of its three channels, and its token."""

    process: subprocess.Popen
    output: OutputReader
    results: ResultReader
    progress: ProgressReader
    token: str
    started: float


def run(launch: Launch, progress=None) -> WorkerOutcome:
    """Run ``launch.task(model, payload)`` in a new worker and say what came back.

    ``progress(phase, done, total)`` is called with the worker's progress records as they come.
    """
    scratch = Path(tempfile.mkdtemp(prefix="unitconv-worker-"))
    try:
        bubblewrap = launch.sandbox.kind == "bubblewrap"
        uid = sandboxes.new_uid() if bubblewrap and launch.own_uid and os.geteuid() == 0 else None
        return _collect(_spawn(launch, scratch, uid, progress), launch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_task(task: str, payload: dict, *, progress=None, **fields) -> WorkerOutcome:
    """:func:`run` with the :class:`Launch` given as keywords (tests and benchmarks)."""
    fields = {name: tuple(value) if isinstance(value, list) else value for name, value in fields.items()}
    return run(Launch(task, payload, **{name: value for name, value in fields.items() if value is not None}),
               progress)


def _give(folder: Path, uid: int) -> None:
    """Make ``folder`` and everything in it the worker's own (links themselves, never their targets)."""
    os.chown(folder, uid, uid, follow_symlinks=False)
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def _command(launch: Launch, scratch: Path, uid: int | None, sys_path: list[str]) -> tuple[list[str], dict]:
    """The worker's command line and environment: a fresh ``python -I -B``, under bubblewrap when asked."""
    command = [sys.executable, "-I", "-B", "-c", BOOTSTRAP]
    environment = sandboxes.worker_environment(dict(launch.env), scratch, uid)
    if launch.sandbox.kind != "bubblewrap":
        return command, environment
    needed = [*launch.readable, *sys_path, sys.prefix, sys.base_prefix, sys.exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable)), *([launch.parent] if launch.parent else [])]
    command = sandboxes.bubblewrap_command(command, scratch=scratch, readable=[Path(p) for p in needed],
                                           hidden=list(launch.hidden), env=environment, uid=uid,
                                           writable=[Path(p) for p in launch.writable], binds=list(launch.binds))
    return command, {"PATH": environment["PATH"]}


def _spawn(launch: Launch, scratch: Path, uid: int | None, progress) -> Started:
    """Start the worker, hand it its job on standard input, and start reading its channels."""
    sys_path = [p for p in sys.path if p and Path(p).resolve() != Path.cwd().resolve()]
    read_fd, write_fd = os.pipe()
    progress_read, progress_write = os.pipe()
    token = secrets.token_hex(16)
    job = {"task": launch.task, "payload": launch.payload, "package": launch.package,
           "parent": str(launch.parent) if launch.parent else None, "candidates": list(launch.candidates),
           "result_fd": write_fd, "progress_fd": progress_write, "token": token, "sys_path": sys_path}
    if uid is not None:
        os.chown(scratch, uid, uid)
        for folder in launch.writable:
            _give(folder, uid)
    command, environment = _command(launch, scratch, uid, sys_path)
    started = time.perf_counter()
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   cwd=scratch, env=environment, start_new_session=True,
                                   pass_fds=(write_fd, progress_write),
                                   preexec_fn=sandboxes.hard_limits(launch.memory_mb))
    finally:
        os.close(write_fd)
        os.close(progress_write)
    spawned = Started(process, OutputReader(process, launch.output_bytes), ResultReader(read_fd),
                      ProgressReader(progress_read, progress), token, started)
    for reader in (spawned.results, spawned.progress, spawned.output):
        reader.start()
    try:
        process.stdin.write(json.dumps(job).encode() + b"\n")
        process.stdin.close()
    except OSError:
        pass  # the worker is already gone; what it left says why
    return spawned


def _collect(spawned: Started, launch: Launch) -> WorkerOutcome:
    """Wait for the worker (killing it at its time limit and anything it left), then read its verdict."""
    process, timed_out = spawned.process, False
    try:
        process.wait(timeout=launch.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill(process)
        process.wait()
    kill(process)  # anything the worker left running in its session
    for reader in (spawned.output, spawned.results, spawned.progress):
        reader.join(timeout=5)
    return _verdict(spawned, timed_out, launch, time.perf_counter() - spawned.started)


def _verdict(spawned: Started, timed_out: bool, launch: Launch, seconds: float) -> WorkerOutcome:
    """What a finished worker's output, result and exit say, in order: flood, timeout, result, exit."""
    reader, results, process = spawned.output, spawned.results, spawned.process
    output = reader.text()
    if spawned.progress.dropped():
        output += f"\n[grader] {spawned.progress.dropped()}"
    if reader.flooded:
        return WorkerOutcome("flood", f"printed more than {launch.output_bytes // 1000} kB of output",
                             output=output, seconds=seconds)
    if timed_out:
        return WorkerOutcome("timeout", f"did not finish within the {launch.timeout:g} s time limit",
                             output=output, seconds=seconds)
    if results.overflow:
        why = f"the worker's result is larger than the {MAX_RESULT_BYTES / 1e6:.0f} MB a result may have"
        return WorkerOutcome("error", why, output=output, seconds=seconds)
    if results.data:
        result, problem = parse_result(results.data, spawned.token)
        if result is None:
            return WorkerOutcome("error", problem, output=output, seconds=seconds)
        return _outcome(result, launch.memory_mb, output, seconds)
    code = process.returncode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    if MEMORY_WORDS.search(reader.tail.decode(errors="replace")):
        return WorkerOutcome("memory", out_of_memory(launch.memory_mb, f"the worker {how} before reporting a result"),
                             output=output, seconds=seconds)
    return WorkerOutcome("exited", f"the worker {how} before reporting a result (os._exit or a crash)",
                         output=output, seconds=seconds)
