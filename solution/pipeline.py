"""One command from nothing to a graded hand-in: ``python -m solution pipeline``.

Five stages run in order, each a function of the settings and the paths:

- ``sft``: the SFT adapter (``sft_model/``) from freshly generated questions;
- ``rft-data``: ``data/rft.json``, reasoning sampled from the chain-of-thought model (its prompt
  with worked examples) and kept when exactly right (:mod:`.datagen`);
- ``rft``: the RFT adapter (``rft_model/``), the SFT adapter trained further on that reasoning;
- ``bundle``: the hand-in zip (``runs/pipeline/homework.zip``) made from the package folder;
- ``grade``: the zip graded as the course grades it (the table, and ``runs/pipeline/grade.json``).

A stage is skipped when its stamp (``runs/pipeline/STAGE.stamp.json``) shows it already ran with the
same settings on inputs with the same content, and its outputs are still the ones it made.
Content fingerprints (SHA-256), not modification times, decide, because a checkout or a copy
changes times without changing content.  Inputs include the modules whose code makes the
stage's output, so a code change re-runs the stages it touches.  The stamp is written only after
a stage finished, and every stage writes its outputs atomically (adapters by rename, JSON and
zip by ``os.replace``; sampling also resumes from its ``.partial.jsonl``), so an interruption
costs at most the stage that was running.  ``--force STAGE`` (or ``all``) re-runs regardless.

The bundle and grade stages use the grader's own library (``make_bundle``, ``grade``).  They
import it inside functions named ``evaluate_*``, which the hand-in's static scan reads as
development helpers (the pipeline never runs when a hand-in is graded).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from unitconv.paths import data_dir

from .sft import SHARED_SPELLING_QUESTIONS

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
STAGES = ("sft", "rft-data", "rft", "bundle", "grade")


class PipelineError(RuntimeError):
    """A stage cannot run or failed in a way the user can fix; the message says how."""


@dataclass(frozen=True)
class PipelineSettings:
    """What the stages make, and how; the defaults reproduce the committed adapters' commands."""

    base_model: str
    sft_questions: int = 4000
    shared_spelling_questions: int = SHARED_SPELLING_QUESTIONS
    rft_questions: int = 1000
    oversample: int = 4
    temperature: float = 0.7
    sampler: str = "cot-units"
    direct_questions: int = 1500
    grade_questions: int = 100
    device: str | None = field(default=None, compare=False)  # where, not what: never re-runs a stage

    def __post_init__(self):
        counts = {"--sft-questions": self.sft_questions, "--rft-questions": self.rft_questions,
                  "--oversample": self.oversample, "--grade-questions": self.grade_questions}
        wrong = [f"{flag} {value}" for flag, value in counts.items() if value < 1]
        may_be_zero = {"--direct-questions": self.direct_questions,
                       "--shared-spelling-questions": self.shared_spelling_questions}
        wrong += [f"{flag} {value}" for flag, value in may_be_zero.items() if value < 0]
        wrong += [f"--temperature {self.temperature}"] * (self.temperature <= 0)
        if wrong:
            raise PipelineError(f"{', '.join(wrong)}: question and sample counts must be positive "
                                f"(--direct-questions and --shared-spelling-questions may be 0) "
                                f"and the temperature above 0")


@dataclass(frozen=True)
class PipelinePaths:
    """Where the stages read and write: the package (adapters), the data folder, the run folder."""

    package_dir: Path = PACKAGE_DIR
    data_dir: Path = field(default_factory=data_dir)
    runs_dir: Path = ROOT / "runs"

    @property
    def state_dir(self) -> Path:
        return Path(self.runs_dir) / "pipeline"

    @property
    def sft_adapter(self) -> Path:
        return Path(self.package_dir) / "sft_model"

    @property
    def rft_adapter(self) -> Path:
        return Path(self.package_dir) / "rft_model"

    @property
    def rft_json(self) -> Path:
        return Path(self.data_dir) / "rft.json"

    @property
    def bundle_zip(self) -> Path:
        return self.state_dir / "homework.zip"

    @property
    def grade_json(self) -> Path:
        return self.state_dir / "grade.json"

    def stamp(self, stage: str) -> Path:
        return self.state_dir / f"{stage}.stamp.json"

    def code(self, *modules: str) -> list[Path]:
        return [Path(self.package_dir) / f"{module}.py" for module in modules]


@dataclass(frozen=True)
class Stage:
    """One step: what it is for, and its inputs, outputs and the settings its output depends on."""

    name: str
    purpose: str
    inputs: Callable[[PipelinePaths, PipelineSettings], list[Path]]
    outputs: Callable[[PipelinePaths], list[Path]]
    settings: Callable[[PipelineSettings], dict]
    reports_status: bool = False  # its runner returns an exit status the pipeline returns (grading)


def _package_files(paths: PipelinePaths, settings: PipelineSettings) -> list[Path]:
    skipped = ("__pycache__", ".saving", ".old")
    return sorted(p for p in Path(paths.package_dir).rglob("*")
                  if p.is_file() and not any(part.endswith(skipped) for part in p.parts) and p.suffix != ".pyc")


STAGE_TABLE = (
    Stage("sft", "trains the SFT adapter on generated questions",
          lambda p, s: p.code("sft", "targets", "training", "worked_examples"),  # questions made fresh from a seed
          lambda p: [p.sft_adapter],
          lambda s: {"base_model": s.base_model, "questions": s.sft_questions,
                     "shared_spelling_questions": s.shared_spelling_questions}),
    Stage("rft-data", "samples reasoning for RFT and keeps the exactly right answers",
          lambda p, s: [Path(p.data_dir) / "train.json", *p.code("datagen", "cot", "worked_examples", "rft"),
                        *p.code("targets"),
                        *([p.sft_adapter] if s.sampler == "sft" else [])],
          lambda p: [p.rft_json],
          lambda s: {"base_model": s.base_model, "questions": s.rft_questions, "oversample": s.oversample,
                     "temperature": s.temperature, "sampler": s.sampler}),
    Stage("rft", "trains the RFT adapter from the SFT adapter on the sampled reasoning",
          lambda p, s: [p.rft_json, p.sft_adapter, *p.code("rft", "sft", "targets", "training")],
          lambda p: [p.rft_adapter],
          lambda s: {"base_model": s.base_model, "direct_questions": s.direct_questions}),
    Stage("bundle", "zips the package as the hand-in",
          _package_files, lambda p: [p.bundle_zip], lambda s: {}),
    Stage("grade", "grades the zip as the course grades it",
          lambda p, s: [p.bundle_zip], lambda p: [p.grade_json],
          lambda s: {"base_model": s.base_model, "questions": s.grade_questions}, reports_status=True),
)
# A runner does a stage's work; a stage that reports_status returns an exit status, kept in its stamp.
Runner = Callable[[PipelineSettings, PipelinePaths], "int | None"]


# ---- the work of each stage ----------------------------------------------------------------

def train_sft_stage(settings: PipelineSettings, paths: PipelinePaths) -> None:
    """Train the SFT adapter into the package (``python -m solution.sft train``)."""
    from .sft import train_model
    from .training import check_adapter_location

    check_adapter_location(paths.sft_adapter, paths.package_dir)
    train_model(output_dir=paths.sft_adapter, questions=settings.sft_questions, checkpoint=settings.base_model,
                shared_spelling_questions=settings.shared_spelling_questions)


def make_rft_data_stage(settings: PipelineSettings, paths: PipelinePaths) -> None:
    """Sample and keep reasoning for RFT (``python -m solution.datagen``); resumes its partial file."""
    from .datagen import generate_dataset

    generate_dataset(paths.rft_json, settings.oversample, settings.temperature, limit=settings.rft_questions,
                     sampler_model=settings.sampler, checkpoint=settings.base_model)


def train_rft_stage(settings: PipelineSettings, paths: PipelinePaths) -> None:
    """Train the RFT adapter from the SFT adapter (``python -m solution.rft train``)."""
    from .rft import LEARNING_RATE, train_model
    from .training import check_adapter_location

    check_adapter_location(paths.rft_adapter, paths.package_dir)
    train_model(output_dir=paths.rft_adapter, direct_questions=settings.direct_questions,
                checkpoint=settings.base_model, rft_json=paths.rft_json, sft_adapter=paths.sft_adapter,
                learning_rate=LEARNING_RATE)


def evaluate_bundle_stage(settings: PipelineSettings, paths: PipelinePaths) -> None:
    """Zip the package as ``python -m grader_plugin bundle`` does (package renamed ``homework``)."""
    from grader_plugin.handin.bundle import COURSE_PACKAGE, BundleError, make_bundle

    try:
        _, warnings = make_bundle(paths.package_dir, paths.bundle_zip, package=COURSE_PACKAGE)
    except BundleError as error:
        raise PipelineError(f"bundle refused: {error}") from None
    for warning in warnings:
        print(f"warning: {warning}", flush=True)


def evaluate_grade_stage(settings: PipelineSettings, paths: PipelinePaths) -> int:
    """Grade the zip as ``python -m grader_plugin grade ZIP`` does; returns its exit status."""
    from grader_plugin.__main__ import grade
    from unitconv.model_loader import EMBEDDED_MODEL

    staging = paths.grade_json.with_name(paths.grade_json.name + ".tmp")
    options = [f"--grade-json={staging}", f"--grade-questions={settings.grade_questions}",
               "-p", "no:cacheprovider"]
    if settings.device:
        options.append(f"--grade-device={settings.device}")
    if settings.device and "cuda" in settings.device:
        options.append("--grade-memory-mb=0")  # the limit is for CPU memory; a CUDA worker maps far more
    if settings.base_model != EMBEDDED_MODEL:
        options.append(f"--grade-base-model={settings.base_model}")
    status = grade(str(paths.bundle_zip), options)
    if not staging.is_file():
        raise PipelineError(f"grading {paths.bundle_zip} wrote no {staging.name} (pytest exit status {status}); "
                            f"run `python -m grader_plugin grade {paths.bundle_zip}` to see why")
    os.replace(staging, paths.grade_json)
    return status


DEFAULT_RUNNERS: dict[str, Runner] = {"sft": train_sft_stage, "rft-data": make_rft_data_stage,
                                      "rft": train_rft_stage, "bundle": evaluate_bundle_stage,
                                      "grade": evaluate_grade_stage}


# ---- deciding what runs --------------------------------------------------------------------

def fingerprint(path: Path) -> str | None:
    """SHA-256 of a file, or of a folder's files and their names (caches left out); None when absent."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f"{file.relative_to(path).as_posix()}\0{fingerprint(file)}\n".encode())
    return digest.hexdigest()


def fingerprints(files: Iterable[Path]) -> dict[str, str | None]:
    return {str(path): fingerprint(path) for path in files}


def read_stamp(path: Path) -> dict | None:
    """The stamp a finished stage left, or None when there is none (or it is unreadable: run again)."""
    try:
        stamp = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _write_json_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(staging, path)


def _changed(old: Mapping, new: Mapping) -> list[str]:
    return [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def reason_to_run(stage: Stage, settings: PipelineSettings, paths: PipelinePaths,
                  forced: bool = False) -> str | None:
    """Why ``stage`` must run, in a few words, or None when its outputs are up to date."""
    if forced:
        return "forced (--force)"
    stamp = read_stamp(paths.stamp(stage.name))
    if stamp is None:
        return f"not run yet (no stamp {paths.stamp(stage.name)})"
    missing = [str(p) for p in stage.outputs(paths) if not Path(p).exists()]
    if missing:
        return f"output missing: {', '.join(missing)}"
    settings_now = stage.settings(settings)
    changed = _changed(stamp.get("settings", {}), settings_now)
    if changed:
        old = stamp.get("settings", {})
        return "settings changed: " + ", ".join(f"{k} {old.get(k)} -> {settings_now.get(k)}" for k in changed)
    changed = _changed(stamp.get("inputs", {}), fingerprints(stage.inputs(paths, settings)))
    if changed:
        return f"input changed since it ran: {', '.join(changed[:3])}" + (" ..." if len(changed) > 3 else "")
    changed = _changed(stamp.get("outputs", {}), fingerprints(stage.outputs(paths)))
    if changed:
        return f"output changed since this stage made it: {', '.join(changed)}"
    return None


def _size(path: Path) -> str:
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return f"{sum(p.stat().st_size for p in files) / 1e6:.2f} MB"


def run_pipeline(settings: PipelineSettings, paths: PipelinePaths | None = None, force: Iterable[str] = (),
                 runners: Mapping[str, Runner] | None = None, stages: tuple[Stage, ...] = STAGE_TABLE,
                 echo: Callable[[str], None] = print) -> int:
    """Run every stage that is not up to date, in order; returns the grade's exit status (0 when none).

    :param force: stage names to re-run regardless (``"all"`` for every one).
    :param runners: stage name -> function doing its work (default :data:`DEFAULT_RUNNERS`); tests
        replace the expensive ones.
    :param echo: where the progress lines go, one at the start and one at the end of each stage.
    """
    paths = paths or PipelinePaths()
    runners = {**DEFAULT_RUNNERS, **(runners or {})}
    force = set(force)
    unknown = force - {"all", *(stage.name for stage in stages)}
    if unknown:
        raise PipelineError(f"--force {', '.join(sorted(unknown))}: no such stage; stages are "
                            f"{', '.join(stage.name for stage in stages)} (or all)")
    status = 0
    for number, stage in enumerate(stages, 1):
        label = f"[{number}/{len(stages)}] {stage.name}"
        reason = reason_to_run(stage, settings, paths, forced=bool(force & {"all", stage.name}))
        if reason is None:
            stamp = read_stamp(paths.stamp(stage.name)) or {}
            status = stamp.get("result") or status
            echo(f"{label}: skipped, up to date (made {stamp.get('finished', '?')} from the same inputs and "
                 f"settings): {', '.join(str(p) for p in stage.outputs(paths))}")
            continue
        echo(f"{label}: {stage.purpose}; runs because {reason}")
        inputs = fingerprints(stage.inputs(paths, settings))  # what this run used, taken before it starts
        started = time.monotonic()
        result = runners[stage.name](settings, paths)
        result = int(result) if stage.reports_status and result is not None else None
        seconds = time.monotonic() - started
        outputs = stage.outputs(paths)
        absent = [str(p) for p in outputs if not Path(p).exists()]
        if absent:
            raise PipelineError(f"stage {stage.name} finished but did not write {', '.join(absent)}")
        _write_json_atomically(paths.stamp(stage.name), {
            "stage": stage.name, "settings": stage.settings(settings), "inputs": inputs,
            "outputs": fingerprints(outputs), "result": result, "device": settings.device,
            "seconds": round(seconds, 1), "finished": datetime.now(UTC).isoformat(timespec="seconds")})
        status = result or status
        echo(f"{label}: done in {seconds:.1f} s -> " + ", ".join(f"{p} ({_size(p)})" for p in outputs))
    return status


def grade_summary(paths: PipelinePaths) -> str | None:
    """One line from the stored grade (Gradescope JSON): the score, when there is one."""
    stored = read_stamp(paths.grade_json)
    if not stored or "score" not in stored:
        return None
    return f"grade: {stored['score']} points (details in {paths.grade_json})"
