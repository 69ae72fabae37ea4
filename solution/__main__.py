"""Command line: ``python -m solution sft|rft|datagen [options]``, the parts' own commands.

``sft``, ``rft`` and ``datagen`` run ``python -m solution.sft``, ``solution.rft`` and
``solution.datagen`` with the arguments that follow.  Errors a user can fix (a loss that did not
fall, an adapter outside the package, a missing adapter, data or base model) end the command with
their one-line message and exit status 1, no traceback; an interruption exits with status 130
(datagen resumes from its partial file).
From nothing to a graded hand-in in one command is ``python -m tools.pipeline``, beside the
package: tooling that uses the grader is never part of the hand-in.
"""

from __future__ import annotations

import sys

COMMANDS = {
    "sft": "python -m solution.sft train|test",
    "rft": "python -m solution.rft train|test",
    "datagen": "python -m solution.datagen: sample reasoning for RFT",
}


def _usage() -> str:
    return "usage: python -m solution COMMAND [options]\n\ncommands:\n" + "\n".join(
        f"  {name:<9} {text}" for name, text in COMMANDS.items())


def _run(command: str, argv: list[str]) -> int:
    if command == "sft":
        from .sft import main as part_main
    elif command == "rft":
        from .rft import main as part_main
    else:
        from .datagen import main as part_main
    part_main(argv)
    return 0


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a user can fix (their message says how): shown in one line, exit status 1."""
    from unitconv.model_loader import ModelNotFoundError

    from .adapters import AdapterError
    from .data import DatasetError
    from .training import TrainingCheckError, TrainingDataError

    return TrainingCheckError, TrainingDataError, AdapterError, DatasetError, ModelNotFoundError, FileNotFoundError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(_usage(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        return _run(argv[0], argv[1:])
    except user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run the same command again (datagen goes on from its partial file)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
