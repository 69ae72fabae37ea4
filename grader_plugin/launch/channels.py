"""Reading what a worker sends back: its output, its progress records and its result message (grader side).

Each is read in a thread of its own, so that a worker is never blocked writing, and each is capped:
output keeps its start and end and kills the worker past its cap (:class:`OutputReader`),
progress records are passed on at a bounded rate and read up to a byte cap
(:class:`ProgressReader`), and the result is kept up to :data:`MAX_RESULT_BYTES`
(:class:`ResultReader`).  Hand-in code shares the worker's process and can write to all three.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time

from grader_plugin.worker.progress import PHASES, RECORD

KEEP_BYTES = 4000
"""Bytes of the start and of the end of a worker's output that are kept."""
MAX_RESULT_BYTES = 64_000_000
"""Largest result message a worker may send (values and nesting capped by :mod:`grader_plugin.handin.bounded`)."""
PROGRESS_RATE = 20.0
PROGRESS_BURST = 50
"""Progress records passed on: bursts of this many, then :data:`PROGRESS_RATE` a second; records
in between are coalesced (the latest is passed on when the rate allows)."""
MAX_PHASE_CHANGES = 32
"""Changes of phase passed on per worker (the grader's worker code makes a few)."""
MAX_PROGRESS_BYTES = 1_000_000
"""Progress read from one worker (about 110,000 records); past it the channel is closed."""


class OutputReader(threading.Thread):
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
                kill(self.process)

    def text(self) -> str:
        if self.total <= len(self.head):
            return self.head.decode(errors="replace")
        return (
            self.head.decode(errors="replace")
            + f"\n[... {self.total} bytes in all ...]\n"
            + self.tail.decode(errors="replace")
        )


def kill(process: subprocess.Popen) -> None:
    """SIGKILL to the worker's whole session (it and everything it started)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ProgressReader(threading.Thread):
    """Reads the worker's progress records (three integers each) and passes them on, at a bounded rate.

    Hand-in code can write the channel too.  At most :data:`MAX_PROGRESS_BYTES` are read (then
    the channel is closed), records beyond :data:`PROGRESS_BURST` and :data:`PROGRESS_RATE` are
    coalesced into the latest, and at most :data:`MAX_PHASE_CHANGES` changes of phase are passed
    on; :attr:`dropped` says what was left out.
    """

    def __init__(self, fd: int, callback):
        super().__init__(daemon=True)
        self.fd, self.callback = fd, callback
        self.records = self.changes = self.refused_changes = 0
        self.capped = False
        self.shown: tuple[int, int, int] | None = None
        self.held: tuple[int, int, int] | None = None
        self.tokens, self.refilled = float(PROGRESS_BURST), time.monotonic()

    def run(self) -> None:
        size, pending, read = RECORD.size, b"", 0
        waiting = select.poll()  # not select.select: the grader may hold descriptors past 1024
        waiting.register(self.fd, select.POLLIN)
        with os.fdopen(self.fd, "rb", buffering=0) as stream:
            while True:
                if self.held is not None and not waiting.poll(1000 / PROGRESS_RATE):
                    self._pass_held()  # the channel is quiet: show the latest record now
                    continue
                chunk = stream.read(4096)
                if not chunk:
                    break
                read += len(chunk)
                pending += chunk
                usable = len(pending) - len(pending) % size
                for offset in range(0, usable, size):
                    self._take(RECORD.unpack_from(pending, offset))
                pending = pending[usable:]
                if read >= MAX_PROGRESS_BYTES:
                    self.capped = True
                    break
        if self.held is not None:
            self.tokens = 1.0
            self._pass_held()

    def _take(self, record: tuple[int, int, int]) -> None:
        self.records += 1
        if self.shown is not None and record[0] != self.shown[0]:
            if self.changes >= MAX_PHASE_CHANGES:
                self.refused_changes += 1
                return
        self.held = record
        self._pass_held()

    def _pass_held(self) -> None:
        now = time.monotonic()
        self.tokens = min(float(PROGRESS_BURST), self.tokens + (now - self.refilled) * PROGRESS_RATE)
        self.refilled = now
        if self.tokens < 1 or self.held is None:
            return
        record, self.held = self.held, None
        self.tokens -= 1
        if self.shown is not None and record[0] != self.shown[0]:
            self.changes += 1
        self.shown = record
        if self.callback is not None:
            phase, done, total = record
            try:
                self.callback(PHASES.get(phase, "working"), max(done, 0), max(total, 0))
            except Exception:  # noqa: BLE001 - a display problem must not stop grading
                pass

    def dropped(self) -> str:
        """What was left out of the worker's progress, when its code sent more than it should ('' else)."""
        why = ([f"more than {MAX_PROGRESS_BYTES // 1000} kB"] if self.capped else []) + (
            [f"{self.refused_changes} changes of phase past {MAX_PHASE_CHANGES}"] if self.refused_changes else [])
        return f"progress channel: {'; '.join(why)} (records past those were not shown)" if why else ""


class ResultReader(threading.Thread):
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
