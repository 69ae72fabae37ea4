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


def sign_test(gains: int, losses: int) -> float:
    """One-sided p-value of at least ``gains`` successes in ``gains + losses`` fair coin flips."""
    total = gains + losses
    return sum(comb(total, k) for k in range(gains, total + 1)) / 2**total if total else 1.0


def binomial_at_least(successes: int, trials: int, rate: float) -> float:
    """Probability of at least ``successes`` in ``trials`` independent tries that each succeed at ``rate``."""
    return sum(comb(trials, k) * rate**k * (1 - rate) ** (trials - k) for k in range(successes, trials + 1))


def sign_test_sample_size(share: float, alpha: float, power: float, min_gains: int, limit: int) -> int:
    """How many answers to replay so that the sign test flags, with probability ``power``, a part in
    which a ``share`` of the answers are right only as reported (each such answer sampled is a gain).

    The sign test with no losses flags from the smallest number of gains ``g`` (at least
    ``min_gains``) with ``2**-g < alpha``; the sample must then hold ``g`` such answers with
    probability ``power``.  At most ``limit`` (everything there is to replay).
    """
    needed = max(min_gains, next(g for g in range(1, 64) if sign_test(g, 0) < alpha))
    for size in range(needed, limit + 1):
        if binomial_at_least(needed, size, share) >= power:
            return size
    return limit
