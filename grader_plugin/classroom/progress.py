"""The class run's live progress: hand-ins done of the total, errors, flags and the time left.

On a terminal it is one tqdm bar that rewrites itself; anywhere else (a log file, CI) one plain
line per finished hand-in, with the same counts and estimate, so a log reads top to bottom.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from grader_plugin.text import one_line


class Progress:
    """Progress over ``total`` hand-ins, written to ``stream`` (standard error by default)."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.done = self.errors = self.flagged = 0
        self.started = time.monotonic()
        self._bar = None
        if self.stream.isatty():
            self._bar = tqdm(total=total, unit="hand-in", file=self.stream, dynamic_ncols=True)

    def eta(self) -> str:
        """The time left at the pace so far (``?`` before the first hand-in finished)."""
        if not self.done:
            return "?"
        pace = (time.monotonic() - self.started) / self.done
        return tqdm.format_interval(pace * (self.total - self.done))

    def finished(self, key: str, outcome: str, *, error: bool = False, flagged: bool = False) -> None:
        """One hand-in finished: ``outcome`` is its score or its error, in a few words."""
        self.done += 1
        self.errors += error
        self.flagged += flagged
        if self._bar is not None:
            self._bar.set_postfix(errors=self.errors, flags=self.flagged, refresh=False)
            self._bar.update(1)
            return
        print(f"[{self.done}/{self.total}] {one_line(key)}: {one_line(outcome, 160)}; errors {self.errors}, "
              f"flags {self.flagged}, ETA {self.eta()}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
