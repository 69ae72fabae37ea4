"""The worker's progress channel: counts, never text (worker side).

The grader passes the worker a second pipe.  Worker-side code reports its phase and how far it
got as fixed-size records of three integers (:func:`report`); the grader shows them on its
progress line.  Hand-in code shares the process and can send records too, but only numbers:
it can make the progress line lie about how far it got, never print anything or change a grade.
"""

from __future__ import annotations

import os
import struct

RECORD = struct.Struct("<Bii")
"""One progress record: phase code, done, total."""
PHASES = {1: "loading the model", 2: "answering", 3: "generating", 4: "working"}
LOADING, ANSWERING, GENERATING, WORKING = 1, 2, 3, 4

_fd: int | None = None


def open_channel(fd: int | None) -> None:
    """Keep the progress pipe (moved away from its inherited number, not inherited by children)."""
    global _fd
    if fd is None:
        return
    moved = os.dup(fd)
    os.close(fd)
    os.set_inheritable(moved, False)
    os.set_blocking(moved, False)  # a slow reader must never stall the worker
    _fd = moved


def report(phase: int, done: int = 0, total: int = 0) -> None:
    """Send one record; lost silently when the pipe is full or gone."""
    if _fd is None:
        return
    try:
        os.write(_fd, RECORD.pack(phase, done, total))
    except OSError:
        pass
