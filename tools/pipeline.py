"""One command from nothing to a graded hand-in: ``python -m tools.pipeline`` (or ``python tools/pipeline.py``).

The five stages (:mod:`tools.pipeline_stages`: SFT adapter, RFT data, RFT adapter, bundle,
grade) run in order.  A stage is skipped when its stamp (``runs/pipeline/STAGE.stamp.json``)
shows it already ran with the same settings on inputs with the same content, and its outputs are
still the ones it made.  Content fingerprints (SHA-256), not modification times, decide, because
a checkout or a copy changes times without changing content.  The stamp is written only after a
stage finished, and every stage writes its outputs atomically (adapters by rename, JSON and zip
by ``os.replace``; sampling also resumes from its ``.partial.jsonl``), so an interruption costs at
most the stage that was running.  ``--force STAGE`` (or ``all``) re-runs regardless.

Errors a user can fix (a loss that did not fall, an adapter outside the package, a missing
adapter, data or base model) end the command with their one-line message and exit status 1, no
traceback; an interruption keeps every finished stage (exit status 130).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__" and not __package__:  # python tools/pipeline.py: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solution.__main__ import user_errors  # noqa: E402
from solution.datagen import SAMPLERS  # noqa: E402
from tools.pipeline_stages import (  # noqa: E402
    DEFAULT_RUNNERS,
    ROOT,
    STAGE_TABLE,
    STAGES,
    PipelineError,
    PipelinePaths,
    PipelineSettings,
    Runner,
    Stage,
    bundle_stage,
    grade_stage,
)
from unitconv import model_loader  # noqa: E402

__all__ = ["STAGES", "PipelineError", "PipelinePaths", "PipelineSettings", "bundle_stage", "fingerprint",
           "grade_stage", "grade_summary", "main", "reason_to_run", "run_pipeline"]


def fingerprint(path: Path) -> str | None:
    """SHA-256 of a file, or of a folder's files and their names (caches left out); None when absent."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f"{file.relative_to(path).as_posix()}\0{fingerprint(file)}\n".encode())
    return digest.hexdigest()


def fingerprints(files: Iterable[Path]) -> dict[str, str | None]:
    return {str(path): fingerprint(path) for path in files}


def read_stamp(path: Path) -> dict | None:
    """The stamp a finished stage left, or None when there is none (or it is unreadable: run again)."""
    try:
        stamp = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _write_json_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(staging, path)


def _changed(old: Mapping, new: Mapping) -> list[str]:
    return [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def reason_to_run(stage: Stage, settings: PipelineSettings, paths: PipelinePaths,
                  forced: bool = False) -> str | None:
    """Why ``stage`` must run, in a few words, or None when its outputs are up to date."""
    if forced:
        return "forced (--force)"
    stamp = read_stamp(paths.stamp(stage.name))
    if stamp is None:
        return f"not run yet (no stamp {paths.stamp(stage.name)})"
    missing = [str(p) for p in stage.outputs(paths) if not Path(p).exists()]
    if missing:
        return f"output missing: {', '.join(missing)}"
    settings_now = stage.settings(settings)
    changed = _changed(stamp.get("settings", {}), settings_now)
    if changed:
        old = stamp.get("settings", {})
        return "settings changed: " + ", ".join(f"{k} {old.get(k)} -> {settings_now.get(k)}" for k in changed)
    changed = _changed(stamp.get("inputs", {}), fingerprints(stage.inputs(paths, settings)))
    if changed:
        return f"input changed since it ran: {', '.join(changed[:3])}" + (" ..." if len(changed) > 3 else "")
    changed = _changed(stamp.get("outputs", {}), fingerprints(stage.outputs(paths)))
    if changed:
        return f"output changed since this stage made it: {', '.join(changed)}"
    return None


def _size(path: Path) -> str:
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return f"{sum(p.stat().st_size for p in files) / 1e6:.2f} MB"


def run_pipeline(settings: PipelineSettings, paths: PipelinePaths | None = None, force: Iterable[str] = (),
                 runners: Mapping[str, Runner] | None = None, stages: tuple[Stage, ...] = STAGE_TABLE,
                 echo: Callable[[str], None] = print) -> int:
    """Run every stage that is not up to date, in order; returns the grade's exit status (0 when none).

    :param force: stage names to re-run regardless (``"all"`` for every one).
    :param runners: stage name -> function doing its work (default :data:`DEFAULT_RUNNERS`); tests
        replace the expensive ones.
    :param echo: where the progress lines go, one at the start and one at the end of each stage.
    """
    paths = paths or PipelinePaths()
    runners = {**DEFAULT_RUNNERS, **(runners or {})}
    force = set(force)
    unknown = force - {"all", *(stage.name for stage in stages)}
    if unknown:
        raise PipelineError(f"--force {', '.join(sorted(unknown))}: no such stage; stages are "
                            f"{', '.join(stage.name for stage in stages)} (or all)")
    status = 0
    for number, stage in enumerate(stages, 1):
        label = f"[{number}/{len(stages)}] {stage.name}"
        reason = reason_to_run(stage, settings, paths, forced=bool(force & {"all", stage.name}))
        if reason is None:
            stamp = read_stamp(paths.stamp(stage.name)) or {}
            status = stamp.get("result") or status
            echo(f"{label}: skipped, up to date (made {stamp.get('finished', '?')} from the same inputs and "
                 f"settings): {', '.join(str(p) for p in stage.outputs(paths))}")
            continue
        echo(f"{label}: {stage.purpose}; runs because {reason}")
        inputs = fingerprints(stage.inputs(paths, settings))  # what this run used, taken before it starts
        started = time.monotonic()
        result = runners[stage.name](settings, paths)
        result = int(result) if stage.reports_status and result is not None else None
        seconds = time.monotonic() - started
        outputs = stage.outputs(paths)
        absent = [str(p) for p in outputs if not Path(p).exists()]
        if absent:
            raise PipelineError(f"stage {stage.name} finished but did not write {', '.join(absent)}")
        _write_json_atomically(paths.stamp(stage.name), {
            "stage": stage.name, "settings": stage.settings(settings), "inputs": inputs,
            "outputs": fingerprints(outputs), "result": result, "device": settings.device,
            "seconds": round(seconds, 1), "finished": datetime.now(UTC).isoformat(timespec="seconds")})
        status = result or status
        echo(f"{label}: done in {seconds:.1f} s -> " + ", ".join(f"{p} ({_size(p)})" for p in outputs))
    return status


def grade_summary(paths: PipelinePaths) -> str | None:
    """One line from the stored grade (Gradescope JSON): the score, when there is one."""
    stored = read_stamp(paths.grade_json)
    if not stored or "score" not in stored:
        return None
    return f"grade: {stored['score']} points (details in {paths.grade_json})"


def pipeline_command(argv: list[str]) -> int:
    """``python -m tools.pipeline [options]``: run the stages that are not up to date."""
    defaults = PipelineSettings(base_model="")
    parser = argparse.ArgumentParser(prog="python -m tools.pipeline", description=(
        "Train SFT, sample RFT data, train RFT, bundle and grade; stages already up to date are skipped."))
    parser.add_argument("--base-model", help="base model id or folder (default: $UNITCONV_BASE_MODEL, else "
                                             "the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: $UNITCONV_DEVICE, else the best available)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs",
                        help="run folder; stamps, the zip and the grade go to RUNS/pipeline (default: runs)")
    parser.add_argument("--force", action="append", default=[], choices=[*STAGES, "all"], metavar="STAGE",
                        help=f"re-run STAGE even when up to date (repeatable): {', '.join(STAGES)} or all")
    sizes = parser.add_argument_group("sizes (defaults: the committed adapters' commands)")
    sizes.add_argument("--sft-questions", type=int, default=defaults.sft_questions,
                       help="generated questions SFT trains on")
    sizes.add_argument("--shared-spelling-questions", type=int, default=defaults.shared_spelling_questions,
                       help='more SFT rows writing "ounces" for the mass and the fluid ounce equally often')
    sizes.add_argument("--rft-questions", type=int, default=defaults.rft_questions,
                       help="training questions to sample reasoning for (datagen --limit)")
    sizes.add_argument("--oversample", type=int, default=defaults.oversample, help="samples per question")
    sizes.add_argument("--temperature", type=float, default=defaults.temperature, help="sampling temperature")
    sizes.add_argument("--sampler", choices=SAMPLERS, default=defaults.sampler,
                       help=f"model that writes the RFT reasoning (default: {defaults.sampler})")
    sizes.add_argument("--direct-questions", type=int, default=defaults.direct_questions,
                       help="fresh direct-answer rows mixed into RFT training")
    sizes.add_argument("--grade-questions", type=int, default=defaults.grade_questions,
                       help="questions per graded accuracy part")
    args = parser.parse_args(argv)
    # Every stage, and the grader's workers, read the choice from the environment, as everywhere else.
    if args.base_model:
        os.environ[model_loader.ENV_MODEL] = args.base_model
    if args.device:
        os.environ[model_loader.ENV_DEVICE] = args.device
    settings = PipelineSettings(
        base_model=model_loader.resolve_model_name(args.base_model), sft_questions=args.sft_questions,
        shared_spelling_questions=args.shared_spelling_questions,
        rft_questions=args.rft_questions, oversample=args.oversample, temperature=args.temperature,
        sampler=args.sampler, direct_questions=args.direct_questions, grade_questions=args.grade_questions,
        device=model_loader.pick_device(args.device))
    paths = PipelinePaths(runs_dir=args.runs)
    print(f"pipeline: base model {settings.base_model} on {settings.device}; stamps in {paths.state_dir}", flush=True)
    status = run_pipeline(settings, paths, force=args.force)
    summary = grade_summary(paths)
    if summary:
        print(summary, flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return pipeline_command(argv)
    except (PipelineError, *user_errors()) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command again to go on", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
