"""Built-in threshold profiles, and the fallback answer of ``grader_thresholds``.

``course`` (the default): the course's ramps and limits (``docs/course-rules.md``), and no rule the
course's own grader does not apply: what such rules find is reported as a warning
(``docs/course-differences.md`` lists every difference).  ``strict``: the same bars, plus the
rules a demanding reviewer of the code would add (:data:`STRICT_RULES`).  The generation parts'
loss bounds are not in this table: they depend on the base model the hand-in loaded and are
worked out per run (``builtin/generation.py``).
"""

from __future__ import annotations

from grader_plugin import hookimpl
from grader_plugin.checks import Bounds, Profile

STRICT_RULES = frozenset({
    "sampling-shapes",   # batched_generate(..., num_return_sequences=n) returns a list of n-string lists
    "empty-outputs",     # an empty output, or one that repeats its prompt, counts as a broken output
    "answer-count",      # answer() returns exactly one number per question
})

COURSE = Profile(
    name="course",
    description="the course's score ramps and hand-in limits, and no rule the course does not apply",
    bounds={
        "cot": Bounds(0.0, 0.4),
        "sft": Bounds(0.4, 0.6),
        "rft": Bounds(0.6, 0.7, extra_low=0.7, extra_high=0.8),
    },
)
STRICT = Profile(
    name="strict",
    description="the course's bars plus the shape, output and answer-count rules the course does not apply",
    bounds=COURSE.bounds,
    rules=STRICT_RULES,
)


@hookimpl
def grader_register_profiles(register):
    register(COURSE)
    register(STRICT)


@hookimpl(trylast=True)
def grader_thresholds(check, profile):
    return profile.bounds.get(check.name, check.default_bounds)
