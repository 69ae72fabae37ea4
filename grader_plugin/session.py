"""One grading run: the opened hand-in, its checks, and grading one part at a time.

The pytest items call :meth:`GradingSession.grade` for their part; the session keeps the
results, so report writers see every graded part even when others crashed or were interrupted.
Scoring, integrity decisions and adjustments all happen here, in the grader process; workers are
started only through :meth:`GradeContext.run_worker <grader_plugin.checks.GradeContext.run_worker>`.
"""

from __future__ import annotations

import difflib
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
from grader_plugin.launch.runner import RunWorkers
from grader_plugin.launch.time_limits import part_limit
from grader_plugin.marking.graded_questions import AskedQuestion, GradedQuestion, public_questions
from grader_plugin.progress import ProgressDisplay
from grader_plugin.provenance import provenance
from grader_plugin.results import Finding, GradeReport, PartResult, WorkerOutcome
from grader_plugin.settings import GradeSettings

RESERVED_PACKAGES = {"grader_plugin", "unitconv"}


class GradingSetupError(ValueError):
    """The run cannot start (unknown part or profile, duplicate check); the message says what to use."""


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def collect_registered(pm, hook_name: str, kind: type) -> dict[str, object]:
    """Everything the plugins register through ``hook_name``, by name, in call order.

    Each implementation gets its own ``register`` callback, so a clash or a wrong type names the
    plugins involved; checks and profiles are validated the same way.
    """
    found: dict[str, tuple[object, str]] = {}
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):  # pluggy's call order
        plugin = impl.plugin_name

        def register(item, plugin=plugin) -> None:
            if not isinstance(item, kind):
                raise GradingSetupError(
                    f"plugin {plugin}: register() takes a {kind.__module__}.{kind.__name__}, "
                    f"got {type(item).__name__}"
                )
            if item.name in found:
                raise GradingSetupError(
                    f"two plugins register a {kind.__name__.lower()} named {item.name!r}: "
                    f"{found[item.name][1]} and {plugin}; rename one"
                )
            found[item.name] = (item, plugin)

        impl.function(**{name: register for name in impl.argnames})
    return {name: item for name, (item, _) in found.items()}


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
            self.workers = RunWorkers(settings, self._candidates, self._workdir)
            self.workers.progress = lambda part, phase, done=0, total=0: self.display.phase(part, phase, done, total)
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
                f"--grade-profile {name!r} is not a profile{_did_you_mean(name, list(profiles))}; "
                f"known profiles: {', '.join(sorted(profiles))}"
            )
        return profiles[name]

    def _select(self, parts: tuple[str, ...] | None) -> list[Check]:
        if parts is None:
            return list(self.checks.values())
        for name in parts:
            if name not in self.checks:
                raise GradingSetupError(
                    f"--grade-parts: {name!r} is not a part{_did_you_mean(name, list(self.checks))}; "
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

    # what contexts use -------------------------------------------------------------------------
    def public_questions(self, count: int) -> list[GradedQuestion]:
        if self._questions is None or len(self._questions) < count:
            self._questions = public_questions(self.settings.data_dir, max(count, self.settings.questions))
        return self._questions[:count]

    def _candidates(self, entry_point: str) -> list[str]:
        lists = self.pm.hook.grader_entry_point_candidates(entry_point=entry_point, submission=self.submission)
        seen: list[str] = []
        for found in lists:
            seen.extend(c for c in (found or []) if c not in seen)
        return seen

    def context(self, check: Check, bounds: Bounds | None) -> GradeContext:
        """The context ``check`` is graded with."""
        context = GradeContext(self.settings, self.submission, self.profile, bounds, check, self.cache,
                               self.public_questions, self.workers.run, self.workers.model_folder)
        context._asked = lambda: self._asked_questions(check, context)
        context._work_folder = self.workers.work_folder
        return context

    def _asked_questions(self, check: Check, context: GradeContext) -> list[AskedQuestion]:
        """The part's graded questions with every detector's extra questions, shuffled once per part."""
        key = ("asked-questions", check.name)
        if key not in self.cache:
            asked = [AskedQuestion(q.text, q.expected) for q in context.public_questions()]
            if check.answers_questions:
                for impl in reversed(self.pm.hook.grader_extra_questions.get_hookimpls()):
                    arguments = {"check": check, "context": context}
                    extra = impl.function(**{name: arguments[name] for name in impl.argnames})
                    asked += [AskedQuestion(str(text), float(expected), impl.plugin_name)
                              for text, expected in extra or []]
                if len(asked) > len(context.public_questions()):
                    random.SystemRandom().shuffle(asked)
            self.cache[key] = asked
        return self.cache[key]

    # grading -----------------------------------------------------------------------------------
    def _run(self, check: Check, context: GradeContext) -> tuple[PartResult, WorkerOutcome | None]:
        if check.task is None:
            return check.score(context, None), None
        payload = check.payload(context) if check.payload else {}
        context.time_limit, limit_note = part_limit(context)
        outcome = context.run_worker(check.task, payload, entry_point=check.entry_point)
        if not outcome.ok:
            result = PartResult.for_check(check, context.bounds)
            result.zero(outcome.reason)
            result.details.append(limit_note)
            return result, outcome
        result = check.score(context, outcome)
        result.details.append(limit_note)
        return result, outcome

    def grade(self, check: Check) -> PartResult:
        """Grade one part: run its worker, score, scan, adjust; never raises for hand-in faults."""
        started = time.perf_counter()
        bounds = self.pm.hook.grader_thresholds(check=check, profile=self.profile)
        if self.submission is None:
            result = PartResult.for_check(check, bounds)
            result.zero(f"not graded: submission refused ({self.refused})")
            self.results[check.name] = result
            return result
        context = self.context(check, bounds)
        outcome = None
        self.workers.grading = check.name
        try:
            result, outcome = self._run(check, context)
        except Exception as error:  # noqa: BLE001 - a broken check must not lose the report
            result = PartResult.for_check(check, bounds)
            frame = traceback.extract_tb(error.__traceback__)[-1]
            result.zero(
                f"grader error in check {check.name!r}: {type(error).__name__}: {error} "
                f"({Path(frame.filename).name}:{frame.lineno})"
            )
        static = [f for f in self.findings if f.part in (None, check.name)]
        runtime = []
        for found in self._each("grader_scan_part", check=check, outcome=outcome, context=context):
            if isinstance(found, Finding):
                found = [found]
            if not isinstance(found, list | tuple):
                continue
            runtime.extend(f if f.part else replace(f, part=check.name) for f in found if isinstance(f, Finding))
        runtime += self.workers.changes_found(check.name)
        confirmed = any(f.severity == "flag" and not f.needs_confirmation for f in static + runtime)
        result.findings = [f.resolved(confirmed, check.name) for f in static] + runtime
        flagged = [f for f in result.findings if f.severity == "flag"]
        if flagged:
            result.zero("integrity: " + "; ".join(f"{f.detector}: {f.message}" for f in flagged))
        for error in self._each("grader_adjust_result", check=check, result=result, outcome=outcome,
                                context=context, errors_only=True):
            result.details.append(error)
        result.seconds = time.perf_counter() - started
        result.phases = self.workers.clock.pop(check.name)
        if outcome is not None:
            result.output = outcome.output
        self.results[check.name] = result
        self.display.finish(check.name, result)
        return result

    def _each(self, hook: str, errors_only: bool = False, **kwargs) -> list:
        """Call every implementation of ``hook`` on its own, so one that fails costs only its own answer.

        A failing plugin's answer is replaced by an ``unchecked`` finding, so the part's integrity
        shows as "could not be checked", never as clean (or, with ``errors_only``, a line naming the
        plugin and its error); the part keeps its place in the report.
        """
        answers = []
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            try:
                answer = impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception as error:  # noqa: BLE001 - a broken plugin must not lose the part
                where = f"plugin {impl.plugin_name} failed in {hook}: {type(error).__name__}: {error}"
                answers.append(where if errors_only else [Finding("grader", where, severity="unchecked")])
                continue
            if not errors_only:
                answers.append(answer)
        return answers

    def _unjudged_findings(self, parts: list[PartResult]) -> list[Finding]:
        """Static findings about no graded part (another part's file, a run that stopped early)."""
        names = {part.name for part in parts}
        return [f.resolved(False, f.part) if f.part else f for f in self.findings
                if f.part not in names and not (f.part is None and names)]

    def report(self) -> GradeReport:
        """The report of everything graded so far."""
        name = self.submission.package if self.submission else str(self.settings.path)
        if self.refused:  # every selected part scores 0 with the refusal as its reason
            for check in self.selected:
                if check.name not in self.results:
                    self.grade(check)
        parts = [self.results[c.name] for c in self.selected if c.name in self.results]
        not_graded = [c.name for c in self.selected if c.name not in self.results]
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
