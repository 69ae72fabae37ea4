"""What a graded part is: a :class:`Check`, and the bounds and profiles that score it.

A check is data plus two grader-side functions.  ``payload`` builds what the worker receives
(questions or prompts, never expected answers); ``score`` turns the worker's measurements into a
:class:`~grader_plugin.results.PartResult`.  ``task`` names the function the worker runs on the
submission's model, as ``"module:function"``, because the worker is a fresh interpreter that
can only import it, not receive it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader_plugin.results import PartResult, WorkerOutcome
    from grader_plugin.session import GradeContext

ENTRY_POINTS = ("base", "cot", "sft", "rft")
"""Entry points a check may need: ``base`` is the submission's ``BaseLLM`` class, the others its
``load()`` functions of the parts."""


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
    """A named set of thresholds: per-check bounds and the hand-in limits."""

    name: str
    description: str
    bounds: Mapping[str, Bounds]
    max_parameters: int = 380_000_000
    max_bundle_bytes: int = 50_000_000
    max_adapter_bytes: int = 20_000_000


@dataclass(frozen=True)
class Check:
    """One graded part.

    :param name: item name, also used by ``--grade-parts`` and ``-k`` (``cot``).
    :param title: what the table shows (``CoT accuracy``).
    :param points: points for full marks; 0 for a pass/fail rule.
    :param extra_credit: extra points on top (RFT: 5).
    :param timeout_s: default time limit of the worker, seconds (``--grade-timeout`` overrides).
    :param entry_point: which submission entry point the worker loads (one of
        :data:`ENTRY_POINTS`), or None when no submission code runs.
    :param task: ``"module:function"`` the worker calls as ``function(model, payload)``; None for a
        check scored in the grader process alone.
    :param payload: ``payload(context) -> dict`` (JSON-able) sent to the worker.
    :param score: ``score(context, outcome) -> PartResult``; called only when the worker succeeded
        (or when there is no worker).
    :param measure: name of the measured figure shown in the table (``accuracy``).
    :param default_bounds: bounds used when the active profile has none for this check.
    """

    name: str
    title: str
    points: int
    score: Callable[[GradeContext, WorkerOutcome | None], PartResult]
    extra_credit: int = 0
    timeout_s: float = 120.0
    entry_point: str | None = None
    task: str | None = None
    payload: Callable[[GradeContext], dict[str, Any]] | None = None
    measure: str = ""
    default_bounds: Bounds | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.entry_point is not None and self.entry_point not in ENTRY_POINTS:
            raise ValueError(
                f"Check {self.name!r}: entry_point must be one of {ENTRY_POINTS} or None, "
                f"got {self.entry_point!r}"
            )
        if self.task is not None and ":" not in self.task:
            raise ValueError(f"Check {self.name!r}: task must look like 'module:function', got {self.task!r}")
