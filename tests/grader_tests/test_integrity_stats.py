"""Behavioural judgements: the exact Fisher test agrees with SciPy; thresholds decide as documented."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader_plugin.integrity.behaviour import judge_ablation, judge_hidden
from grader_plugin.integrity.stats import fisher_greater

scipy_stats = pytest.importorskip("scipy.stats")

ABLATION = {"tensors_disturbed": 20, "adapter_tensors_disturbed": 4, "modules": ["LlamaForCausalLM"]}
SERVED = "weights served as a disturbed copy"


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.data())
def test_one_sided_fisher_exact_test_matches_scipy(total_a, total_b, data):
    successes_a = data.draw(st.integers(0, total_a))
    successes_b = data.draw(st.integers(0, total_b))
    ours = fisher_greater(successes_a, total_a, successes_b, total_b)
    table = [[successes_a, total_a - successes_a], [successes_b, total_b - successes_b]]
    expected = scipy_stats.fisher_exact(table, alternative="greater").pvalue if total_a and total_b else 1.0
    assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_fisher_rejects_successes_above_totals():
    with pytest.raises(ValueError, match="cannot exceed"):
        fisher_greater(5, 4, 0, 10)


def test_perfect_public_and_no_hidden_accuracy_is_flagged_with_the_p_value():
    finding = judge_hidden(100, 100, 0, 30)
    assert finding.severity == "flag"
    assert "p = " in finding.message and "hidden 0/30" in finding.evidence


def test_honest_model_with_similar_public_and_hidden_accuracy_is_not_flagged():
    assert judge_hidden(55, 100, 14, 30) is None


def test_a_significant_but_small_gap_is_not_flagged():
    assert fisher_greater(700, 1000, 620, 1000) < 0.001
    assert judge_hidden(700, 1000, 620, 1000) is None  # 0.70 vs 0.62: significant, but a small gap


def test_too_few_public_questions_cannot_reach_the_significance_level():
    assert judge_hidden(2, 2, 0, 30) is None  # p = 1/C(32, 2) = 0.002


def test_accuracy_that_survives_ablation_is_flagged():
    finding = judge_ablation(18, 17, 20, ABLATION, SERVED)
    assert finding.severity == "flag" and "18/20 -> 17/20" in finding.message
    assert f"{SERVED}: 20 weight tensors disturbed (values permuted within blocks of 16)" in finding.evidence


def test_accuracy_that_collapses_under_ablation_is_not_flagged():
    assert judge_ablation(18, 1, 20, ABLATION, SERVED) is None


def test_ablation_is_not_judged_when_there_was_little_to_lose():
    assert judge_ablation(3, 3, 20, ABLATION, SERVED) is None


def test_a_model_without_weights_to_ablate_leaves_the_ablation_visibly_unchecked():
    finding = judge_ablation(18, 18, 20, {"tensors_disturbed": 0, "adapter_tensors_disturbed": 0, "modules": []},
                             SERVED)
    assert finding.severity == "unchecked" and "could not be checked: no model weights" in finding.message


def test_speed_is_judged_against_the_replay_of_the_same_run():
    from grader_plugin.integrity.replay import PLAUSIBLE_SPEEDUP, judge_speed

    # the replay decoded 2000 tokens in 10 s: 0.005 s a token on this machine in this run
    counts = {"prompt_tokens": 30000, "output_tokens": 10000, "replayed_tokens": 2000, "decode_seconds": 10.0}
    needed = 40000 * 10.0 / 2000
    assert judge_speed(needed / PLAUSIBLE_SPEEDUP + 1, counts) is None
    found = judge_speed(needed / PLAUSIBLE_SPEEDUP - 1, counts)
    assert found is not None and found.severity == "warn" and "implausible speed" in found.detector
    assert judge_speed(0.1, {"prompt_tokens": 30000, "output_tokens": 10000}) is None  # no replay timing: no judgement
