"""The course's data interface: stored splits, the answer check and the benchmark loop.

Splits are read from :func:`unitconv.paths.data_dir` (``$UNITCONV_DATA_DIR``, else the ``data/``
folder beside the package, as in the course's layout).  The answer check is the hand-in's own,
as in the course's starter code; the grader never uses it (it has its own in
``grader_plugin/marking/scoring.py``, and a test runs both on the same cases).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from unitconv.paths import data_dir as default_data_dir

if TYPE_CHECKING:
    from .base_llm import BaseLLM


class DatasetError(ValueError):
    """A data file is missing or not a list of ``[question, answer, ...]`` rows."""


class Dataset:
    """A stored split (``train``, ``valid``, ``rft``): a list of ``[question, answer, ...]`` rows."""

    def __init__(self, split: str, data_dir: Path | None = None):
        path = Path(data_dir or default_data_dir()) / f"{split}.json"
        if not path.is_file():
            raise DatasetError(f"{path}: no such data file; run `python -m unitconv.questions` to make the splits")
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


def benchmark_on_valid(model: BaseLLM, max_question: int = 100) -> None:
    """Development helper: print accuracy and answer rate of ``model`` on ``valid[:max_question]``."""
    result = benchmark(model, Dataset("valid"), max_question)
    print(f"accuracy={result.accuracy:.3f} answer_rate={result.answer_rate:.3f}")
