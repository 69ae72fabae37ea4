"""Command line: ``python -m solution pipeline [options]``, and the parts' own commands.

``pipeline`` trains SFT, samples RFT data, trains RFT, bundles and grades, skipping what is up
to date (:mod:`.pipeline`).  ``sft``, ``rft`` and ``datagen`` run ``python -m solution.sft``,
``solution.rft`` and ``solution.datagen`` with the arguments that follow.  Errors a user can fix
(a loss that did not fall, an adapter outside the package, a missing adapter, data or base
model) end the command with their one-line message and exit status 1, no traceback; an
interruption keeps every finished stage (exit status 130).
"""

from __future__ import annotations

import sys

COMMANDS = {
    "pipeline": "train SFT, sample RFT data, train RFT, bundle and grade, skipping what is up to date",
    "sft": "python -m solution.sft train|test",
    "rft": "python -m solution.rft train|test",
    "datagen": "python -m solution.datagen: sample reasoning for RFT",
}


def _usage() -> str:
    return "usage: python -m solution COMMAND [options]\n\ncommands:\n" + "\n".join(
        f"  {name:<9} {text}" for name, text in COMMANDS.items())


def pipeline_command(argv: list[str]) -> int:
    """``python -m solution pipeline [options]``: run the stages that are not up to date."""
    import argparse
    import os
    from pathlib import Path

    from unitconv import model_loader

    from .datagen import SAMPLERS
    from .pipeline import ROOT, STAGES, PipelinePaths, PipelineSettings, grade_summary, run_pipeline

    defaults = PipelineSettings(base_model="")
    parser = argparse.ArgumentParser(prog="python -m solution pipeline", description=(
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


def _run(command: str, argv: list[str]) -> int:
    if command == "pipeline":
        return pipeline_command(argv)
    if command == "sft":
        from .sft import main as part_main
    elif command == "rft":
        from .rft import main as part_main
    else:
        from .datagen import main as part_main
    part_main(argv)
    return 0


def main(argv: list[str] | None = None) -> int:
    from unitconv.model_loader import ModelNotFoundError

    from .adapters import AdapterError
    from .data import DatasetError
    from .pipeline import PipelineError
    from .training import TrainingCheckError, TrainingDataError

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(_usage(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        return _run(argv[0], argv[1:])
    except (PipelineError, TrainingCheckError, TrainingDataError, AdapterError, DatasetError,
            ModelNotFoundError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command again to go on", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
