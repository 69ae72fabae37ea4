"""Prints the BENCHMARKS.md table of the integrity detectors: which detectors catch each cheat,
false positives over the honest submissions, and the grading time the detectors add: in all, and
for the two that start workers of their own (the replay and the ablation probe), the seconds of
those workers.

Each fixture is graded twice on the tiny test model (same parts, same questions): with every
built-in plugin, and with the four integrity plugins unregistered.  Without the sandbox: it would
stop the cheats that read the data folder, and the detectors must catch them where there is none.

Usage: OMP_NUM_THREADS=1 python benchmarks/integrity_table.py [--questions 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader_plugin.manager import get_plugin_manager
from grader_plugin.session import grade_once
from grader_plugin.settings import GradeSettings
from unitconv.tiny_model import build_tiny_model

ROOT = Path(__file__).resolve().parent.parent
INTEGRITY = ("grader_plugin.integrity.static_scan", "grader_plugin.integrity.dynamic",
             "grader_plugin.integrity.behaviour", "grader_plugin.integrity.replay")
CASES = (
    ("lookup patch on answer()", "cheaters/lookup_patch", ("cot",), True),
    ("subclass with import-time table", "cheaters/table_subclass", ("sft",), True),
    ("table embedded as encoded blob", "cheaters/blob_table", ("rft",), True),
    ("model.generate emits looked-up answer", "cheaters/generate_patch", ("cot",), True),
    ("parses and converts itself (pint)", "cheaters/computes_itself", ("sft",), True),
    ("tampers with grader modules", "cheaters/tamper", ("cot",), True),
    ("forges its result through the worker's channel", "cheaters/forges_result", ("cot",), True),
    ("own converter, behaves when ablation is noticed", "cheaters/notices_ablation", ("cot",), True),
    ("forces the model's output (generation constraint)", "cheaters/forces_output", ("cot",), True),
    ("floods and switches off the recorder, then looks up", "cheaters/blinds_recorder", ("cot",), True),
    ("no model at all, computes every answer", "cheaters/no_model", ("cot",), True),
    ("model kept five attributes deep, computes answers", "cheaters/deep_model", ("cot",), True),
    ("honest front of the call, hand-written rest", "cheaters/honest_front", ("cot",), True),
    ("writes the answer into the prompt", "cheaters/answer_in_prompt", ("cot",), True),
    ("tells the probe by weight structure", "cheaters/tells_by_structure", ("cot",), True),
    ("tells the probe by names and paths", "cheaters/tells_by_names", ("cot",), True),
    ("tells the probe by file times", "cheaters/tells_by_mtime", ("cot",), True),
    ("tells the probe by an all-zero adapter", "cheaters/tells_by_zero_adapter", ("sft",), True),
    ("keeps a note between workers (same-size rewrite)", "cheaters/note_same_size", ("cot",), True),
    ("keeps a note between workers (links)", "cheaters/note_link", ("cot",), True),
    ("honest: few-shot from train.json", "honest/few_shot", ("cot",), False),
    ("honest: program-aided answers", "honest/program_aided", ("cot",), False),
    ("honest: dormant lookup module, never called", "honest/dormant_lookup", ("cot",), False),
    ("honest: reference solution (CoT)", "../solution", ("cot",), False),
)


PREPARED = {"cheaters/tells_by_mtime": False, "cheaters/tells_by_zero_adapter": True}
"""Fixtures graded from a fresh copy (files newer than the tiny model), and whether it needs a trained adapter."""


def prepared(relative: str, base_model: str, into: Path) -> Path:
    """The fixture's folder, or for the cases in :data:`PREPARED` a fresh copy made ready under ``into``."""
    folder = (ROOT / "fixtures" / relative).resolve()
    if relative not in PREPARED:
        return folder
    copy = into / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.rglob("*"):
        os.utime(path)
    if PREPARED[relative]:
        sys.path.insert(0, str(ROOT / "tests"))
        from course_fixtures import make_adapter

        make_adapter("trained", copy / "sft_model", Path(base_model))
    return copy


def grade(folder: Path, parts, questions: int, base_model: str, integrity: bool):
    pm = get_plugin_manager(load_entry_points=False)
    if not integrity:
        for name in INTEGRITY:
            pm.unregister(name=name)
    settings = GradeSettings(path=folder, parts=parts, questions=questions, base_model=base_model, sandbox="off")
    started = time.perf_counter()
    results = grade_once(settings, pm).parts
    return results, time.perf_counter() - started


WORKERS = {"replay": ("replay",), "ablation": ("integrity probe",)}
"""The workers each costly detector starts, by the label their phases are timed under."""


def worker_seconds(results, labels: tuple[str, ...]) -> float:
    """Seconds the parts' workers with one of ``labels`` took (their phases, see launch.phase_times)."""
    return sum(seconds for r in results for phase, seconds in r.phases.items() if phase.startswith(labels))


def family(detector: str) -> str:
    if detector.startswith("behaviour: hidden"):
        return "hidden questions"
    if detector.startswith("behaviour: weight"):
        return "weight ablation"
    return detector.split(":")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=8)
    args = parser.parse_args()
    base_model = str(build_tiny_model(Path(tempfile.gettempdir()) / "unitconv-tiny-llama"))
    print("| submission | part | flagged | detectors that flagged it | warnings | points | extra time "
          "| replay | ablation |")
    print("|---|---|---|---|---|---|---|---|---|")
    false_positives = honest = 0
    scratch = tempfile.TemporaryDirectory(prefix="integrity-table-")
    for label, relative, parts, cheat in CASES:
        folder = prepared(relative, base_model, Path(scratch.name))
        with_detectors, seconds = grade(folder, parts, args.questions, base_model, True)
        _, baseline = grade(folder, parts, args.questions, base_model, False)
        findings = [f for r in with_detectors for f in r.findings]
        flagged = sorted({family(f.detector) for f in findings if f.severity == "flag"})
        warned = sum(f.severity == "warn" for f in findings)
        if not cheat:
            honest += 1
            false_positives += bool(flagged)
        points = ", ".join(f"{r.points:g}/{r.max_points}" for r in with_detectors)
        print(f"| {label} | {', '.join(parts)} | {'yes' if flagged else 'no'} | {', '.join(flagged) or '-'} "
              f"| {warned} | {points} | {seconds - baseline:+.1f} s ({baseline:.1f} s -> {seconds:.1f} s) "
              f"| {worker_seconds(with_detectors, WORKERS['replay']):.1f} s "
              f"| {worker_seconds(with_detectors, WORKERS['ablation']):.1f} s |")
    scratch.cleanup()
    print(f"\nFalse positives (flags) over honest submissions: {false_positives} of {honest}.")


if __name__ == "__main__":
    main()
