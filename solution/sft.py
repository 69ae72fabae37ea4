"""Part 3: LoRA supervised fine-tuning that answers ``<answer>expression</answer>``.

The model learns program-aided answers: for "How many feet in 3 yards?" the target is
``<answer>3 * 0.9144 / 0.3048</answer>``, the quantity times the source unit's value in its
family's base unit, divided by the target unit's value.  The model only has to know one value
per unit (44 facts, not 270 pairwise factors); ``parse_answer`` evaluates the expression
exactly.  Training questions are generated fresh (none is in the validation split).

Command line: ``python -m solution.sft train`` and ``python -m solution.sft test``.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from solution.adapters import load_with_adapter
from solution.base_llm import BaseLLM

MODEL_DIR = Path(__file__).resolve().parent / "sft_model"
RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "sft"
TRAIN_COMMAND = "python -m solution.sft train"
TRAIN_SEED = 31


class SFTModel(BaseLLM):
    """The fine-tuned model: the question as it is, answered with tags and an expression."""

    def __init__(self, checkpoint: str | None = None, **kwargs):
        kwargs.setdefault("max_new_tokens", 40)
        super().__init__(checkpoint, **kwargs)

    def format_prompt(self, question: str) -> str:
        return question


def load(checkpoint: str | None = None, **kwargs) -> SFTModel:
    """The base model with the adapter of ``solution/sft_model`` (clear error when missing)."""
    return load_with_adapter(MODEL_DIR, SFTModel, TRAIN_COMMAND, checkpoint, **kwargs)


def training_pairs(count: int, seed: int = TRAIN_SEED) -> list[tuple[str, str]]:
    """``(question, completion)`` pairs of fresh questions, none of them in the validation split."""
    from solution.data import Dataset
    from solution.questions import make_questions
    from solution.targets import answer_completion

    valid = {row[0] for row in Dataset("valid").data}
    return [(q.text, answer_completion(q)) for q in make_questions(count, seed, exclude=valid)]


def train_model(output_dir: Path = MODEL_DIR, questions: int = 4000, checkpoint: str | None = None,
                **config_overrides) -> Path:
    """Train the SFT adapter on ``questions`` generated questions and save it to ``output_dir``."""
    from solution import model_loader
    from solution.training import LoraTrainingConfig, train_lora

    config = LoraTrainingConfig(**config_overrides)
    model = model_loader.load_model(checkpoint)
    tokenizer = model_loader.load_tokenizer(checkpoint)
    return train_lora(model, tokenizer, training_pairs(questions), config, RUN_DIR, Path(output_dir))


def test_model(max_question: int = 100, checkpoint: str | None = None) -> None:
    """Print accuracy and answer rate of the saved adapter on ``valid[:max_question]``."""
    from solution.data import Dataset, benchmark

    result = benchmark(load(checkpoint), Dataset("valid"), max_question)
    print(f"accuracy={result.accuracy:.3f} answer_rate={result.answer_rate:.3f}")


def main(argv: list[str] | None = None) -> None:
    from solution.training import LoraTrainingConfig

    parser = argparse.ArgumentParser(description="Part 3: LoRA SFT")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train and save the adapter to solution/sft_model")
    train.add_argument("--questions", type=int, default=4000)
    train.add_argument("--output-dir", type=Path, default=MODEL_DIR)
    for f in fields(LoraTrainingConfig):
        train.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                           help=f.metadata.get("help"))
    test = commands.add_parser("test", help="accuracy of the saved adapter on valid[:N]")
    test.add_argument("--max-question", type=int, default=100)
    args = vars(parser.parse_args(argv))
    command = args.pop("command")
    if command == "train":
        train_model(args.pop("output_dir"), args.pop("questions"), **args)
    else:
        test_model(args["max_question"])


if __name__ == "__main__":
    main()
