"""The grader's own answer check and score ramps (the course's rules, never the submission's).

See ``docs/course-rules.md``: an answer is right when, both rounded to 3 decimals, it is within 5% of
the correct value (within 0.001 when the rounded correct value is 0); NaN and infinities are
wrong.  Ramps are linear between two bounds and parts are rounded to whole points.
"""

from __future__ import annotations

import math

RELATIVE_TOLERANCE = 0.05
ZERO_TOLERANCE = 0.001


def is_correct(answer: float, expected: float) -> bool:
    """The course's answer check."""
    try:
        answer, expected = float(answer), float(expected)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(answer) and math.isfinite(expected)):
        return False
    answer, expected = round(answer, 3), round(expected, 3)
    if expected == 0:
        return abs(answer) < ZERO_TOLERANCE
    return abs(answer - expected) < RELATIVE_TOLERANCE * abs(expected)


def ramp(value: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear between; NaN counts as 0."""
    if value is None or math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, (value - low) / (high - low)))


def whole_points(points: int, fraction: float) -> int:
    """``points * fraction`` rounded half up to whole points, as the course does."""
    return int(math.floor(points * fraction + 0.5))
