"""The cost of the sandbox per worker start: the same trivial worker with and without bubblewrap.

Two workers are timed, each several times in turn: one that only starts (the grader's bootstrap,
no hand-in) and one that also imports torch (what every real worker does).  Printed: the median
wall time of each without a sandbox and in bubblewrap, and the difference.

Usage: python benchmarks/sandbox_cost.py [--runs 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics

from grader_plugin.launch import sandbox as sandboxes
from grader_plugin.launch.isolation import run_task

TASKS = {
    "start only": ("builtins:print", {}),
    "start and import torch": ("grader_plugin.worker.models:torch_modules", 1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    works, why = sandboxes.probe()
    if not works:
        raise SystemExit(f"bubblewrap does not work here: {why}")
    modes = {"none": sandboxes.Sandbox("none", "benchmark"), "bubblewrap": sandboxes.Sandbox("bubblewrap")}
    print(f"machine: {platform.machine()}, python {platform.python_version()}, {args.runs} runs each, medians")
    print("| worker | no sandbox | bubblewrap | difference |")
    print("|---|---|---|---|")
    for label, (task, payload) in TASKS.items():
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(args.runs):
            for mode, sandbox in modes.items():
                outcome = run_task(task, payload, timeout=120, memory_mb=8192, sandbox=sandbox)
                if not outcome.ok:
                    raise SystemExit(f"{label} in {mode}: {outcome.status}: {outcome.reason}")
                seconds[mode].append(outcome.seconds)
        plain, boxed = (statistics.median(seconds[mode]) for mode in modes)
        print(f"| {label} | {plain:.3f} s | {boxed:.3f} s | {boxed - plain:+.3f} s |", flush=True)


if __name__ == "__main__":
    main()
