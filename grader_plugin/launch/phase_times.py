"""Where a part's time went: seconds per phase of each of its workers (grader side).

The workers' runner marks each worker's start and end; the worker's progress records mark its
own phases in between (loading the model, the task).  A phase lasts until the next mark, so the
figures of one part add up to the time its workers ran; what the grader does between workers
(scoring, scans) is the part's time minus their sum.  The worker's phases come from its
progress channel, which hand-in code shares: these figures say where time went for benchmarks
and reports, never anything a grade depends on.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from grader_plugin.worker.progress import ANSWERING, GENERATING, PHASES, WORKING

START = "start and imports"
"""A worker's first phase: interpreter start, the grader's imports and the hand-in's import."""
TASK_PHASES = {PHASES[ANSWERING], PHASES[GENERATING], PHASES[WORKING]}
"""Worker phases that are the task itself, counted together as ``task``."""


class PhaseClock:
    """Seconds per ``worker: phase`` of each part, from marks made as workers run."""

    def __init__(self, clock=time.perf_counter):
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, tuple[str, float]] = {}
        self._spent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def mark(self, part: str, worker: str, phase: str) -> None:
        """``part``'s worker ``worker`` entered ``phase`` now (the previous phase ends)."""
        name = f"{worker}: {'task' if phase in TASK_PHASES else phase}"
        with self._lock:
            now = self._clock()
            self._close(part, now)
            self._open[part] = (name, now)

    def end(self, part: str) -> None:
        """``part``'s worker ended."""
        with self._lock:
            self._close(part, self._clock())

    def _close(self, part: str, now: float) -> None:
        if part in self._open:
            name, since = self._open.pop(part)
            self._spent[part][name] += now - since

    def pop(self, part: str) -> dict[str, float]:
        """The seconds per phase of ``part`` so far, forgotten here."""
        with self._lock:
            self._open.pop(part, None)
            return {name: round(seconds, 3) for name, seconds in self._spent.pop(part, {}).items()}
