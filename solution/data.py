"""The course's data interface: stored splits, the answer check and the benchmark loop."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from solution.base_llm import BaseLLM

DATA_DIR = Path(os.environ.get("UNITCONV_DATA_DIR", Path(__file__).resolve().parent.parent / "data"))


class DatasetError(ValueError):
    """A data file is missing or not a list of ``[question, answer, ...]`` rows."""


class Dataset:
    """A stored split (``train``, ``valid``, ``rft``): a list of ``[question, answer, ...]`` rows."""

    def __init__(self, split: str, data_dir: Path | None = None):
        path = Path(data_dir or DATA_DIR) / f"{split}.json"
        if not path.is_file():
            raise DatasetError(f"{path}: no such data file; run `python -m solution.questions` to make it")
        try:
            rows = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}: not valid JSON ({error}); remake it") from None
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) >= 2 for r in rows):
            raise DatasetError(f"{path}: expected a JSON list of [question, answer] rows")
        self.path = path
        self.data = rows

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: int):
        return self.data[idx]


def is_answer_valid(answer: float, correct_answer: float, relative_tolerance: float = 0.05) -> bool:
    """The course's rule: within 5% after rounding both to 3 decimals; NaN or inf is wrong."""
    try:
        answer, correct_answer = float(answer), float(correct_answer)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(answer) and math.isfinite(correct_answer)):
        return False
    answer, correct_answer = round(answer, 3), round(correct_answer, 3)
    if correct_answer == 0:
        return abs(answer) < 0.001
    return abs(answer - correct_answer) < relative_tolerance * abs(correct_answer)


@dataclass
class BenchmarkResult:
    """Accuracy and answer rate (share of answers that are numbers) over a question set."""

    @dataclass
    class Sample:
        question: str
        answer: float
        correct_answer: float
        is_correct: bool

    accuracy: float
    answer_rate: float
    samples: list[Sample]

    @classmethod
    def from_answers(cls, answers: list[float], dataset, max_question: int) -> BenchmarkResult:
        samples = [
            cls.Sample(question=item[0], answer=float(a), correct_answer=float(item[1]),
                       is_correct=is_answer_valid(a, item[1]))
            for item, a in zip(dataset, answers, strict=False)
        ][:max_question]
        count = max(len(samples), 1)
        return cls(
            accuracy=sum(s.is_correct for s in samples) / count,
            answer_rate=sum(math.isfinite(s.answer) for s in samples) / count,
            samples=samples,
        )


def benchmark(func: BaseLLM, dataset, max_question: int) -> BenchmarkResult:
    """Answer the first ``max_question`` questions of ``dataset`` with ``func`` and score them."""
    rows = [dataset[i] for i in range(min(len(dataset), max_question))]
    answers = func.answer(*[row[0] for row in rows])
    return BenchmarkResult.from_answers(answers, rows, max_question)
