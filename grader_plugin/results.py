"""Results of grading: what a worker reported, one part's score, integrity findings, the report.

Shared by both sides of the process boundary (the grader builds these from what workers
report); it imports nothing else of the grader.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

FULL_MARKS = "full marks"
"""How the reason of a part that earned all its points starts."""
SEVERITIES = ("flag", "warn", "unchecked")
"""What a :class:`Finding` may be: ``flag`` zeroes its part, ``warn`` costs nothing, ``unchecked``
costs nothing but shows the part's integrity as :data:`UNCHECKED` (a detector could not run)."""
CLEAN, FLAGGED, UNCHECKED, WARNINGS = "clean", "flagged", "could not be checked", "warnings"
"""A part's :attr:`PartResult.integrity_status`."""


@dataclass(frozen=True)
class WorkerOutcome:
    """What came back from a worker process.

    :param status: ``ok``; ``missing`` (no entry point found); ``error`` (raised or called
        ``sys.exit``); ``timeout``; ``memory``; ``exited`` (died without a result, e.g.
        ``os._exit``); ``flood`` (printed past the output cap).
    :param reason: one line saying what went wrong (empty when ``ok``).
    :param data: the task's return value.
    :param entry_point: the entry point that was loaded (``pkg.cot:load``).
    :param num_parameters: parameters of the loaded model, when it had any.
    :param output: the worker's captured output, size-capped.
    :param seconds: wall time of the worker.
    :param integrity: what the worker's integrity recorder saw (file opens, events, patched
        methods, changed grader modules; see :mod:`grader_plugin.worker.recorder`), or None.
    :param models: what the loaded object's transformers models are (name or path, sizes, dtype,
        adapter; see :mod:`grader_plugin.worker.models`), as the worker measured them.
    :param where: for ``error``, ``memory`` and ``missing``: where the hand-in's own code failed
        (``pkg/module.py:LINE``), or ""; for ``error``: ``cause`` ``hub`` when it loaded a hub model
        that is not served.  Hand-in data (the worker wrote it): advice, never evidence.
    """

    status: str
    reason: str = ""
    data: Any = None
    entry_point: str | None = None
    num_parameters: int | None = None
    output: str = ""
    seconds: float = 0.0
    integrity: dict | None = None
    models: list = field(default_factory=list)
    where: str = ""
    cause: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Finding:
    """One integrity finding.

    :param detector: which detector made it.
    :param message: one line.
    :param part: the part it concerns; None for the whole submission.
    :param severity: ``flag`` (the part scores 0), ``warn`` (reported, costs nothing) or
        ``unchecked`` (a detector failed: costs nothing, but the part's integrity shows as "could
        not be checked", never as clean).
    :param evidence: what supports it (code excerpt, counts, p-value).
    :param file: submission file it points at, relative to the package; ``line`` its line.
    :param needs_confirmation: a ``flag`` that only shows that code exists (the static scan's):
        it zeroes a part only when a run-time detector flags the same part; otherwise it is
        reported as a warning, "present, not active in this run".
    """

    detector: str
    message: str
    part: str | None = None
    severity: str = "flag"
    evidence: str = ""
    file: str | None = None
    line: int | None = None
    needs_confirmation: bool = False

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"Finding.severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")

    def resolved(self, confirmed: bool, part: str) -> Finding:
        """This finding as it stands for ``part``: an unconfirmed flag that needs confirmation is a warning."""
        if not (self.needs_confirmation and self.severity == "flag"):
            return self
        if confirmed:
            return replace(self, part=self.part or part, needs_confirmation=False,
                           message=f"{self.message} (confirmed at run time)")
        return replace(self, part=self.part or part, severity="warn", needs_confirmation=False,
                       message=f"{self.message} (present, not active in this run)")

    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class PartResult:
    """One part's grade.  Mutable so that ``grader_adjust_result`` hooks can lower it in place.

    ``facts`` holds what the check and the rules found, as data, for advice and reports (never
    parsed out of ``reason`` or ``details``): e.g. ``{"untagged": 38, "asked": 100}``,
    ``{"raw_observed": False}``, ``{"broken_outputs": 3}``, and ``cause``: what the latest
    :meth:`zero` (or reason rewrite) was about, as a short name (``adapter``, ``model-size``, ...).
    """

    name: str
    title: str
    max_points: int
    points: float = 0.0
    max_extra: int = 0
    extra: float = 0.0
    measure: str = ""
    value: float | None = None
    bounds: str = ""
    reason: str = ""
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per ``worker: phase`` of this part's workers (:mod:`grader_plugin.launch.phase_times`)."""
    output: str = ""
    ok: bool = True
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_check(cls, check, bounds=None) -> PartResult:
        """A zero result for ``check`` (a :class:`~grader_plugin.checks.Check`) scored with ``bounds``."""
        return cls(
            check.name,
            check.title,
            check.points,
            max_extra=check.extra_credit,
            measure=check.measure,
            bounds=bounds.describe() if bounds else "",
        )

    @property
    def full_marks(self) -> bool:
        return self.ok and self.points >= self.max_points

    @property
    def integrity_status(self) -> str:
        """``flagged``, ``could not be checked`` (a detector failed), ``warnings`` or ``clean``, in that order."""
        severities = {f.severity for f in self.findings}
        for severity, status in (("flag", FLAGGED), ("unchecked", UNCHECKED), ("warn", WARNINGS)):
            if severity in severities:
                return status
        return CLEAN

    def zero(self, reason: str, cause: str | None = None) -> None:
        """Score nothing (points and extra credit) and say why; the latest reason given comes first.

        ``cause`` names what the reason is about (kept as ``facts["cause"]``); without one, a cause
        an earlier reason named no longer holds for the reason shown first, and is dropped.
        """
        if cause:
            self.facts["cause"] = cause
        else:
            self.facts.pop("cause", None)
        self.points = 0.0
        self.extra = 0.0
        self.ok = False
        kept = "" if self.reason.startswith(FULL_MARKS) else self.reason
        self.reason = reason if not kept or kept == reason else f"{reason}; {kept}"



@dataclass
class GradeReport:
    """Everything a report writer needs."""

    submission: str
    profile: str
    parts: list[PartResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    detectors: list[str] = field(default_factory=list)
    refused: str = ""
    not_graded: list[str] = field(default_factory=list)
    execution_time: float = 0.0
    graded_by: dict[str, Any] = field(default_factory=dict)
    """What graded it: grader version, plugins and their versions, profile, base model, device, data."""

    @property
    def total(self) -> float:
        return sum(p.points for p in self.parts)

    @property
    def max_total(self) -> int:
        return sum(p.max_points for p in self.parts)

    @property
    def extra(self) -> float:
        return sum(p.extra for p in self.parts)

    @property
    def max_extra(self) -> int:
        return sum(p.max_extra for p in self.parts)
