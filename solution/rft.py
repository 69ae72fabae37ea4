"""Part 4, step 2: rejection-sampling fine-tuning.

``data/rft.json`` holds reasoning the chain-of-thought model (:mod:`.cot`, its prompt with worked
examples) sampled at temperature 0.7 on training questions, kept only when correct by the
course's check and within 0.1% unrounded (``python -m solution.datagen``).  The RFT model is
trained to write that reasoning and answer from the question alone (the SFT prompt), with no
worked examples: what the few-shot prompt gets right becomes the adapter's own.  Training continues
from the SFT adapter on those chains mixed with freshly generated direct-answer rows in the
program-aided format; the adapter's ``training_config.json`` counts the rows of each source.

Rows are ``[question, answer, reasoning]`` as in the course, optionally with a fourth element
naming where the row came from (``"cot-sample"``, ``"sft-sample"``); both forms are read.

Training is :func:`train_model`, in five steps: load the base model, make the data, build the
``Trainer`` (on the SFT adapter), train, save the adapter with its configs (:class:`RFTConfig` as
``rft_config.json``).

Command line: ``python -m solution.rft train`` and ``python -m solution.rft test``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from unitconv.paths import data_dir

from .adapters import load_with_adapter
from .arithmetic import parse_tagged_answer
from .data import benchmark_on_valid
from .sft import SFTModel
from .training import LoraTrainingConfig

MODEL_DIR = Path(__file__).resolve().parent / "rft_model"
RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "rft"
TRAIN_COMMAND = "python -m solution.datagen && python -m solution.rft train"
DIRECT_SEED = 47
SHARED_SPELLING_QUESTIONS = 0
"""Direct rows whose question writes a unit by a spelling another family shares ("ounces").

None by default: the SFT adapter RFT starts from was trained with them
(:data:`.sft.SHARED_SPELLING_QUESTIONS`).  Added here instead, on an earlier SFT adapter, such rows
lifted fresh accuracy a little but cost questions of the independent set, the model reading a
bare "ounces" as the fluid ounce next to grams instead of as the mass ounce next to litres
(BENCHMARKS.md, "Shared spellings").
"""
LEARNING_RATE = 1e-3
"""Half of SFT's: RFT continues from the SFT adapter and should not undo it."""


class RFTModel(SFTModel):
    """The RFT model answers like the SFT model: the question, then its answer chain."""


def load(checkpoint: str | None = None, **kwargs) -> RFTModel:
    """The base model with the adapter of ``rft_model/`` beside this file (clear error when missing)."""
    return load_with_adapter(MODEL_DIR, RFTModel, TRAIN_COMMAND, checkpoint, **kwargs)


def rft_rows(rft_json: Path | None = None) -> list[tuple[str, float, str, str]]:
    """``(question, answer, reasoning, source)`` of every stored row (default ``data/rft.json``).

    Reads the course's ``[question, answer, reasoning]`` rows (source ``"unknown"``) and this
    project's ``[question, answer, reasoning, source]`` rows.
    """
    rft_json = Path(rft_json or data_dir() / "rft.json")
    if not rft_json.is_file():
        raise FileNotFoundError(f"{rft_json}: no RFT data; make it with `python -m solution.datagen`")
    rows = json.loads(rft_json.read_text())
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) in (3, 4) for r in rows):
        raise ValueError(f"{rft_json}: expected [question, answer, reasoning(, source)] rows; "
                         f"remake it with `python -m solution.datagen`")
    return [(row[0], float(row[1]), row[2], row[3] if len(row) == 4 else "unknown") for row in rows]


def rft_pairs(rft_json: Path | None = None, with_source: bool = False) -> list[tuple[str, ...]]:
    """``(question, reasoning)`` pairs (``with_source``: and the row's source) of the exactly right rows."""
    return [(q, reasoning if reasoning.startswith(" ") else " " + reasoning, *((source,) if with_source else ()))
            for q, answer, reasoning, source in rft_rows(rft_json) if exactly_right(reasoning, answer)]


def exactly_right(reasoning: str, answer: float) -> bool:
    """Stricter than the course's check, which accepts any value under 0.0005 for a tiny answer.

    A chain like ``4 * 1 / 1e9`` for "5 bytes to gigabytes" passes the course's check (both
    round to 0) but teaches a wrongly copied quantity, so training keeps only chains within
    0.1% of the answer, unrounded.
    """

    value = parse_tagged_answer(reasoning)
    return abs(value - answer) <= 1e-3 * abs(answer)


@dataclass
class RFTConfig:
    """What the RFT adapter learns from besides the sampled chains; saved as ``rft_config.json`` beside it."""

    direct_questions: int = field(default=1500, metadata={"help": "fresh direct-answer rows mixed with the chains"})
    shared_spelling_questions: int = field(default=SHARED_SPELLING_QUESTIONS, metadata={
        "help": "direct rows writing a unit by a spelling two families share"})


def training_data(config: RFTConfig, seed: int, rft_json: Path | None = None) -> tuple[list[tuple[str, str]], dict]:
    """``(prompt, completion)`` pairs RFT trains on, shuffled with ``seed``, and the row count of each source.

    The exactly right chains of ``rft_json`` (default ``data/rft.json``), ``direct_questions``
    fresh direct-answer rows, and ``shared_spelling_questions`` direct rows writing a unit by a
    spelling that names a unit of another family too (:func:`.targets.shared_spelling_questions`).
    The prompts are the SFT prompt of the question alone, as when answering.
    """
    import random
    from collections import Counter

    from .data import Dataset
    from .sft import sft_prompt, shared_spelling_pairs, training_pairs

    rows = rft_pairs(rft_json, with_source=True)
    rows += [(q, completion, "direct") for q, completion in training_pairs(config.direct_questions, seed=DIRECT_SEED)]
    if config.shared_spelling_questions:
        valid = {row[0] for row in Dataset("valid").data}
        rows += [(q, completion, "shared-spelling")
                 for q, completion in shared_spelling_pairs(config.shared_spelling_questions, DIRECT_SEED, valid)]
    random.Random(seed).shuffle(rows)
    return [(sft_prompt(q), c) for q, c, _ in rows], dict(Counter(source for *_, source in rows))


def train_model(config: RFTConfig | None = None, lora: LoraTrainingConfig | None = None,
                output_dir: Path = MODEL_DIR, checkpoint: str | None = None, rft_json: Path | None = None,
                sft_adapter: Path | None = None) -> Path:
    """Continue the SFT adapter on :func:`training_data` and save it to ``output_dir``.

    ``rft_json`` defaults to ``data/rft.json``, ``sft_adapter`` to the package's ``sft_model/``,
    ``lora`` to the LoRA defaults at :data:`LEARNING_RATE`; ``output_dir`` must lie inside the
    package (:class:`.training.AdapterLocationError`).
    """
    from unitconv import model_loader

    from .sft import MODEL_DIR as SFT_DIR
    from .training import check_adapter_location, lora_model, lora_trainer, save_trained

    config, lora = config or RFTConfig(), lora or LoraTrainingConfig(learning_rate=LEARNING_RATE)
    init_adapter = Path(sft_adapter or SFT_DIR)
    check_adapter_location(output_dir, MODEL_DIR.parent)
    # 1. Load the base model and its tokenizer.
    model = model_loader.load_model(checkpoint)
    tokenizer = model_loader.load_tokenizer(checkpoint)
    # 2. Data: the sampled chains and fresh direct-answer rows, as SFT prompts and completions.
    pairs, sources = training_data(config, lora.seed, rft_json)
    print(f"training rows by source: {sources}", flush=True)
    # 3. The SFT adapter on the model, trainable, and a Trainer over the pairs (the start loss measured).
    run = lora_trainer(lora_model(model, lora, init_adapter), tokenizer, pairs, lora, RUN_DIR)
    # 4. Train.
    run.trainer.train()
    # 5. Save the adapter, once its loss fell, with the LoRA config and this part's.
    return save_trained(run, Path(output_dir), {"init_adapter": init_adapter.name, "sources": sources},
                        files={"rft_config.json": asdict(config)})


def test_model(max_question: int = 100, checkpoint: str | None = None) -> None:
    """Print accuracy and answer rate of the saved adapter on ``valid[:max_question]``."""
    benchmark_on_valid(load(checkpoint), max_question)


def main(argv: list[str] | None = None) -> None:
    from .commands import part_command_line

    part_command_line(argv, "Part 4: rejection-sampling fine-tuning", MODEL_DIR, train_model, load, RFTConfig,
                      LoraTrainingConfig(learning_rate=LEARNING_RATE))


if __name__ == "__main__":
    main()
