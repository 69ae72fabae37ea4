"""Part 3: LoRA supervised fine-tuning that answers ``<answer>expression</answer>``.

The model learns program-aided answers: for "How many feet in 3 yards?" the target is
``<answer>3 * 0.9144 / 0.3048</answer>``, the quantity times the source unit's value in its
family's base unit, divided by the target unit's value.  The model only has to know one value
per unit (44 facts, not 270 pairwise factors); ``parse_answer`` evaluates the expression
exactly.  Training questions are generated fresh (none is in the validation split), half of them
put in other words than the generator's (other phrasings, and unit spellings such as ``in``,
``hrs`` or ``km/hr`` that the question reader knows), so that the model reads questions
whoever wrote them.

Training is :func:`train_model`, in five steps: load the base model, make the data, build the
``Trainer``, train, save the adapter with its configs (:class:`SFTConfig` as ``sft_config.json``).

Command line: ``python -m solution.sft train`` and ``python -m solution.sft test``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .adapters import load_with_adapter
from .base_llm import BaseLLM
from .data import benchmark_on_valid
from .training import LoraTrainingConfig

MODEL_DIR = Path(__file__).resolve().parent / "sft_model"
RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "sft"
TRAIN_COMMAND = "python -m solution.sft train"
TRAIN_SEED = 31
SHARED_SPELLING_QUESTIONS = 600
"""Rows writing "ounces" for the mass and for the fluid ounce equally often, on top of the generated
questions, whose bare "ounces" is the fluid ounce only one time in five: without them the model
reads a bare "ounces" as the fluid ounce too rarely (BENCHMARKS.md, "Figures behind the reference's
choices")."""
REWORDED_SHARE = 0.5
PROMPT_PREFIX = "Q: "
"""Put before every question, in training and when answering.  Without it a question that starts with
its quantity ("6 lb is how many metric tons?") puts the number at the sequence's first position,
which a causal model uses as an attention sink and reads back badly: the adapter trained on bare
questions wrote another quantity for most of its wrong answers (BENCHMARKS.md, "Figures behind the
reference's choices")."""


def sft_prompt(question: str) -> str:
    """The prompt the SFT and RFT adapters see for ``question``, in training and when answering."""
    return PROMPT_PREFIX + question


class SFTModel(BaseLLM):
    """The fine-tuned model: the question after a short prefix, answered with tags and an expression."""

    BATCH_SIZE = 128
    """Prompts per micro-batch: the bare questions are short, so a decoding step costs about the same
    for 32 or 130 of them, and fewer micro-batches mean fewer steps (measured with
    ``benchmarks/generation_throughput.py --part sft``; BENCHMARKS.md, "Figures behind the reference's
    choices")."""

    def __init__(self, checkpoint: str | None = None, **kwargs):
        kwargs.setdefault("max_new_tokens", 40)
        kwargs.setdefault("batch_size", self.BATCH_SIZE)
        super().__init__(checkpoint, **kwargs)

    def format_prompt(self, question: str) -> str:
        return sft_prompt(question)


def load(checkpoint: str | None = None, **kwargs) -> SFTModel:
    """The base model with the adapter of ``sft_model/`` beside this file (clear error when missing)."""
    return load_with_adapter(MODEL_DIR, SFTModel, TRAIN_COMMAND, checkpoint, **kwargs)


def training_pairs(count: int, seed: int = TRAIN_SEED, reworded_share: float = REWORDED_SHARE) -> list[tuple[str, str]]:
    """``(question, completion)`` pairs of fresh questions, none of them in the validation split.

    The questions are bare; :func:`sft_prompt` makes them prompts for training.

    A ``reworded_share`` of them is put in other words than the generator's
    (:func:`.targets.reworded`), so that the model reads questions worded by anyone.
    """
    import random

    from unitconv.questions import make_questions

    from .data import Dataset
    from .targets import answer_completion, reworded

    valid = {row[0] for row in Dataset("valid").data}
    rng = random.Random(seed)
    questions = [reworded(q, rng) if rng.random() < reworded_share else q
                 for q in make_questions(count, seed, exclude=valid)]
    return [(q.text, answer_completion(q)) for q in questions if q.text not in valid]


def shared_spelling_pairs(count: int, seed: int, exclude: set[str]) -> list[tuple[str, str]]:
    """``(question, completion)`` pairs of :func:`.targets.shared_spelling_questions`, none in ``exclude``
    (the training scripts pass the validation split's questions)."""
    import random

    from .targets import answer_completion, shared_spelling_questions

    return [(q.text, answer_completion(q)) for q in shared_spelling_questions(count, random.Random(seed))
            if q.text not in exclude]


@dataclass
class SFTConfig:
    """What the SFT adapter learns from; saved as ``sft_config.json`` beside the adapter."""

    questions: int = field(default=4000, metadata={"help": "generated training questions"})
    reworded_share: float = field(default=REWORDED_SHARE, metadata={"help": "share of them put in other words"})
    shared_spelling_questions: int = field(default=SHARED_SPELLING_QUESTIONS,
                                           metadata={"help": 'more rows writing "ounces" for either ounce'})


def training_data(config: SFTConfig) -> list[tuple[str, str]]:
    """``(prompt, completion)`` pairs SFT trains on: generated questions, then the shared-spelling rows.

    The prompts are :func:`sft_prompt` of the questions, as when answering.
    """
    from .data import Dataset

    rows = training_pairs(config.questions, reworded_share=config.reworded_share)
    if config.shared_spelling_questions:
        valid = {row[0] for row in Dataset("valid").data}
        rows += shared_spelling_pairs(config.shared_spelling_questions, TRAIN_SEED, valid)
    return [(sft_prompt(q), completion) for q, completion in rows]


def train_model(config: SFTConfig | None = None, lora: LoraTrainingConfig | None = None,
                output_dir: Path = MODEL_DIR, checkpoint: str | None = None) -> Path:
    """Train the SFT adapter on :func:`training_data` and save it to ``output_dir`` (inside the package)."""
    from unitconv import model_loader

    from .training import check_adapter_location, lora_model, lora_trainer, save_trained

    config, lora = config or SFTConfig(), lora or LoraTrainingConfig()
    check_adapter_location(output_dir, MODEL_DIR.parent)
    # 1. Load the base model and its tokenizer.
    model = model_loader.load_model(checkpoint)
    tokenizer = model_loader.load_tokenizer(checkpoint)
    # 2. Data: prompts of generated questions, and their program-aided answers.
    pairs = training_data(config)
    # 3. A fresh LoRA adapter on the model, and a Trainer over the pairs (the start loss measured).
    run = lora_trainer(lora_model(model, lora), tokenizer, pairs, lora, RUN_DIR)
    # 4. Train.
    run.trainer.train()
    # 5. Save the adapter, once its loss fell, with the LoRA config and this part's.
    return save_trained(run, Path(output_dir), {"init_adapter": None}, files={"sft_config.json": asdict(config)})


def test_model(max_question: int = 100, checkpoint: str | None = None) -> None:
    """Print accuracy and answer rate of the saved adapter on ``valid[:max_question]``."""
    benchmark_on_valid(load(checkpoint), max_question)


def main(argv: list[str] | None = None) -> None:
    from .commands import part_command_line

    part_command_line(argv, "Part 3: LoRA SFT", MODEL_DIR, train_model, load, SFTConfig)


if __name__ == "__main__":
    main()
