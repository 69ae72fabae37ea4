"""Part 4, step 2: rejection-sampling fine-tuning.

``data/rft.json`` holds answer chains the SFT model sampled at temperature 0.7 on training
questions, kept only when correct (``python -m solution.datagen``).  Training continues from
the SFT adapter on those chains mixed with freshly generated direct-answer rows in the same
program-aided format, so the model is trained on what it already gets right plus new facts.

Command line: ``python -m solution.rft train`` and ``python -m solution.rft test``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from solution.adapters import load_with_adapter
from solution.arithmetic import parse_tagged_answer
from solution.sft import SFTModel

MODEL_DIR = Path(__file__).resolve().parent / "rft_model"
RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "rft"
RFT_DATA = Path(__file__).resolve().parent.parent / "data" / "rft.json"
TRAIN_COMMAND = "python -m solution.datagen && python -m solution.rft train"
DIRECT_SEED = 47


class RFTModel(SFTModel):
    """The RFT model answers like the SFT model: the question, then its answer chain."""


def load(checkpoint: str | None = None, **kwargs) -> RFTModel:
    """The base model with the adapter of ``solution/rft_model`` (clear error when missing)."""
    return load_with_adapter(MODEL_DIR, RFTModel, TRAIN_COMMAND, checkpoint, **kwargs)


def rft_pairs(rft_json: Path = RFT_DATA) -> list[tuple[str, str]]:
    """``(question, reasoning)`` pairs from the rejection-sampled data."""
    if not rft_json.is_file():
        raise FileNotFoundError(f"{rft_json}: no RFT data; make it with `python -m solution.datagen`")
    rows = json.loads(rft_json.read_text())
    return [(q, reasoning if reasoning.startswith(" ") else " " + reasoning) for q, answer, reasoning in rows
            if _exactly_right(reasoning, answer)]


def _exactly_right(reasoning: str, answer: float) -> bool:
    """Stricter than the course's check, which accepts any value under 0.0005 for a tiny answer.

    A chain like ``4 * 1 / 1e9`` for "5 bytes to gigabytes" passes the course's check (both
    round to 0) but teaches a wrongly copied quantity, so training keeps only chains within
    0.1% of the answer, unrounded.
    """

    value = parse_tagged_answer(reasoning)
    return abs(value - answer) <= 1e-3 * abs(answer)


def train_model(output_dir: Path = MODEL_DIR, direct_questions: int = 1500, checkpoint: str | None = None,
                **config_overrides) -> Path:
    """Continue the SFT adapter on RFT chains plus ``direct_questions`` fresh direct-answer rows."""
    import random

    from solution import model_loader
    from solution.sft import MODEL_DIR as SFT_DIR
    from solution.sft import training_pairs
    from solution.training import LoraTrainingConfig, train_lora

    config = LoraTrainingConfig(**config_overrides)
    pairs = rft_pairs() + training_pairs(direct_questions, seed=DIRECT_SEED)
    random.Random(config.seed).shuffle(pairs)
    model = model_loader.load_model(checkpoint)
    tokenizer = model_loader.load_tokenizer(checkpoint)
    return train_lora(model, tokenizer, pairs, config, RUN_DIR, Path(output_dir), init_adapter=SFT_DIR)


def test_model(max_question: int = 100, checkpoint: str | None = None) -> None:
    """Print accuracy and answer rate of the saved adapter on ``valid[:max_question]``."""
    from solution.data import Dataset, benchmark

    result = benchmark(load(checkpoint), Dataset("valid"), max_question)
    print(f"accuracy={result.accuracy:.3f} answer_rate={result.answer_rate:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Part 4: rejection-sampling fine-tuning")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train and save the adapter to solution/rft_model")
    train.add_argument("--direct-questions", type=int, default=1500)
    train.add_argument("--epochs", type=float, default=1.0)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    test = commands.add_parser("test", help="accuracy of the saved adapter on valid[:N]")
    test.add_argument("--max-question", type=int, default=100)
    args = parser.parse_args(argv)
    if args.command == "train":
        train_model(direct_questions=args.direct_questions, epochs=args.epochs, learning_rate=args.learning_rate)
    else:
        test_model(args.max_question)


if __name__ == "__main__":
    main()
