"""Part 2: chain-of-thought prompting with the chat template.

A 135M model knows few conversion factors and cannot multiply reliably, but it copies well.
The prompt is therefore built from worked examples: brief instructions, then the training
questions most similar in wording to the one asked (nearest neighbours by word overlap, read
from ``data/train.json``), each answered in the program-aided form ``N * factor`` whose factor
the example's own stored answer gives.  The model has to pick the example that converts the
same units, copy its factor and put the new quantity in front; ``parse_answer`` evaluates the
expression exactly.  Nothing here converts units: a question whose units no example shares is
left to the model's own knowledge.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from functools import cached_property
from pathlib import Path

from solution.arithmetic import compact_number
from solution.base_llm import BaseLLM

TRAIN_FILE = Path(__file__).resolve().parent.parent / "data" / "train.json"
INSTRUCTIONS = (
    "You convert units. Find the example that converts the same units, reuse its factor, "
    "and answer as quantity * factor inside <answer></answer> tags."
)
EXAMPLE_COUNT = 6
_WORD = re.compile(r"[A-Za-z][A-Za-z/*^0-9]*")
_QUANTITY = re.compile(r"\b(\d+)\b")


def _words(text: str) -> Counter:
    return Counter(word.lower() for word in _WORD.findall(text))


def _worked_answer(question: str, answer: float) -> str | None:
    """``N * factor`` for a stored training row, or None when the row has no single quantity."""
    quantities = _QUANTITY.findall(question)
    if len(quantities) != 1 or int(quantities[0]) == 0 or not math.isfinite(answer):
        return None
    quantity = int(quantities[0])
    return f"<answer>{quantity} * {compact_number(answer / quantity)}</answer>"


class CoTModel(BaseLLM):
    """The base model prompted with instructions and similar worked examples in its chat template."""

    example_count = EXAMPLE_COUNT

    @cached_property
    def examples(self) -> list[tuple[str, str, Counter]]:
        """Worked examples from the training split: question, answer text, and its words."""
        rows = json.loads(TRAIN_FILE.read_text())
        worked = ((q, _worked_answer(q, float(a))) for q, a, *_ in rows)
        return [(q, text, _words(q)) for q, text in worked if text]

    @cached_property
    def word_weights(self) -> dict[str, float]:
        """Squared inverse document frequency: rare words (units) count, phrasing words barely."""
        counts = Counter(word for _, _, words in self.examples for word in words)
        total = len(self.examples)
        return {word: math.log(total / count) ** 2 for word, count in counts.items()}

    def nearest_examples(self, question: str) -> list[tuple[str, str]]:
        """The training examples whose words overlap most with ``question`` (most similar last)."""
        asked = set(_words(question))
        weights = self.word_weights

        def similarity(example):
            return sum(weights[word] for word in asked & example[2].keys())

        nearest = sorted(self.examples, key=similarity, reverse=True)[:self.example_count]
        return [(q, text) for q, text, _ in reversed(nearest)]

    def format_prompt(self, question: str) -> str:
        messages = [{"role": "system", "content": INSTRUCTIONS}]
        for example_question, example_answer in self.nearest_examples(question):
            messages.append({"role": "user", "content": example_question})
            messages.append({"role": "assistant", "content": example_answer})
        messages.append({"role": "user", "content": question})
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def load(checkpoint: str | None = None, **kwargs) -> CoTModel:
    """The chain-of-thought model on the chosen base model (embedded by default)."""
    kwargs.setdefault("max_new_tokens", 40)
    return CoTModel(checkpoint, **kwargs)


def test_model(max_question: int = 100) -> None:
    """Print accuracy and answer rate on the first ``max_question`` validation questions."""
    from solution.data import Dataset, benchmark

    result = benchmark(load(), Dataset("valid"), max_question)
    print(f"accuracy={result.accuracy:.3f} answer_rate={result.answer_rate:.3f}")


if __name__ == "__main__":
    import sys

    test_model(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
