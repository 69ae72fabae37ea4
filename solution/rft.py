"""Part 4, step 2: rejection-sampling fine-tuning.

``data/rft.json`` holds answer chains the SFT model sampled at temperature 0.7 on training
questions, kept only when correct (``python -m solution.datagen``).  Training continues from
the SFT adapter on those chains mixed with freshly generated direct-answer rows in the same
program-aided format, so the model is trained on what it already gets right plus new facts.

Command line: ``python -m solution.rft train`` and ``python -m solution.rft test``.
"""

from __future__ import annotations

import json
from pathlib import Path

from unitconv.paths import data_dir

from .adapters import load_with_adapter
from .arithmetic import parse_tagged_answer
from .data import benchmark_on_valid
from .sft import SFTModel

MODEL_DIR = Path(__file__).resolve().parent / "rft_model"
RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "rft"
TRAIN_COMMAND = "python -m solution.datagen && python -m solution.rft train"
DIRECT_SEED = 47


class RFTModel(SFTModel):
    """The RFT model answers like the SFT model: the question, then its answer chain."""


def load(checkpoint: str | None = None, **kwargs) -> RFTModel:
    """The base model with the adapter of ``rft_model/`` beside this file (clear error when missing)."""
    return load_with_adapter(MODEL_DIR, RFTModel, TRAIN_COMMAND, checkpoint, **kwargs)


def rft_pairs(rft_json: Path | None = None) -> list[tuple[str, str]]:
    """``(question, reasoning)`` pairs from the rejection-sampled data (default ``data/rft.json``)."""
    rft_json = Path(rft_json or data_dir() / "rft.json")
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

    from unitconv import model_loader

    from .sft import MODEL_DIR as SFT_DIR
    from .sft import training_pairs
    from .training import LoraTrainingConfig, train_lora

    config = LoraTrainingConfig(**config_overrides)
    pairs = rft_pairs() + training_pairs(direct_questions, seed=DIRECT_SEED)
    random.Random(config.seed).shuffle(pairs)
    model = model_loader.load_model(checkpoint)
    tokenizer = model_loader.load_tokenizer(checkpoint)
    return train_lora(model, tokenizer, pairs, config, RUN_DIR, Path(output_dir), init_adapter=SFT_DIR)


def test_model(max_question: int = 100, checkpoint: str | None = None) -> None:
    """Print accuracy and answer rate of the saved adapter on ``valid[:max_question]``."""
    benchmark_on_valid(load(checkpoint), max_question)


def main(argv: list[str] | None = None) -> None:
    from .training import LoraTrainingConfig, part_command_line

    part_command_line(argv, "Part 4: rejection-sampling fine-tuning", MODEL_DIR, train_model, load,
                      {"direct_questions": (int, 1500, "fresh direct-answer rows mixed with the chains")},
                      defaults=LoraTrainingConfig(learning_rate=1e-3))


if __name__ == "__main__":
    main()
