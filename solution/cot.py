"""Part 2: chain-of-thought prompting with the chat template.

A 135M model knows few conversion factors and cannot multiply reliably, but it copies well.
The prompt is therefore built from worked examples: brief instructions, then training
questions that convert the same units as the one asked (see :mod:`.worked_examples`),
each answered in the program-aided form ``N * factor`` whose factor the example's own stored
answer gives.  The model has to carry the examples' factor over and put the new quantity in
front; ``parse_answer`` evaluates the expression exactly.  Nothing here converts units: the
factors come from the stored training answers, and the model writes every answer.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from .base_llm import BaseLLM
from .data import benchmark_on_valid
from .worked_examples import ExampleBank, WorkedExample

# The answering path reads the training split where a hand-in finds it in the course's layout:
# data/train.json beside the package (this project's data/ in a checkout; when graded, the
# grader puts a copy of the public training split there and nothing else).
TRAIN_FILE = Path(__file__).resolve().parent.parent / "data" / "train.json"
INSTRUCTIONS = (
    "You convert units. Reuse the factor of the examples that convert the same units, "
    "and always answer as <answer>quantity * factor</answer>, even for a quantity of 1."
)
EXAMPLE_COUNT = 6


@cache
def load_example_bank() -> ExampleBank:
    """Worked examples from the training split, read once per process."""
    return ExampleBank(json.loads(TRAIN_FILE.read_text()))


class CoTModel(BaseLLM):
    """The base model prompted with instructions and worked examples in its chat template."""

    example_count = EXAMPLE_COUNT
    instructions = INSTRUCTIONS

    @property
    def example_bank(self) -> ExampleBank:
        return load_example_bank()

    def example_answer(self, example: WorkedExample) -> str:
        """How a worked example's answer is written in the prompt: ``<answer>N * factor</answer>``."""
        return example.answer_text

    def format_prompt(self, question: str) -> str:
        messages = [{"role": "system", "content": self.instructions}]
        for example in self.example_bank.nearest(question, self.example_count):
            messages.append({"role": "user", "content": example.question})
            messages.append({"role": "assistant", "content": self.example_answer(example)})
        messages.append({"role": "user", "content": question})
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def load(checkpoint: str | None = None, **kwargs) -> CoTModel:
    """The chain-of-thought model on the chosen base model (embedded by default)."""
    kwargs.setdefault("max_new_tokens", 40)
    return CoTModel(checkpoint, **kwargs)


def test_model(max_question: int = 100) -> None:
    """Print accuracy and answer rate on the first ``max_question`` validation questions."""
    benchmark_on_valid(load(), max_question)


if __name__ == "__main__":
    import sys

    test_model(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
