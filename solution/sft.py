"""Part 3: LoRA supervised fine-tuning that answers ``<answer>expression</answer>``.

The model learns program-aided answers: for "How many feet in 3 yards?" the target is
``<answer>3 * 0.9144 / 0.3048</answer>``, the quantity times the source unit's value in its
family's base unit, divided by the target unit's value.  The model only has to know one value
per unit (44 facts, not 270 pairwise factors); ``parse_answer`` evaluates the expression
exactly.  Training questions are generated fresh (none is in the validation split), half of them
put in other words than the generator's (other phrasings, and unit spellings such as ``in``,
``hrs`` or ``km/hr`` that the question reader knows), so that the model reads questions
whoever wrote them.

Command line: ``python -m solution.sft train`` and ``python -m solution.sft test``.
"""

from __future__ import annotations

from pathlib import Path

from .adapters import load_with_adapter
from .base_llm import BaseLLM
from .data import benchmark_on_valid

MODEL_DIR = Path(__file__).resolve().parent / "sft_model"
RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "sft"
TRAIN_COMMAND = "python -m solution.sft train"
TRAIN_SEED = 31
SHARED_SPELLING_QUESTIONS = 600
"""Rows writing "ounces" for the mass and for the fluid ounce equally often, on top of the generated
questions, whose bare "ounces" is the fluid ounce only one time in five.  With them SFT went from
0.962 to 0.986 on 1000 fresh questions and from 0.960 to 0.988 on the independent set
(BENCHMARKS.md, "The committed adapters")."""
REWORDED_SHARE = 0.5
PROMPT_PREFIX = "Q: "
"""Put before every question, in training and when answering.  Without it a question that starts with
its quantity ("6 lb is how many metric tons?") puts the number at the sequence's first position,
which a causal model uses as an attention sink and reads back badly: the adapter trained on bare
questions wrote another quantity for 19 of its 25 wrong answers on 400 fresh questions (0.9375);
with this prefix at answer time alone the same adapter scored 0.98 (``BENCHMARKS.md``)."""


def sft_prompt(question: str) -> str:
    """The prompt the SFT and RFT adapters see for ``question``, in training and when answering."""
    return PROMPT_PREFIX + question


class SFTModel(BaseLLM):
    """The fine-tuned model: the question after a short prefix, answered with tags and an expression."""

    BATCH_SIZE = 128
    """Prompts per micro-batch: the bare questions are short, so a decoding step costs about the same
    for 32 or 130 of them, and fewer micro-batches mean fewer steps (130 questions: 17.9 s against
    33.5 s in batches of 32, ``benchmarks/generation_throughput.py --part sft``)."""

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


def train_model(output_dir: Path = MODEL_DIR, questions: int = 4000, reworded_share: float = REWORDED_SHARE,
                checkpoint: str | None = None, shared_spelling_questions: int = SHARED_SPELLING_QUESTIONS,
                **config_overrides) -> Path:
    """Train the SFT adapter on ``questions`` generated questions and save it to ``output_dir``.

    ``shared_spelling_questions`` more rows write "ounces" for the mass and the fluid ounce
    equally often (:func:`.targets.shared_spelling_questions`).
    """
    from unitconv import model_loader

    from .data import Dataset
    from .training import LoraTrainingConfig, train_lora

    config = LoraTrainingConfig(**config_overrides)
    model = model_loader.load_model(checkpoint)
    tokenizer = model_loader.load_tokenizer(checkpoint)
    rows = training_pairs(questions, reworded_share=reworded_share)
    if shared_spelling_questions:
        valid = {row[0] for row in Dataset("valid").data}
        rows += shared_spelling_pairs(shared_spelling_questions, TRAIN_SEED, valid)
    pairs = [(sft_prompt(q), completion) for q, completion in rows]
    return train_lora(model, tokenizer, pairs, config, RUN_DIR, Path(output_dir))


def test_model(max_question: int = 100, checkpoint: str | None = None) -> None:
    """Print accuracy and answer rate of the saved adapter on ``valid[:max_question]``."""
    benchmark_on_valid(load(checkpoint), max_question)


def main(argv: list[str] | None = None) -> None:
    from .training import part_command_line

    part_command_line(argv, "Part 3: LoRA SFT", MODEL_DIR, train_model, load,
                      {"questions": (int, 4000, "generated training questions"),
                       "reworded_share": (float, REWORDED_SHARE, "share of them put in other words"),
                       "shared_spelling_questions": (int, SHARED_SPELLING_QUESTIONS,
                                                     "more rows writing \"ounces\" for either ounce")})


if __name__ == "__main__":
    main()
