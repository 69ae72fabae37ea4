"""Built-in threshold profiles, and the fallback answer of ``grader_thresholds``.

``course``: the course's ramps and limits (``COURSE_FACTS.md``).  The generation parts are
scored by agreement with the grader's own greedy decoding of the same base model, so their
bounds hold for any base model: a correct implementation agrees almost everywhere (small
numeric differences of batching may flip a token late in an output), a wrong one (prompt echoed,
padding on the wrong side, no attention mask) falls well below half.
"""

from __future__ import annotations

from grader_plugin import hookimpl
from grader_plugin.checks import Bounds, Profile

GENERATION_BOUNDS = Bounds(0.5, 0.9)

COURSE = Profile(
    name="course",
    description="the course's score ramps and hand-in limits",
    bounds={
        "generate": GENERATION_BOUNDS,
        "batched_generate": GENERATION_BOUNDS,
        "cot": Bounds(0.0, 0.4),
        "sft": Bounds(0.4, 0.6),
        "rft": Bounds(0.6, 0.7, extra_low=0.7, extra_high=0.8),
    },
)


@hookimpl
def grader_register_profiles(register):
    register(COURSE)


@hookimpl(trylast=True)
def grader_thresholds(check, profile):
    return profile.bounds.get(check.name, check.default_bounds)
