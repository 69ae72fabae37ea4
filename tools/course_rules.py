"""The course's grading rules for this assignment, written from their description, run the course's way.

A check that our bundle is a drop-in hand-in: nothing of this project is imported, only the
hand-in, torch and the standard library.  The hand-in is imported in this process, as the course's
grader does it: a folder from its parent folder; a zip extracted to a temporary folder with the
``data/`` folder (``--data``, default: this checkout's) linked beside the extracted package.  Then
five parts are graded with the course's points, bounds and rounding:

- ``generate`` (10): ``BaseLLM()``, ``generate()`` on each of the first 32 questions of the
  hand-in's own ``data.Dataset("valid")``; the score falls linearly from 1 at a mean token loss of
  6.2 to 0 at 8.0 (``--loss-bounds``);
- ``batched_generate`` (15): the same with one ``batched_generate(questions)`` call;
- ``cot``, ``sft``, ``rft`` (25 each): ``load_X()``, then ``data.benchmark(model, Dataset("valid"), 100)``
  of the hand-in; accuracy ramps 0-0.4, 0.4-0.6 and 0.6-0.7, RFT plus 0.2 * ramp(0.7-0.8) in the
  same case (up to 30 points).

The loss is the course's: the hand-in's tokenizer on ``question + output`` with padding, the
hand-in's model on the grader's device, cross entropy of each next token averaged over every
shifted position, padding included (the course multiplies that mean by the mask and divides by
the mask's sum, which gives the mean back).  Every model passes the 380M parameter check first.
Each part scores ``int(points * score + 0.5)``; any exception scores 0 and its type name is kept.
The course's time limits (on its GPUs) are recorded, and only enforced with ``--enforce-time-limits``.

Usage: ``python tools/course_rules.py SUBMISSION [--data DIR] [--questions N] [--generate-questions N]
[--loss-bounds LOW HIGH] [--parts generate,cot] [--hide-module NAME] --json OUT``
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.abc
import json
import math
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

MAX_PARAMETERS = 380_000_000
LOSS_BOUNDS = (6.2, 8.0)
GENERATE_QUESTIONS = 32
ACCURACY_QUESTIONS = 100
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data"
RFT_EXTRA = (0.7, 0.8, 0.2)
"""RFT's extra credit: accuracy ramp and the share of the part's points it adds (5 of 25)."""


@dataclass(frozen=True)
class Part:
    name: str
    points: int
    low: float
    high: float
    limit_s: float
    """The course's time limit for the part (measured after it returns, on the course's GPUs)."""


PARTS = (
    Part("generate", 10, *LOSS_BOUNDS, 40),
    Part("batched_generate", 15, *LOSS_BOUNDS, 15),
    Part("cot", 25, 0.0, 0.4, 60),
    Part("sft", 25, 0.4, 0.6, 60),
    Part("rft", 25, 0.6, 0.7, 60),
)


@dataclass
class Outcome:
    name: str
    points: int
    max_points: int
    score: float | None = None
    value: float | None = None
    """The mean token loss (generation parts) or the accuracy (the others)."""
    answer_rate: float | None = None
    loss_real_tokens: float | None = None
    """Not a course figure: the same loss over the attended positions only (padding left out)."""
    error: str | None = None
    """The exception's type name, as the course reports it; ``error_detail`` has its message."""
    error_detail: str | None = None
    seconds: float = 0.0
    course_limit_s: float = 0.0


class SubmissionImportError(RuntimeError):
    """The hand-in could not be imported; the course scores every part 0."""


class HiddenModules(importlib.abc.MetaPathFinder):
    """An import hook that makes modules look not installed (as on a machine without them)."""

    def __init__(self, names: list[str]):
        self.names = tuple(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden by --hide-module)", name=fullname)
        return None


def grader_device() -> str:
    """The course grader's device: cuda, else mps, else cpu."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def import_submission(path: Path, data: Path) -> tuple[object, Path | None]:
    """The hand-in's package imported the course's way, and the temporary folder of a zip (or None)."""
    scratch = None
    if path.is_dir():
        parent, name = path.resolve().parent, path.name
    elif zipfile.is_zipfile(path):
        scratch = Path(tempfile.mkdtemp(prefix="course-rules-"))
        with zipfile.ZipFile(path) as archive:
            archive.extractall(scratch)
        folders = [p for p in scratch.iterdir() if p.is_dir()]
        if len(folders) != 1:
            raise SubmissionImportError(f"{path}: malformed zip, expected one top-level folder, got {len(folders)}")
        if data.is_dir() and not (scratch / "data").exists():
            (scratch / "data").symlink_to(data.resolve(), target_is_directory=True)
        parent, name = scratch, folders[0].name
    else:
        raise SubmissionImportError(f"{path}: give a package folder or a zip of one")
    sys.path.insert(0, str(parent))
    try:
        return importlib.import_module(name), scratch
    except Exception as error:  # the course logs the import error and grades nothing
        raise SubmissionImportError(f"{name}: import failed ({type(error).__name__}: {error})") from error


def check_size(model) -> None:
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise ValueError(f"Model has {count} parameters, which is greater than the maximum allowed {MAX_PARAMETERS}")


def ramp(value: float, low: float, high: float) -> float:
    return min(max((value - low) / (high - low), 0.0), 1.0)


def mean_token_loss(llm, texts: list[str], device: str) -> tuple[float, float]:
    """The course's generation loss of ``texts`` under the hand-in's own tokenizer and model, and the
    same mean over attended positions only (a diagnostic, not the course's figure)."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        batch = llm.tokenizer(texts, return_tensors="pt", padding=True)
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        logits = llm.model(input_ids=ids, attention_mask=mask).logits
        predicted, following = logits[:, :-1, :], ids[:, 1:]
        losses = F.cross_entropy(predicted.reshape(-1, predicted.shape[-1]), following.reshape(-1), reduction="none")
        attended = mask[:, 1:].reshape(-1).to(losses.dtype)
        real = (losses * attended).sum() / attended.sum()
    return float(losses.mean().cpu().item()), float(real.cpu().item())


def grade_generation(module, part: Part, count: int, device: str, bounds: tuple[float, float]) -> Outcome:
    outcome = Outcome(part.name, 0, part.points, course_limit_s=part.limit_s)
    llm = module.BaseLLM()
    check_size(llm.model)
    llm.model.eval()
    dataset = module.data.Dataset("valid")
    questions = [dataset[i][0] for i in range(count)]
    if part.name == "generate":
        outputs = [llm.generate(question) for question in questions]
    else:
        outputs = llm.batched_generate(questions)
    texts = [questions[i] + outputs[i] for i in range(len(questions))]  # as the course: by index, plain `+`
    outcome.value, outcome.loss_real_tokens = mean_token_loss(llm, texts, device)
    outcome.score = 1.0 - ramp(outcome.value, *bounds)
    return outcome


def grade_accuracy(module, part: Part, count: int) -> Outcome:
    outcome = Outcome(part.name, 0, part.points, course_limit_s=part.limit_s)
    dataset = module.data.Dataset("valid")
    llm = getattr(module, f"load_{part.name}")()
    check_size(llm.model)
    llm.model.eval()
    result = module.data.benchmark(llm, dataset, count)
    outcome.value = float(result.accuracy)
    outcome.answer_rate = float(getattr(result, "answer_rate", math.nan))
    outcome.score = ramp(outcome.value, part.low, part.high)
    if part.name == "rft":
        outcome.score += RFT_EXTRA[2] * ramp(outcome.value, RFT_EXTRA[0], RFT_EXTRA[1])
    return outcome


def grade_part(module, part: Part, args: argparse.Namespace, device: str) -> Outcome:
    start = time.perf_counter()
    try:
        if part.name in ("generate", "batched_generate"):
            outcome = grade_generation(module, part, args.generate_questions, device, tuple(args.loss_bounds))
        else:
            outcome = grade_accuracy(module, part, args.questions)
        outcome.seconds = round(time.perf_counter() - start, 2)
        if args.enforce_time_limits and outcome.seconds > part.limit_s:
            raise TimeoutError(f"Timeout after {outcome.seconds:.2f} s")
        if math.isnan(outcome.score):
            raise ValueError(f"the measured value is {outcome.value}")
        outcome.points = int(part.points * outcome.score + 0.5)
    except Exception as error:
        outcome = Outcome(part.name, 0, part.points, error=type(error).__name__, course_limit_s=part.limit_s,
                          error_detail="".join(traceback.format_exception_only(error)).strip(),
                          seconds=round(time.perf_counter() - start, 2))
    gc.collect()
    return outcome


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", type=Path, help="package folder or zip")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder put beside an extracted zip")
    parser.add_argument("--questions", type=int, default=ACCURACY_QUESTIONS, help="accuracy questions (100)")
    parser.add_argument("--generate-questions", type=int, default=GENERATE_QUESTIONS,
                        help="questions of the generation parts (32)")
    parser.add_argument("--loss-bounds", type=float, nargs=2, default=list(LOSS_BOUNDS), metavar=("LOW", "HIGH"))
    parser.add_argument("--parts", default=",".join(p.name for p in PARTS), help="comma-separated parts (all)")
    parser.add_argument("--hide-module", action="append", default=[], metavar="NAME",
                        help="make NAME look not installed (repeatable)")
    parser.add_argument("--enforce-time-limits", action="store_true",
                        help="score 0 for a part slower than the course's limit (set for the course's GPUs)")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = parser.parse_args(argv)
    unknown = set(args.parts.split(",")) - {p.name for p in PARTS}
    if unknown:
        parser.error(f"--parts: unknown {sorted(unknown)}; choose from {', '.join(p.name for p in PARTS)}")
    low, high = args.loss_bounds
    if not low < high:
        parser.error(f"--loss-bounds {low} {high}: LOW must be below HIGH")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.hide_module:
        sys.meta_path.insert(0, HiddenModules(args.hide_module))
    report = {"submission": str(args.submission), "questions": args.questions,
              "generate_questions": args.generate_questions, "loss_bounds": args.loss_bounds,
              "hidden_modules": args.hide_module, "import_error": None}
    chosen = [p for p in PARTS if p.name in args.parts.split(",")]
    started = time.perf_counter()
    scratch = None
    try:
        module, scratch = import_submission(args.submission, args.data)
        report["package"] = module.__name__
        report["device"] = device = grader_device()
        outcomes = [grade_part(module, part, args, device) for part in chosen]
    except SubmissionImportError as error:
        report["import_error"] = str(error)
        outcomes = [Outcome(p.name, 0, p.points, error="ImportError", error_detail=str(error)) for p in chosen]
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    report["parts"] = [asdict(o) for o in outcomes]
    report["total"] = sum(o.points for o in outcomes)
    report["max_total"] = sum(o.max_points for o in outcomes)
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    for o in outcomes:
        value = "-" if o.value is None else f"{o.value:.4f}"
        print(f"{o.name:<18}{o.points:>3} / {o.max_points:<3} value {value:<8} {o.seconds:>7.1f} s  {o.error or ''}")
    print(f"total {report['total']} / {report['max_total']} in {report['seconds']} s; written to {args.json}")
    return 1 if report["import_error"] else 0


if __name__ == "__main__":
    sys.exit(main())
