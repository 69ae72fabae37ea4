"""What a hand-in provides: its entry points and the methods the grader calls on its models.

Shared by both sides of the process boundary (the worker calls these methods; the grader's
detectors watch them), so it holds names and a protocol only and imports nothing of the grader.
The course's starter code defines the same methods; ``solution/base_llm.py`` implements them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

ENTRY_POINTS = ("base", "cot", "sft", "rft")
"""Entry points a check may need: ``base`` is the hand-in's ``BaseLLM`` class, the others its
``load()`` functions of the parts."""

ANSWERING_METHODS = ("answer", "parse_answer", "format_prompt", "generate", "batched_generate")
"""Methods whose replacement at run time lets a hand-in answer without its model."""


@runtime_checkable
class SubmissionModel(Protocol):
    """What an entry point returns (``BaseLLM()``, ``load_cot()``, ...).

    ``generate(prompt) -> str``: the completion of one prompt (only the new text).

    ``batched_generate(prompts) -> list[str]``: one completion per prompt, in order;
    ``batched_generate(prompts, num_return_sequences=n, temperature=t) -> list[list[str]]``: ``n``
    completions per prompt.

    ``answer(*questions) -> list[float]``: one number per question (NaN when unreadable), made by
    formatting each question (``format_prompt``), generating, and parsing (``parse_answer``).
    """

    def generate(self, prompt: str) -> str: ...

    def batched_generate(self, prompts: list[str], num_return_sequences: int | None = None,
                         temperature: float = 0) -> list[str] | list[list[str]]: ...

    def answer(self, *questions: str) -> list[float]: ...
