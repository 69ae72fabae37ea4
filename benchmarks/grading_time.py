"""How long grading takes: a hand-in (default: the reference) graded alone here, per part and per phase.

Runs ``python -m grader_plugin grade PATH`` exactly as a student does (optionally under
``script`` to keep a terminal recording) and reads the per-part phase times from its JSON report
(``extra_data.time``, from :mod:`grader_plugin.launch.phase_times`): the start of every worker
(interpreter, imports, the hand-in's import), the hand-in's model load, its answering, the
integrity probes, the replay, the scoring of generated text against the grader's reference
decoding, the measurement of this machine, and the grader's own work between workers.  Prints the
total and a table per part, as BENCHMARKS.md shows it.

Usage: python benchmarks/grading_time.py [PATH] [--parts cot] [--questions 20] [--record docs/run.txt] [grade options]
       python benchmarks/grading_time.py --from-json runs/pipeline/grade.json   (the table of a finished run)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader_plugin.launch.phase_times import START

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("worker starts", "model load", "answering", "integrity probes", "replay", "generation scoring",
           "measuring the machine", "grader between workers")


def column(phase: str) -> str:
    """The table column a ``worker: phase`` figure of :mod:`grader_plugin.launch.phase_times` belongs to."""
    worker, _, step = phase.partition(": ")
    if step == START:
        return "worker starts"
    if worker.startswith("integrity probe"):
        return "integrity probes"
    if worker == "replay":
        return "replay"
    if worker == "scoring the outputs":
        return "generation scoring"
    if worker == "measuring this machine":
        return "measuring the machine"
    return "model load" if step == "loading the model" else "answering"


def breakdown(seconds: float, phases: dict[str, float]) -> dict[str, float]:
    """A part's seconds per column; what no worker spent is the grader's own work between workers."""
    spent = dict.fromkeys(COLUMNS, 0.0)
    for phase, value in phases.items():
        spent[column(phase)] += value
    spent["grader between workers"] = max(0.0, seconds - sum(phases.values()))
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="solution")
    parser.add_argument("--parts", default=None, help="comma-separated parts (default: all)")
    parser.add_argument("--questions", type=int, default=None)
    parser.add_argument("--record", default=None, help="keep a terminal recording of the run (needs `script`)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="print the table of an existing JSON report (runs/pipeline/grade.json); grade nothing")
    args, extra = parser.parse_known_args()  # anything else goes to the grade command as it is
    if args.from_json:
        print("\n".join(table(json.loads(args.from_json.read_text()), f"the report `{args.from_json}`")))
        return

    report = Path(tempfile.mkdtemp(prefix="grading-time-")) / "grade.json"
    command = [sys.executable, "-m", "grader_plugin", "grade", args.path, "--grade-json", str(report)]
    shown = ["python", "-m", "grader_plugin", "grade", args.path]
    for flag, value in (("--grade-parts", args.parts), ("--grade-questions", args.questions)):
        if value is not None:
            command += [flag, str(value)]
            shown += [flag, str(value)]
    command += extra
    shown += extra
    if args.record:
        command = ["script", "-q", "-e", "-c", shlex.join(command), args.record]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=False)
    total = time.perf_counter() - started
    if not report.is_file():
        sys.exit(f"grading_time: the grading run wrote no report ({report}); see its output above")
    print("\n".join(table(json.loads(report.read_text()), f"`{shlex.join(shown)}`, **{total:.0f} s** wall in all")))


def table(results: dict, run: str) -> list[str]:
    """The lines BENCHMARKS.md shows for one JSON report: the run, then seconds per part and phase."""
    times = results["extra_data"].get("time", {})
    lines = [f"Measured on {datetime.date.today()} ({platform.machine()}, {os.cpu_count()} CPU cores): "
             f"{run} ({results['execution_time']:.0f} s inside the grader), {results['score']:g} points.", "",
             "| part | seconds | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    sums = dict.fromkeys(COLUMNS, 0.0)
    for name, figures in times.items():
        spent = breakdown(figures["seconds"], figures["phases"])
        for key, value in spent.items():
            sums[key] += value
        lines.append(f"| {name} | {figures['seconds']:.1f} | " + " | ".join(f"{spent[c]:.1f}" for c in COLUMNS) + " |")
    lines.append(f"| all parts | {sum(f['seconds'] for f in times.values()):.1f} | "
                 + " | ".join(f"{sums[c]:.1f}" for c in COLUMNS) + " |")
    return lines

if __name__ == "__main__":
    main()
