"""Running one task in a worker process with a time limit, a memory limit and capped output (grader side).

The worker is a new interpreter (``subprocess``, fork followed by exec: nothing of the grader's
state is shared) in its own session, so a timeout or an output flood kills it and everything it
started.  Its output is read in a thread; past the cap the worker is killed, since a part that
prints megabytes is broken and would otherwise fill the grader's memory or disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader_plugin.results import WorkerOutcome
from grader_plugin.worker.bootstrap import BOOTSTRAP

KEEP_BYTES = 4000


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
) -> WorkerOutcome:
    """Run ``task(model, payload)`` in a worker; ``model`` comes from the first existing candidate."""
    with tempfile.TemporaryDirectory(prefix="unitconv-worker-") as scratch:
        result_path = Path(scratch) / "result.json"
        job = {
            "task": task,
            "payload": payload,
            "package": package,
            "parent": str(parent) if parent else None,
            "candidates": candidates or [],
            "memory_mb": memory_mb,
            "result_path": str(result_path),
            "sys_path": [p for p in sys.path if p and Path(p).resolve() != Path.cwd().resolve()],
        }
        job_path = Path(scratch) / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", BOOTSTRAP, str(job_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=scratch,
            env={**os.environ, **(env or {})},
            start_new_session=True,
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
            return WorkerOutcome(
                "flood",
                f"printed more than {output_bytes // 1000} kB of output",
                output=output,
                seconds=seconds,
            )
        if timed_out:
            return WorkerOutcome(
                "timeout",
                f"did not finish within the {timeout:g} s time limit",
                output=output,
                seconds=seconds,
            )
        if result_path.is_file():
            result = json.loads(result_path.read_text(encoding="utf-8"))
            reason = result.get("reason", "")
            if result["status"] == "memory":
                reason = f"ran out of memory (limit {memory_mb} MB): {reason}"
            return WorkerOutcome(
                result["status"],
                reason,
                result.get("data"),
                result.get("entry_point"),
                result.get("num_parameters"),
                output,
                seconds,
                result.get("integrity"),
                result.get("models") or [],
            )
        code = process.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return WorkerOutcome(
            "exited",
            f"the worker {how} before reporting a result (os._exit or a crash)",
            output=output,
            seconds=seconds,
        )
