"""What a student sees while a hand-in is graded: one line per part, updated as its workers report.

Grader side.  The session reports each part's phases (starting the worker, the worker's own
phases from its progress channel: loading the model, answering n of N, generating; then the
integrity probes, the replay, scoring) and its result.  On a terminal the part's line is
rewritten in place (at most a few times a second); when the output is not a terminal, or under
CI, a plain line is written at each phase change instead.  Counts come from the worker's
progress records (numbers only), so a hand-in can make its count lie but never print a line.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from grader_plugin.text import one_line

REFRESH_S = 0.4
WIDTH = 18


class ProgressDisplay:
    """Progress lines of one grading run (see the module docstring).

    :param write: writes a whole line; :param rewrite: rewrites the current line in place
        (None: plain lines only); :param quiet: only the result line of each part.
    """

    def __init__(self, write: Callable[[str], None], rewrite: Callable[[str], None] | None = None,
                 quiet: bool = False):
        self.write, self.rewrite, self.quiet = write, rewrite, quiet
        self.started: dict[str, float] = {}
        self.last: dict[str, tuple[str, float]] = {}

    @classmethod
    def for_terminal(cls, reporter, verbosity: int, capture=None) -> ProgressDisplay:
        """A display on pytest's terminal reporter: in place on a terminal, plain lines elsewhere or under CI.

        ``capture`` is pytest's capture manager: output is written past it, as pytest's own live
        logging does, since the parts run while pytest captures their test output.
        """
        isatty = getattr(reporter, "isatty", False)
        live = (isatty() if callable(isatty) else bool(isatty)) and not os.environ.get("CI")
        uncaptured = capture.global_and_fixture_disabled if capture is not None else contextlib.nullcontext

        def write(line: str) -> None:
            with uncaptured():
                reporter.write_line(line)

        def rewrite(line: str) -> None:
            with uncaptured():
                reporter.rewrite(line, erase=True)
                reporter.flush()  # no newline follows: show it now

        return cls(write, rewrite if live else None, quiet=verbosity < 0)

    def _elapsed(self, part: str) -> float:
        return max(0.0, time.monotonic() - self.started.setdefault(part, time.monotonic()))

    def phase(self, part: str, phase: str, done: int = 0, total: int = 0) -> None:
        """``part`` is in ``phase`` (with ``done`` of ``total`` when it counts)."""
        if self.quiet:
            return
        elapsed = self._elapsed(part)
        count = f" {done}/{total}" if total else ""
        line = f"  {part:<{WIDTH}} {phase}{count}  ({elapsed:.0f} s)"
        previous, shown_at = self.last.get(part, ("", 0.0))
        if self.rewrite is not None:
            if phase != previous or time.monotonic() - shown_at >= REFRESH_S or done == total:
                self.rewrite(line)
                self.last[part] = (phase, time.monotonic())
        elif phase != previous:
            self.write(f"  {part}: {phase}{count} ({elapsed:.0f} s)")
            self.last[part] = (phase, time.monotonic())

    def finish(self, part: str, result) -> None:
        """``part`` ended with ``result`` (a :class:`~grader_plugin.results.PartResult`)."""
        points = f"{result.points:g}/{result.max_points}" + (f" +{result.extra:g}" if result.max_extra else "")
        line = f"  {part:<{WIDTH}} {points:<10} {one_line(result.reason, 90)}  ({self._elapsed(part):.0f} s)"
        if self.rewrite is not None:
            self.rewrite(line)
            self.write("")
        else:
            self.write(line)
