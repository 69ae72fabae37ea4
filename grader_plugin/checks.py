"""The check author's API: a :class:`Check`, the :class:`Bounds` and :class:`Profile` that score it,
and the :class:`GradeContext` every check, detector and adjuster receives.

A check is data plus grader-side functions.  ``payload(context)`` builds what the worker receives
(questions or prompts, never expected answers); ``score(context, outcome)`` turns the worker's
measurements into a :class:`~grader_plugin.results.PartResult`.  ``task`` is the function the
worker runs on the hand-in's model; the worker is a fresh interpreter that imports it by its
``module:function`` name, so it must be a module-level function.  ``context.run_worker`` is the
one door to a worker, for checks and third-party detectors alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from grader_plugin.handin.contract import ENTRY_POINTS
from grader_plugin.launch.request import WorkerRequest
from grader_plugin.marking.asked import AskedAnswers
from grader_plugin.marking.graded_questions import AskedQuestion
from unitconv.course import MAX_ADAPTER_BYTES, MAX_BUNDLE_BYTES, MAX_PARAMETERS

if TYPE_CHECKING:
    from grader_plugin.handin.submission import Submission
    from grader_plugin.marking.graded_questions import GradedQuestion
    from grader_plugin.results import PartResult, WorkerOutcome
    from grader_plugin.settings import GradeSettings

Task = Callable[[Any, dict], Any] | str
"""A worker task: a module-level function ``task(model, payload)``, or its ``"module:function"`` name."""


def task_name(task: Task, owner: str = "task") -> str:
    """The ``module:function`` name a worker imports ``task`` by; refuses what cannot be imported."""
    if isinstance(task, str):
        module, _, function = task.partition(":")
        if not (module and function and all(p.isidentifier() for p in module.split("."))
                and function.isidentifier()):
            raise ValueError(f"{owner}: a task name must look like 'module:function', got {task!r}")
        return task
    qualname = getattr(task, "__qualname__", "")
    module = getattr(task, "__module__", None)
    if not callable(task) or not module or not qualname.isidentifier():
        raise ValueError(
            f"{owner}: {task!r} is not a module-level function; the worker imports its task by name, "
            f"so define it at the top level of a module (no lambda, no nested function)"
        )
    return f"{module}:{qualname}"


@dataclass(frozen=True)
class Bounds:
    """A linear score ramp: 0 at or below ``low``, full at or above ``high``.

    ``extra_low``/``extra_high`` give the ramp of the extra credit, when the part has any.
    """

    low: float
    high: float
    extra_low: float | None = None
    extra_high: float | None = None

    def __post_init__(self):
        if not self.high > self.low:
            raise ValueError(f"Bounds: high ({self.high}) must be greater than low ({self.low})")

    def describe(self) -> str:
        text = f"{self.low:g}-{self.high:g}"
        if self.extra_high is not None:
            text += f" (+{self.extra_low:g}-{self.extra_high:g})"
        return text


@dataclass(frozen=True)
class Profile:
    """A named set of thresholds: per-check bounds, the hand-in limits (the course's by default),
    and the names of rules beyond the course's that cost points under it (``rules``; under a
    profile without a rule, what the rule finds is reported as a warning and costs nothing)."""

    name: str
    description: str
    bounds: Mapping[str, Bounds]
    max_parameters: int = MAX_PARAMETERS
    max_bundle_bytes: int = MAX_BUNDLE_BYTES
    max_adapter_bytes: int = MAX_ADAPTER_BYTES
    rules: frozenset[str] = frozenset()

    def enforces(self, rule: str) -> bool:
        """Whether ``rule`` (beyond the course's) costs points under this profile."""
        return rule in self.rules


@dataclass(frozen=True)
class Work:
    """What a part's worker does at the starter code's budgets, so its time limit can be sized to the
    machine (:mod:`grader_plugin.launch.time_limits`).

    :param prompt_tokens: tokens of one prompt.
    :param new_tokens: new tokens generated per prompt.
    :param batched: whether the prompts are generated in batches (else one at a time).
    :param prompts: the part asks at most this many of the run's questions (None: all
        ``--grade-questions`` of them, and, for a part that answers questions, the detectors' too).
    :param passes: how often the worker does all of it (loading the model included).
    """

    prompt_tokens: int
    new_tokens: int
    batched: bool
    prompts: int | None = None
    passes: int = 1


ANSWERING = Work(prompt_tokens=400, new_tokens=100, batched=True)
"""The work of a part that answers questions and declares none (the accuracy parts' own)."""


@dataclass(frozen=True)
class Check:
    """One graded part.

    :param name: item name, also used by ``--grade-parts`` and ``-k`` (``cot``).
    :param title: what the table shows (``CoT accuracy``).
    :param points: points for full marks; 0 for a pass/fail rule.
    :param score: ``score(context, outcome) -> PartResult``; called only when the worker succeeded
        (or when there is no worker).
    :param extra_credit: extra points on top (RFT: 5).
    :param timeout_s: default time limit of the worker, seconds (``--grade-timeout`` overrides).
    :param entry_point: which hand-in entry point the worker loads (one of
        :data:`~grader_plugin.handin.contract.ENTRY_POINTS`), or None when no hand-in code runs.
    :param task: the function the worker calls as ``task(model, payload)`` (or its
        ``"module:function"`` name); None for a check scored in the grader process alone.
    :param payload: ``payload(context) -> dict`` (JSON-able) sent to the worker.
    :param measure: name of the measured figure shown in the table (``accuracy``).
    :param default_bounds: bounds used when the active profile has none for this check.
    :param answers_questions: the worker answers ``context.public_questions()`` in order and
        returns ``{"answers": [...]}``; detectors that ask the same model other questions (the
        hidden-question and ablation probe) run for such checks.
    :param work: what the worker does (:class:`Work`), so the time limit fits the machine; None:
        :data:`ANSWERING` for a check that answers questions, else the limit is ``timeout_s``.
    """

    name: str
    title: str
    points: int
    score: Callable[[GradeContext, WorkerOutcome | None], PartResult]
    extra_credit: int = 0
    timeout_s: float = 120.0
    entry_point: str | None = None
    task: Task | None = None
    payload: Callable[[GradeContext], dict[str, Any]] | None = None
    measure: str = ""
    default_bounds: Bounds | None = None
    answers_questions: bool = False
    work: Work | None = None

    def question_count(self, questions: int) -> int:
        """How many of the run's ``questions`` (``--grade-questions``) this part asks: at most its work's prompts."""
        prompts = self.work.prompts if self.work is not None else None
        return questions if prompts is None else min(prompts, questions)

    def __post_init__(self):
        if self.entry_point is not None and self.entry_point not in ENTRY_POINTS:
            raise ValueError(
                f"Check {self.name!r}: entry_point must be one of {ENTRY_POINTS} or None, "
                f"got {self.entry_point!r}"
            )
        if self.task is not None:
            object.__setattr__(self, "task", task_name(self.task, f"Check {self.name!r}"))


class RunServices(Protocol):
    """What a grading run lends every part's context (the session implements it)."""

    def public_questions(self, count: int) -> list[GradedQuestion]: ...

    def run_worker(self, request: WorkerRequest, part: str) -> WorkerOutcome: ...

    def model_folder(self, name_or_path: str) -> Path | None: ...

    def work_folder(self, name: str) -> Path: ...


@dataclass(frozen=True)
class GradeContext:
    """What checks, detectors and adjusters may use while grading one part; built complete, never changed.

    :param settings: the run's :class:`~grader_plugin.settings.GradeSettings`.
    :param submission: the opened hand-in (its private copy; read files, never import it).
    :param profile: the active :class:`Profile`.
    :param bounds: the part's :class:`Bounds` under that profile, or None.
    :param check: the part being graded.
    :param cache: a dict shared by every part of this run, for work done once per run (keys
        should name their owner, e.g. ``("reference-greedy", ...)``).
    :param time_limit: the part's time limit in seconds (``run_worker`` uses it by default), or None
        while the limit itself is being measured.
    :param asked: what a part that answers questions asks its worker, in order (see
        :meth:`asked_questions`); None until the session has mixed in the detectors' questions.
    :param services: the run's questions, workers and folders (:class:`RunServices`).
    """

    settings: GradeSettings
    submission: Submission
    profile: Profile
    bounds: Bounds | None
    check: Check
    cache: dict = field(repr=False)
    services: RunServices = field(repr=False)
    time_limit: float | None = None
    asked: tuple[AskedQuestion, ...] | None = None

    def asked_questions(self) -> list[AskedQuestion]:
        """What a part that answers questions asks its worker, in order: the graded questions and the
        ones detectors mixed in (``grader_extra_questions``), each with its expected answer and who asked it."""
        if self.asked is None:
            return [AskedQuestion(q.text, q.expected) for q in self.public_questions()]
        return list(self.asked)

    def asked_answers(self, outcome: WorkerOutcome) -> AskedAnswers:
        """The asked questions with the answers ``outcome`` carries, marked once per part and shared
        by the part's score and its detectors."""
        key = ("asked-answers", self.check.name)
        cached = self.cache.get(key)
        if cached is None or cached[0] is not outcome:
            cached = self.cache[key] = (outcome, AskedAnswers.of(self.asked_questions(), outcome.data))
        return cached[1]

    def model_folder(self, name_or_path: str) -> Path | None:
        """The local folder that serves a model a hand-in loaded (by hub id or path) in this run, or None."""
        return self.services.model_folder(name_or_path)

    def public_questions(self, count: int | None = None) -> list[GradedQuestion]:
        """The first ``count`` (default ``--grade-questions``) public questions, with expected answers."""
        return self.services.public_questions(count or self.settings.questions)

    def run_worker(self, task: Task, payload: dict, *, entry_point: str | None = None,
                   timeout: float | None = None, serve: dict[str, Path] | None = None,
                   hand_in: Path | None = None, writable: tuple[Path, ...] = (),
                   label: str | None = None) -> WorkerOutcome:
        """Run ``task(model, payload)`` in a new worker under the run's limits; what came back.

        With ``entry_point`` (``"base"``, ``"cot"``, ...) the worker imports the hand-in and
        ``model`` is what that entry point returns; without it the worker holds no hand-in code
        and ``model`` is None (a trusted worker, e.g. the grader's own decoding).  ``timeout``
        defaults to the part's time limit (``--grade-timeout``, or one scaled to this machine).
        For probes: ``serve`` gives this worker other folders for some models (by hub id or the
        run's base model), ``hand_in`` another copy of the hand-in's parent folder to import, and
        ``writable`` folders (from :meth:`work_folder`) a trusted worker may write.  ``label``
        is what the progress line shows while the worker runs (default: the worker's own phases).
        See :class:`~grader_plugin.launch.request.WorkerRequest`.
        """
        if entry_point is not None and entry_point not in ENTRY_POINTS:
            raise ValueError(f"run_worker: entry_point must be one of {ENTRY_POINTS} or None, got {entry_point!r}")
        request = WorkerRequest(task_name(task, "run_worker"), payload,
                                timeout or self.time_limit or self.settings.timeout or self.check.timeout_s,
                                entry_point, serve or {}, hand_in, writable, label)
        return self.services.run_worker(request, self.check.name)

    def work_folder(self, name: str) -> Path:
        """A new folder in the run's private work folder (for what a trusted worker writes)."""
        return self.services.work_folder(name)
