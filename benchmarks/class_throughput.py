"""Class throughput: one ``grade-class`` run on Ray against a plain loop of ``python -m grader_plugin grade``.

The same class is graded twice: first by a loop that runs ``python -m grader_plugin grade PATH``
once per hand-in (what staff would do by hand), then by one class run on a local Ray instance
sized to this machine (:func:`grader_plugin.classroom.driver.run_class`).  The class is made of
the small fixture hand-ins (``fixtures/submissions/``), as folders and zips, graded on the tiny
test model (``--base-model`` to grade on another).  The speed figures that scale time limits are
measured once before anything is timed, so neither side pays for them.  Printed: wall time and
hand-ins per minute of each, the Ray start-up inside the class run, and whether every part got
the same points both ways.

Usage: OMP_NUM_THREADS=1 python benchmarks/class_throughput.py [--handins 6] [--parts bundle_size,generate,cot]
       [--questions 4] [--base-model PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "submissions"
CLASS = ("honest_tiny", "missing_part", "declared_entry_points", "crash_on_import")


def make_class(folder: Path, count: int) -> list[Path]:
    """``count`` hand-ins cycling through :data:`CLASS`, every other one as a zip."""
    made = []
    for number in range(count):
        fixture = FIXTURES / CLASS[number % len(CLASS)]
        student = f"student{number:03d}"
        if number % 2:
            target = folder / f"{student}.zip"
            with zipfile.ZipFile(target, "w") as archive:
                for path in sorted(fixture.rglob("*")):
                    if path.is_file() and "__pycache__" not in path.parts:
                        archive.write(path, f"{fixture.name}/{path.relative_to(fixture).as_posix()}")
        else:
            target = shutil.copytree(fixture, folder / student / fixture.name,
                                     ignore=shutil.ignore_patterns("__pycache__"))
        made.append(target)
    return made


def scores(results: dict) -> list[tuple[str, float]]:
    return [(test["name"], test["score"]) for test in results["tests"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handins", type=int, default=6)
    parser.add_argument("--parts", default="bundle_size,generate,cot")
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--base-model", default=None, help="model folder (default: the tiny test model)")
    args = parser.parse_args()

    import ray

    from grader_plugin.classroom.driver import ClassOptions, run_class
    from grader_plugin.classroom.exports import results_path
    from grader_plugin.manager import get_plugin_manager
    from grader_plugin.session import grade_once
    from grader_plugin.settings import GradeSettings
    from unitconv.tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="class-throughput-"))
    try:
        model = args.base_model or str(build_tiny_model(work / "tiny"))
        handins = make_class(work / "handins", args.handins)
        options = ["--grade-parts", args.parts, "--grade-questions", str(args.questions), "--grade-base-model", model]
        settings = GradeSettings(path=handins[0], parts=tuple(args.parts.split(",")), questions=args.questions,
                                 base_model=model)
        grade_once(settings, get_plugin_manager())  # measures and stores the speed figures once

        started, loop = time.perf_counter(), {}
        for path in handins:
            target = work / "loop" / f"{path.stem if path.suffix else path.parent.name}.json"
            command = [sys.executable, "-m", "grader_plugin", "grade", str(path), "-q", "-p", "no:cacheprovider",
                       "--grade-json", str(target), *options]
            subprocess.run(command, capture_output=True, cwd=work, check=False)
            loop[target.stem] = scores(json.loads(target.read_text()))
        loop_s = time.perf_counter() - started

        started = time.perf_counter()
        ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        ray_s = time.perf_counter() - started
        summary = run_class(work / "handins", work / "class", replace(settings, path=work / "handins"),
                            ClassOptions(), stream=io.StringIO())
        class_s = time.perf_counter() - started
        cpus = int(ray.cluster_resources().get("CPU", 0))
        ray.shutdown()
        same = all(scores(json.loads(results_path(work / "class", key).read_text())) == loop[key] for key in loop)
        if summary.errors or len(summary.graded) != len(handins):
            raise SystemExit(f"the class run graded {len(summary.graded)} of {len(handins)}: errors {summary.errors}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    count = len(handins)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs (Ray: {cpus}, 1 per task), python "
          f"{platform.python_version()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"{count} hand-ins, parts {args.parts}, {args.questions} questions, model {args.base_model or 'tiny'}")
    print("| way | wall time | hand-ins per minute | speed-up |")
    print("|---|---|---|---|")
    print(f"| loop of `python -m grader_plugin grade` | {loop_s:.1f} s | {60 * count / loop_s:.2f} | 1.00 |")
    print(f"| `grade-class` on local Ray (incl. {ray_s:.1f} s Ray start) | {class_s:.1f} s | "
          f"{60 * count / class_s:.2f} | {loop_s / class_s:.2f} |")
    print(f"same points for every part both ways: {'yes' if same else 'NO'}; generation anchors shared with "
          f"{sum(1 for n in summary.reused.values() if n)} of {count} hand-ins")


if __name__ == "__main__":
    main()
