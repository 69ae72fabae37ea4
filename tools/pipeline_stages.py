"""The pipeline's stages: settings, paths, the stage table and the work of each stage.

Five stages run in order (:mod:`tools.pipeline` decides which), each a function of the settings
and the paths:

- ``sft``: the SFT adapter (``solution/sft_model/``) from freshly generated questions;
- ``rft-data``: ``data/rft.json``, reasoning sampled from the chain-of-thought model (its prompt
  with worked examples) and kept when exactly right (:mod:`solution.datagen`);
- ``rft``: the RFT adapter (``solution/rft_model/``), the SFT adapter trained further on that reasoning;
- ``bundle``: the hand-in zip (``runs/pipeline/homework.zip``) made from the package folder;
- ``grade``: the zip graded as the course grades it (the table, and ``runs/pipeline/grade.json``).

A stage's inputs include the modules whose code makes its output, so a code change re-runs the
stages it touches.  The bundle and grade stages use the grader's own library (``make_bundle``,
``grade``); this module lies outside the package it bundles, so no hand-in carries it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader_plugin.__main__ import grade
from grader_plugin.handin.bundle import COURSE_PACKAGE, BundleError, make_bundle
from solution import rft, sft
from solution.datagen import generate_dataset
from solution.training import check_adapter_location
from unitconv.model_loader import EMBEDDED_MODEL
from unitconv.paths import data_dir

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "solution"
STAGES = ("sft", "rft-data", "rft", "bundle", "grade")


class PipelineError(RuntimeError):
    """A stage cannot run or failed in a way the user can fix; the message says how."""


@dataclass(frozen=True)
class PipelineSettings:
    """What the stages make, and how; the defaults reproduce the committed adapters' commands."""

    base_model: str
    sft_questions: int = 4000
    shared_spelling_questions: int = sft.SHARED_SPELLING_QUESTIONS
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
          lambda p, s: p.code("sft", "targets", "training", "worked_examples", "unit_reader"),  # fresh from a seed
          lambda p: [p.sft_adapter],
          lambda s: {"base_model": s.base_model, "questions": s.sft_questions,
                     "shared_spelling_questions": s.shared_spelling_questions}),
    Stage("rft-data", "samples reasoning for RFT and keeps the exactly right answers",
          lambda p, s: [Path(p.data_dir) / "train.json",
                        *p.code("datagen", "cot", "worked_examples", "unit_reader", "rft", "targets"),
                        *([p.sft_adapter] if s.sampler == "sft" else [])],
          lambda p: [p.rft_json],
          lambda s: {"base_model": s.base_model, "questions": s.rft_questions, "oversample": s.oversample,
                     "temperature": s.temperature, "sampler": s.sampler}),
    Stage("rft", "trains the RFT adapter from the SFT adapter on the sampled reasoning",
          lambda p, s: [p.rft_json, p.sft_adapter, *p.code("rft", "sft", "targets", "training", "unit_reader")],
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
    check_adapter_location(paths.sft_adapter, paths.package_dir)
    sft.train_model(sft.SFTConfig(questions=settings.sft_questions,
                                  shared_spelling_questions=settings.shared_spelling_questions),
                    output_dir=paths.sft_adapter, checkpoint=settings.base_model)


def make_rft_data_stage(settings: PipelineSettings, paths: PipelinePaths) -> None:
    """Sample and keep reasoning for RFT (``python -m solution.datagen``); resumes its partial file."""
    generate_dataset(paths.rft_json, settings.oversample, settings.temperature, limit=settings.rft_questions,
                     sampler_model=settings.sampler, checkpoint=settings.base_model)


def train_rft_stage(settings: PipelineSettings, paths: PipelinePaths) -> None:
    """Train the RFT adapter from the SFT adapter (``python -m solution.rft train``)."""
    check_adapter_location(paths.rft_adapter, paths.package_dir)
    rft.train_model(rft.RFTConfig(direct_questions=settings.direct_questions), output_dir=paths.rft_adapter,
                    checkpoint=settings.base_model, rft_json=paths.rft_json, sft_adapter=paths.sft_adapter)


def bundle_stage(settings: PipelineSettings, paths: PipelinePaths) -> None:
    """Zip the package as ``python -m grader_plugin bundle`` does (package renamed ``homework``)."""
    try:
        _, warnings = make_bundle(paths.package_dir, paths.bundle_zip, package=COURSE_PACKAGE)
    except BundleError as error:
        raise PipelineError(f"bundle refused: {error}") from None
    for warning in warnings:
        print(f"warning: {warning}", flush=True)


def grade_stage(settings: PipelineSettings, paths: PipelinePaths) -> int:
    """Grade the zip as ``python -m grader_plugin grade ZIP`` does; returns its exit status."""
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
                                      "rft": train_rft_stage, "bundle": bundle_stage,
                                      "grade": grade_stage}
