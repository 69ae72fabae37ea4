"""One grading run: the opened hand-in, its checks, and grading one part at a time.

The pytest items call :meth:`GradingSession.grade` for their part; the session keeps the
results, so report writers see every graded part even when others crashed or were interrupted.
Scoring, integrity decisions and adjustments all happen here, in the grader process; workers are
started only through :meth:`GradeContext.run_worker <grader_plugin.checks.GradeContext.run_worker>`.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

from grader_plugin.checks import Bounds, Check, GradeContext, Profile
from grader_plugin.handin.submission import Submission, SubmissionError, open_submission
from grader_plugin.launch import sandbox as sandboxes
from grader_plugin.launch.request import WorkerRequest
from grader_plugin.launch.runner import RunWorkers
from grader_plugin.launch.time_limits import part_limit
from grader_plugin.manager import (
    GradingSetupError,
    HookAnswer,
    call_each,
    collect_registered,
    did_you_mean,
    get_plugin_manager,
)
from grader_plugin.marking.graded_questions import AskedQuestion, GradedQuestion, public_questions
from grader_plugin.progress import ProgressDisplay
from grader_plugin.provenance import provenance
from grader_plugin.results import Finding, GradeReport, PartResult, WorkerOutcome
from grader_plugin.settings import GradeSettings

RESERVED_PACKAGES = {"grader_plugin", "unitconv"}


class GradingSession:
    """Grades a hand-in part by part with the plugins of ``pm``."""

    def __init__(self, settings: GradeSettings, pm):
        self.settings, self.pm = settings, pm
        self.started = time.perf_counter()
        self.checks: dict[str, Check] = collect_registered(pm, "grader_register_checks", Check)
        self.profile = self._choose_profile()
        self.selected = self._select(settings.parts)
        self.results: dict[str, PartResult] = {}
        self.findings: list[Finding] = []
        self.refused = ""
        self.submission: Submission | None = None
        self.cache: dict = {}
        self._workdir = Path(tempfile.mkdtemp(prefix="unitconv-grade-"))
        self.display = ProgressDisplay(lambda line: None)
        try:
            self.workers = RunWorkers(settings, pm, self._workdir,
                                      lambda part, phase, done=0, total=0: self.display.phase(part, phase, done, total))
        except sandboxes.SandboxUnavailable as error:
            shutil.rmtree(self._workdir, ignore_errors=True)
            raise GradingSetupError(str(error)) from None
        self._questions: list[GradedQuestion] | None = None

    # setup -------------------------------------------------------------------------------------
    def _choose_profile(self) -> Profile:
        profiles = collect_registered(self.pm, "grader_register_profiles", Profile)
        name = self.settings.profile
        if name not in profiles:
            raise GradingSetupError(
                f"--grade-profile {name!r} is not a profile{did_you_mean(name, list(profiles))}; "
                f"known profiles: {', '.join(sorted(profiles))}"
            )
        return profiles[name]

    def _select(self, parts: tuple[str, ...] | None) -> list[Check]:
        if parts is None:
            return list(self.checks.values())
        for name in parts:
            if name not in self.checks:
                raise GradingSetupError(
                    f"--grade-parts: {name!r} is not a part{did_you_mean(name, list(self.checks))}; "
                    f"parts: {', '.join(self.checks)}"
                )
        return [self.checks[name] for name in parts]

    def open(self) -> None:
        """Open the hand-in and run the static scans; a refusal is kept in :attr:`refused`."""
        try:
            submission = open_submission(self.settings.path, self._workdir / "opened")
            if submission.package in RESERVED_PACKAGES:
                raise SubmissionError(
                    f"{self.settings.path}: the package may not be called {submission.package!r}; rename it"
                )
            data = self.settings.data_dir.resolve()
            if data == submission.source or submission.source in data.parents:
                raise SubmissionError(f"--grade-data {data} is inside the submission; keep grading data elsewhere")
        except SubmissionError as error:
            self.refused = str(error)
            return
        self.submission = submission
        self._share_training_split(submission)
        self.workers.attach(submission)
        for found in self.pm.hook.grader_scan_submission(submission=submission):
            self.findings.extend(found or [])

    def _share_training_split(self, submission: Submission) -> None:
        """Put the public training split beside the package copy, where the course layout has it.

        Hand-ins may read few-shot examples from ``data/train.json`` next to their package; the
        validation split, whose answers are graded, is never placed there.
        """
        train = self.settings.data_dir / "train.json"
        if train.is_file():
            shared = submission.parent / "data"
            shared.mkdir(exist_ok=True)
            shutil.copyfile(train, shared / "train.json")

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    # what contexts use (RunServices) -----------------------------------------------------------
    def public_questions(self, count: int) -> list[GradedQuestion]:
        if self._questions is None or len(self._questions) < count:
            self._questions = public_questions(self.settings.data_dir, max(count, self.settings.questions))
        return self._questions[:count]

    def run_worker(self, request: WorkerRequest, part: str) -> WorkerOutcome:
        return self.workers.run(request, part)

    def model_folder(self, name_or_path: str) -> Path | None:
        return self.workers.model_folder(name_or_path)

    def work_folder(self, name: str) -> Path:
        return self.workers.work_folder(name)

    def context(self, check: Check, bounds: Bounds | None) -> GradeContext:
        """The context ``check`` is graded with, its asked questions decided (the detectors mix theirs
        in seeing a context with the graded ones); :meth:`grade` adds the part's time limit."""
        context = GradeContext(self.settings, self.submission, self.profile, bounds, check, self.cache, self)
        if check.answers_questions:
            context = replace(context, asked=tuple(self._asked_questions(check, context)))
        return context

    def _asked_questions(self, check: Check, context: GradeContext) -> list[AskedQuestion]:
        """The part's graded questions with every detector's extra questions, shuffled once per part."""
        key = ("asked-questions", check.name)
        if key not in self.cache:
            asked = [AskedQuestion(q.text, q.expected) for q in context.public_questions()]
            for answer in call_each(self.pm, "grader_extra_questions", check=check, context=context):
                if answer.error is not None:
                    raise answer.error
                asked += [AskedQuestion(str(text), float(expected), answer.plugin)
                          for text, expected in answer.value or []]
            if len(asked) > len(context.public_questions()):
                random.SystemRandom().shuffle(asked)
            self.cache[key] = asked
        return self.cache[key]

    # grading -----------------------------------------------------------------------------------
    def _run(self, check: Check, context: GradeContext) -> tuple[PartResult, WorkerOutcome | None, GradeContext]:
        """The part's worker and score, under its time limit; the context with that limit."""
        if check.task is None:
            return check.score(context, None), None, context
        limit, limit_note = part_limit(context)
        context = replace(context, time_limit=limit)
        payload = check.payload(context) if check.payload else {}
        outcome = context.run_worker(check.task, payload, entry_point=check.entry_point)
        if not outcome.ok:
            result = PartResult.for_check(check, context.bounds)
            result.zero(outcome.reason)
        else:
            result = check.score(context, outcome)
        result.details.append(limit_note)
        return result, outcome, context

    def _refused_result(self, check: Check) -> PartResult:
        """A part of a refused hand-in: 0, with the refusal as its reason."""
        result = PartResult.for_check(check, self.pm.hook.grader_thresholds(check=check, profile=self.profile))
        result.zero(f"not graded: submission refused ({self.refused})")
        return result

    def grade(self, check: Check) -> PartResult:
        """Grade one part: run its worker, score, scan, adjust; never raises for hand-in faults."""
        started = time.perf_counter()
        if self.submission is None:
            self.results[check.name] = self._refused_result(check)
            return self.results[check.name]
        bounds = self.pm.hook.grader_thresholds(check=check, profile=self.profile)
        context = GradeContext(self.settings, self.submission, self.profile, bounds, check, self.cache, self)
        outcome = None
        try:
            context = self.context(check, bounds)
            result, outcome, context = self._run(check, context)
        except Exception as error:  # noqa: BLE001 - a broken check must not lose the report
            result = PartResult.for_check(check, bounds)
            frame = traceback.extract_tb(error.__traceback__)[-1]
            result.zero(
                f"grader error in check {check.name!r}: {type(error).__name__}: {error} "
                f"({Path(frame.filename).name}:{frame.lineno})"
            )
        result.findings = self._findings(check, outcome, context)
        flagged = [f for f in result.findings if f.severity == "flag"]
        if flagged:
            result.zero("integrity: " + "; ".join(f"{f.detector}: {f.message}" for f in flagged))
        for answer in call_each(self.pm, "grader_adjust_result", check=check, result=result, outcome=outcome,
                                context=context):
            if answer.error is not None:
                result.details.append(self._failed(answer, "grader_adjust_result"))
        result.seconds = time.perf_counter() - started
        result.phases = self.workers.clock.pop(check.name)
        if outcome is not None:
            result.output = outcome.output
        self.results[check.name] = result
        self.display.finish(check.name, result)
        return result

    @staticmethod
    def _failed(answer: HookAnswer, hook: str) -> str:
        return f"plugin {answer.plugin} failed in {hook}: {type(answer.error).__name__}: {answer.error}"

    def _findings(self, check: Check, outcome: WorkerOutcome | None, context: GradeContext) -> list[Finding]:
        """The part's static findings (resolved against what ran) and its runtime ones.

        A detector that fails leaves an ``unchecked`` finding naming it, so the part's integrity
        shows as "could not be checked", never as clean; the part keeps its place in the report.
        """
        static = [f for f in self.findings if f.part in (None, check.name)]
        runtime = []
        for answer in call_each(self.pm, "grader_scan_part", check=check, outcome=outcome, context=context):
            if answer.error is not None:
                runtime.append(Finding("grader", self._failed(answer, "grader_scan_part"), part=check.name,
                                       severity="unchecked"))
                continue
            found = [answer.value] if isinstance(answer.value, Finding) else answer.value
            if isinstance(found, list | tuple):
                runtime += [f if f.part else replace(f, part=check.name) for f in found if isinstance(f, Finding)]
        runtime += self.workers.changes_found(check.name)
        confirmed = any(f.severity == "flag" and not f.needs_confirmation for f in static + runtime)
        return [f.resolved(confirmed, check.name) for f in static] + runtime

    def _unjudged_findings(self, parts: list[PartResult]) -> list[Finding]:
        """Static findings about no graded part (another part's file, a run that stopped early)."""
        names = {part.name for part in parts}
        return [f.resolved(False, f.part) if f.part else f for f in self.findings
                if f.part not in names and not (f.part is None and names)]

    def report(self) -> GradeReport:
        """The report of everything graded so far."""
        name = self.submission.package if self.submission else str(self.settings.path)
        parts = [self.results[c.name] if c.name in self.results else self._refused_result(c)
                 for c in self.selected if c.name in self.results or self.refused]
        not_graded = [] if self.refused else [c.name for c in self.selected if c.name not in self.results]
        detectors = [
            self.pm.get_name(p)
            for p in self.pm.get_plugins()
            if any(hasattr(p, h) for h in ("grader_scan_submission", "grader_scan_part"))
        ]
        findings: list[Finding] = []
        for finding in [f for part in parts for f in part.findings] + self._unjudged_findings(parts):
            if finding not in findings:
                findings.append(finding)
        return GradeReport(
            submission=name,
            profile=self.profile.name,
            parts=parts,
            findings=findings,
            detectors=sorted(d for d in detectors if d),
            refused=self.refused,
            not_graded=not_graded,
            execution_time=time.perf_counter() - self.started,
            graded_by=provenance(self.pm, self.settings, self.workers.served, self.workers.sandbox),
        )


def grade_once(settings: GradeSettings, pm=None, cache: dict | None = None) -> GradeReport:
    """Grade a hand-in in one call: open it, grade every selected part, report, clean up.

    ``pm``: the plugin manager (default: :func:`~grader_plugin.manager.get_plugin_manager`, with the
    installed plugins); ``cache``: the dict of work done once per run to use (a class run shares
    one between hand-ins).  What the command line's pytest items do part by part, for scripts, the
    class task, tests and benchmarks.
    """
    session = GradingSession(settings, pm if pm is not None else get_plugin_manager())
    if cache is not None:
        session.cache = cache
    try:
        session.open()
        for check in session.selected:
            session.grade(check)
        return session.report()
    finally:
        session.close()
