"""``python -m solution.sft|rft train|test``: one command line for a fine-tuned part, built from its configs.

Every field of the part's config dataclass (``SFTConfig``, ``RFTConfig``) and of
:class:`.training.LoraTrainingConfig` is one ``--field-name`` option, its help the field's
``metadata["help"]``: the defaults and the help are written once, on the dataclasses.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from .training import LoraTrainingConfig, TrainingCheckError, check_adapter_location


def _add_fields(parser: argparse.ArgumentParser, defaults) -> None:
    """One option per field of the dataclass instance ``defaults``, its value the default."""
    for item in fields(defaults):
        flag, default = f"--{item.name.replace('_', '-')}", getattr(defaults, item.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=item.metadata.get("help"))
        else:
            parser.add_argument(flag, type=type(default), default=default, help=item.metadata.get("help"))


def _pick(config_class, args: dict):
    return config_class(**{item.name: args[item.name] for item in fields(config_class)})


def part_command_line(argv: list[str] | None, description: str, model_dir: Path, train: Callable[..., Path],
                      load: Callable, part_config: type, lora_defaults: LoraTrainingConfig | None = None) -> None:
    """``python -m solution.PART train|test`` for a fine-tuned part (SFT and RFT share it).

    ``train`` is called as ``train(part_config(...), lora=LoraTrainingConfig(...), output_dir=...)``;
    ``test`` prints the saved adapter's accuracy on ``valid[:N]``.  A :class:`.training.TrainingCheckError`
    (an ``--output-dir`` outside the package, a loss that did not fall) ends the command with its
    one-line message and exit status 1, no traceback.
    """
    from .data import benchmark_on_valid

    parser = argparse.ArgumentParser(description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    trainer = commands.add_parser("train", help=f"train and save the adapter to {model_dir}")
    trainer.add_argument("--output-dir", type=Path, default=model_dir)
    _add_fields(trainer, part_config())
    _add_fields(trainer, lora_defaults or LoraTrainingConfig())
    tester = commands.add_parser("test", help="accuracy of the saved adapter on valid[:N]")
    tester.add_argument("--max-question", type=int, default=100)
    args = vars(parser.parse_args(argv))
    if args.pop("command") == "train":
        try:
            check_adapter_location(args["output_dir"], Path(model_dir).parent)
            train(_pick(part_config, args), lora=_pick(LoraTrainingConfig, args), output_dir=args["output_dir"])
        except TrainingCheckError as error:
            raise SystemExit(f"error: {error}") from None
    else:
        benchmark_on_valid(load(), args["max_question"])
