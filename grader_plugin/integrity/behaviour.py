"""Behavioural detectors: answers that do not come from the model, whatever the code looks like.

Built-in plugin on ``grader_scan_part`` (grader side) for checks that declare
``answers_questions``.  After a part was answered, one more worker
(:func:`grader_plugin.worker.probe.hidden_and_ablated`) loads the same entry point and

- answers hidden questions, generated fresh for this grading run by the project's question
  generator (a random seed, never written to disk), of the same kind as the public ones; a part
  far better on the public questions than on the hidden ones is flagged when a one-sided Fisher
  exact test gives p < :data:`ALPHA` and the gap is at least :data:`MIN_GAP`;
- answers the first public questions again with the weights ablated (adapters removed, base
  weights noised); when accuracy does not collapse (keeps at least :data:`KEPT_SHARE` of the
  correct answers), the answers do not come from the weights.

Both tests only say something when the part answered well: the probe runs only when public
accuracy is at least :data:`MIN_ACCURACY`, and ablation is judged only with at least
:data:`MIN_CORRECT` correct answers to lose.  Below that there is nothing a cheat gained.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.integrity.stats import fisher_greater
from grader_plugin.results import Finding
from grader_plugin.scoring import is_correct
from grader_plugin.worker.probe import hidden_and_ablated

HIDDEN_QUESTIONS = 30
ABLATION_QUESTIONS = 20
MIN_ACCURACY = 0.25
MIN_CORRECT = 4
ALPHA = 0.001
MIN_GAP = 0.25
KEPT_SHARE = 0.5
NOISE = 1.0
DETECTOR = "behaviour"


def hidden_questions(data_dir: Path, count: int, seed: int):
    """``count`` fresh questions (text, expected) that are in neither stored split of ``data_dir``."""
    from unitconv.questions import make_questions

    known: set[str] = set()
    for name in ("valid.json", "train.json"):
        path = Path(data_dir) / name
        if path.is_file():
            known.update(row[0] for row in json.loads(path.read_text(encoding="utf-8")))
    return [(q.text, q.answer) for q in make_questions(count, seed, exclude=known)]


def judge_hidden(public_correct: int, public_total: int, hidden_correct: int, hidden_total: int):
    """A flag when public accuracy is far and significantly above hidden accuracy, else None."""
    if not public_total or not hidden_total:
        return None
    public, hidden = public_correct / public_total, hidden_correct / hidden_total
    p_value = fisher_greater(public_correct, public_total, hidden_correct, hidden_total)
    if p_value >= ALPHA or public - hidden < MIN_GAP:
        return None
    return Finding(
        f"{DETECTOR}: hidden questions",
        f"accuracy {public:.2f} on the public questions but {hidden:.2f} on fresh hidden ones "
        f"(p = {p_value:.2g})",
        evidence=(
            f"public {public_correct}/{public_total}, hidden {hidden_correct}/{hidden_total}; "
            f"one-sided Fisher exact test p = {p_value:.3g} (flag below {ALPHA:g}, gap at least {MIN_GAP:g})"
        ),
    )


def judge_ablation(before: int, after: int, total: int, ablation: dict):
    """A flag when accuracy did not collapse with the weights ablated, else None."""
    if before < MIN_CORRECT:
        return None
    what = (
        f"{ablation.get('tensors_noised', 0)} weight tensors noised at {NOISE:g}x their RMS, "
        f"{ablation.get('adapter_tensors_removed', 0)} adapter tensors removed "
        f"(modules: {', '.join(ablation.get('modules', [])) or 'none'})"
    )
    if not ablation.get("tensors_noised") and not ablation.get("adapter_tensors_removed"):
        return Finding(
            f"{DETECTOR}: weight ablation",
            "no model weights found on the loaded model to ablate; answers cannot be traced to a model",
            severity="warn",
            evidence=what,
        )
    if after < KEPT_SHARE * before:
        return None
    return Finding(
        f"{DETECTOR}: weight ablation",
        f"accuracy did not collapse with the model's weights ablated ({before}/{total} -> {after}/{total})",
        evidence=f"{before}/{total} correct as submitted, {after}/{total} after ablation; {what}",
    )


@hookimpl
def grader_scan_part(check, outcome, context):
    if outcome is None or not outcome.ok or not check.answers_questions or not check.entry_point:
        return None
    data = outcome.data if isinstance(outcome.data, dict) else {}
    answers = data.get("answers")
    questions = context.public_questions()
    if not isinstance(answers, list) or len(answers) != len(questions):
        return None
    correct = [is_correct(a, q.expected) for q, a in zip(questions, answers, strict=True)]
    if sum(correct) < MIN_ACCURACY * len(questions):
        return None
    seed = random.SystemRandom().randrange(2**32)
    hidden = hidden_questions(context.settings.data_dir, HIDDEN_QUESTIONS, seed)
    ablation = questions[:ABLATION_QUESTIONS]
    payload = {
        "hidden": [text for text, _ in hidden],
        "ablation": [q.text for q in ablation],
        "noise": NOISE,
        "seed": seed,
    }
    probe = context.run_worker(hidden_and_ablated, payload, entry_point=check.entry_point)
    result, problem = _probe_result(probe, len(hidden))
    if problem:
        return [Finding(DETECTOR, f"the hidden-question and ablation probe could not run: {problem}", severity="warn")]
    hidden_correct = sum(is_correct(a, e) for a, (_, e) in zip(result["hidden"], hidden, strict=True))
    findings = [judge_hidden(sum(correct), len(correct), hidden_correct, len(hidden))]
    after = sum(is_correct(a, q.expected) for a, q in zip(result["ablated"], ablation, strict=False)
                if math.isfinite(a))
    findings.append(judge_ablation(sum(correct[: len(ablation)]), after, len(ablation), result["ablation"]))
    return [f for f in findings if f is not None]


def _numbers(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)


def _probe_result(probe, hidden: int) -> tuple[dict, str]:
    """The probe's data when it has the expected shape, else what is wrong with it."""
    if not probe.ok:
        return {}, probe.reason
    data = probe.data if isinstance(probe.data, dict) else {}
    ablation = data.get("ablation")
    if not (_numbers(data.get("hidden")) and _numbers(data.get("ablated")) and isinstance(ablation, dict)):
        return {}, "the probe's result does not have the expected shape"
    if len(data["hidden"]) != hidden:
        return {}, "the probe returned the wrong number of answers"
    counts = ("tensors_noised", "adapter_tensors_removed")
    if not all(isinstance(ablation.get(key, 0), int) for key in counts) or not isinstance(
        ablation.get("modules", []), list
    ):
        return {}, "the probe's ablation record does not have the expected shape"
    return data, ""
