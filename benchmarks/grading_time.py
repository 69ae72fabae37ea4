"""How long grading takes: the reference graded alone on this machine, per part and per phase.

Grades a hand-in (default: ``solution``) with every built-in plugin, as ``python -m grader_plugin
grade`` does, and times each phase of each part from the grader's own progress display: starting
a worker, loading the model, answering, the integrity probes, the replay, scoring, measuring the
machine.  Prints the total and a table per part and per phase, as BENCHMARKS.md shows it.

Usage: python benchmarks/grading_time.py [PATH] [--parts cot] [--questions 20]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

from grader_plugin.manager import get_plugin_manager
from grader_plugin.progress import ProgressDisplay
from grader_plugin.session import GradingSession
from grader_plugin.settings import GradeSettings

ROOT = Path(__file__).resolve().parent.parent


class PhaseTimer(ProgressDisplay):
    """A progress display that records how long each part spends in each phase."""

    def __init__(self):
        super().__init__(lambda line: None)
        self.spent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.current: dict[str, tuple[str, float]] = {}

    def _close(self, part: str) -> None:
        if part in self.current:
            phase, since = self.current.pop(part)
            self.spent[part][phase] += time.perf_counter() - since

    def phase(self, part, phase, done=0, total=0):
        if self.current.get(part, ("",))[0] != phase:
            self._close(part)
            self.current[part] = (phase, time.perf_counter())

    def finish(self, part, result):
        self._close(part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(ROOT / "solution"))
    parser.add_argument("--parts", default=None)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()
    settings = GradeSettings(path=Path(args.path), questions=args.questions,
                             parts=tuple(args.parts.split(",")) if args.parts else None)
    started = time.perf_counter()
    session = GradingSession(settings, get_plugin_manager())
    timer = PhaseTimer()
    session.display = timer
    session.open()
    results = {}
    try:
        for check in session.selected:
            begin = time.perf_counter()
            result = session.grade(check)
            results[check.name] = (result, time.perf_counter() - begin)
    finally:
        session.close()
    total = time.perf_counter() - started
    lines = [f"Measured on {datetime.date.today()} ({platform.machine()}, {os.cpu_count()} CPU cores, "
             f"{session.workers.sandbox.describe()}): `python benchmarks/grading_time.py {args.path} "
             f"--questions {args.questions}{' --parts ' + args.parts if args.parts else ''}`, "
             f"**{total:.0f} s** in all.", "",
             "| part | points | seconds | where the time went |", "|---|---|---|---|"]
    for name, (result, seconds) in results.items():
        phases = ", ".join(f"{phase} {spent:.0f} s" for phase, spent in
                           sorted(timer.spent[name].items(), key=lambda item: -item[1]) if spent >= 0.5)
        points = f"{result.points:g}/{result.max_points}" + (f" +{result.extra:g}" if result.max_extra else "")
        lines.append(f"| {name} | {points} | {seconds:.0f} | {phases or '-'} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
