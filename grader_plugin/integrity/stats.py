"""The statistics of the hidden-question test: a one-sided Fisher exact test, computed exactly.

Kept in the standard library (``math.comb`` on integers) so that grading needs no SciPy; the
tests compare it with ``scipy.stats.fisher_exact``.
"""

from __future__ import annotations

from math import comb


def fisher_greater(successes_a: int, total_a: int, successes_b: int, total_b: int) -> float:
    """p-value that group A's success rate is greater than group B's (one-sided Fisher exact test).

    The probability, with both margins fixed, of A having at least ``successes_a`` successes:
    the upper tail of the hypergeometric distribution.
    """
    for name, value in (
        ("successes_a", successes_a),
        ("total_a", total_a),
        ("successes_b", successes_b),
        ("total_b", total_b),
    ):
        if value < 0:
            raise ValueError(f"fisher_greater: {name} must be >= 0, got {value}")
    if successes_a > total_a or successes_b > total_b:
        raise ValueError("fisher_greater: successes cannot exceed totals")
    successes, total = successes_a + successes_b, total_a + total_b
    if total_a == 0 or total_b == 0:
        return 1.0
    upper = sum(
        comb(successes, k) * comb(total - successes, total_a - k)
        for k in range(successes_a, min(successes, total_a) + 1)
    )
    return min(1.0, upper / comb(total, total_a))
