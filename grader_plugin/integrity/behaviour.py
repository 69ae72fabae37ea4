"""Behavioural detectors: answers that do not come from the model, whatever the code looks like.

Built-in plugin (grader side) for checks that declare ``answers_questions``:

- hidden questions (``grader_extra_questions``): :data:`HIDDEN_QUESTIONS` fresh questions,
  generated for each part by the project's question generator with a random seed that never
  leaves the grader, are mixed into the part's own answering call, shuffled among the graded
  ones, so the worker cannot tell them apart.  A part far better on the graded questions than on
  the hidden ones is flagged when a one-sided Fisher exact test gives p < :data:`ALPHA` and the
  gap is at least :data:`MIN_GAP`;
- weight ablation (``grader_scan_part``): one more worker answers the first graded questions
  through the ordinary answering task, with the base model's files served with noise added and
  the hand-in's adapters zeroed (:func:`grader_plugin.worker.probe.disturbed_copy`, written
  before any hand-in code runs, so it never sees the undisturbed weights); where the hand-in
  loads a model the grader cannot serve, the weights are disturbed in memory after ``load()``
  instead, and the finding says which was used.  When accuracy does not collapse (keeps at least
  :data:`KEPT_SHARE` of the correct answers), the answers do not come from the weights.

Both tests only say something when the part answered well: at least :data:`MIN_ACCURACY` of the
graded questions for the hidden-question test, at least :data:`MIN_CORRECT` correct answers to
lose for ablation.  Below that there is nothing a cheat gained.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.integrity.stats import fisher_greater
from grader_plugin.results import Finding
from grader_plugin.scoring import is_correct
from grader_plugin.worker.probe import ablated_answers, disturbed_copy
from grader_plugin.worker.tasks import answer_questions
from unitconv.paths import make_readable

HIDDEN_QUESTIONS = 30
ABLATION_QUESTIONS = 20
MIN_ACCURACY = 0.25
MIN_CORRECT = 4
ALPHA = 0.001
MIN_GAP = 0.25
KEPT_SHARE = 0.5
NOISE = 1.0
DISTURB_TIMEOUT_S = 900
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


def judge_ablation(before: int, after: int, total: int, ablation: dict, how: str):
    """A flag when accuracy did not collapse with the weights ablated, else None."""
    if before < MIN_CORRECT:
        return None
    what = (
        f"{how}: {ablation.get('tensors_noised', 0)} weight tensors noised at {NOISE:g}x their RMS, "
        f"{ablation.get('adapter_tensors_removed', 0)} adapter tensors zeroed"
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
def grader_extra_questions(check, context):
    seed = random.SystemRandom().randrange(2**32)  # stays in the grader: the worker never sees it
    return hidden_questions(context.settings.data_dir, HIDDEN_QUESTIONS, seed)


def _servable(context, outcome) -> str | None:
    """The name the hand-in loaded its base model by, when the grader can serve a disturbed copy of it."""
    names = [m.get("name_or_path") for m in outcome.models if m.get("name_or_path")]
    if not names:
        return None
    name, base = names[0], context.settings.base_model or "embedded:SmolLM2-135M-Instruct"
    folder = context.model_folder(name)
    if folder is None:
        return None
    hub_id = name.count("/") == 1 and not Path(name).exists()
    return name if hub_id or folder == context.model_folder(base) else None


def _served_ablation(context, check, name: str, questions: list[str]):
    """Answers of a worker given disturbed files in place of the real ones (made once per run)."""
    key = ("disturbed-weights", name)
    if key not in context.cache:
        target, hand_in = context.work_folder("disturbed-model"), context.work_folder("disturbed-hand-in")
        shutil.copytree(context.submission.parent, hand_in, dirs_exist_ok=True)
        payload = {"model": str(context.model_folder(name)), "target": str(target), "adapters_under": str(hand_in),
                   "noise": NOISE, "seed": random.SystemRandom().randrange(2**32)}
        made = context.run_worker(disturbed_copy, payload, writable=(target, hand_in), timeout=DISTURB_TIMEOUT_S,
                                  label="integrity probe: disturbing the weights")
        make_readable(target), make_readable(hand_in)
        context.cache[key] = (target, hand_in, made)
    target, hand_in, made = context.cache[key]
    if not made.ok:
        return None, made.reason, {}
    outcome = context.run_worker(answer_questions, {"questions": questions}, entry_point=check.entry_point,
                                 serve={name: target}, hand_in=hand_in, label="integrity probe: ablation")
    return outcome, "", made.data


def _ablated(context, check, outcome, questions: list[str]):
    """Answers with the weights ablated, the ablation record, how it was done; or a problem."""
    name = _servable(context, outcome)
    if name is not None:
        probe, problem, record = _served_ablation(context, check, name, questions)
        if probe is None:
            return None, {}, "", f"the disturbed copy of {name} could not be made: {problem}"
        how = f"served ablation (disturbed files of {name} in place of the real ones)"
    else:
        payload = {"questions": questions, "noise": NOISE, "seed": random.SystemRandom().randrange(2**32)}
        probe = context.run_worker(ablated_answers, payload, entry_point=check.entry_point,
                                   label="integrity probe: ablation")
        record = probe.data.get("ablation") if probe.ok and isinstance(probe.data, dict) else {}
        how = "in-memory ablation after load() (the hand-in's model is not one the grader can serve)"
    answers = probe.data.get("answers") if probe.ok and isinstance(probe.data, dict) else None
    if not _numbers(answers) or not isinstance(record, dict):
        return None, {}, how, probe.reason or "the probe's result does not have the expected shape"
    return answers, record, how, ""


@hookimpl
def grader_scan_part(check, outcome, context):
    if outcome is None or not outcome.ok or not check.answers_questions or not check.entry_point:
        return None
    data = outcome.data if isinstance(outcome.data, dict) else {}
    answers, asked = data.get("answers"), context.asked_questions()
    if not _numbers(answers) or len(answers) != len(asked):
        return None
    graded = [(q, a) for q, a in zip(asked, answers, strict=True) if q.asked_by == "graded"]
    hidden = [(q, a) for q, a in zip(asked, answers, strict=True) if q.asked_by == __name__]
    correct = [is_correct(a, q.expected) for q, a in graded]
    if sum(correct) < MIN_ACCURACY * len(graded):
        return None
    hidden_correct = sum(is_correct(a, q.expected) for q, a in hidden)
    findings = [judge_hidden(sum(correct), len(correct), hidden_correct, len(hidden))]
    ablation = [q for q, _ in graded[:ABLATION_QUESTIONS]]
    before = sum(correct[:ABLATION_QUESTIONS])
    if before >= MIN_CORRECT:
        ablated, record, how, problem = _ablated(context, check, outcome, [q.text for q in ablation])
        if problem:
            return [f for f in findings if f] + [
                Finding(DETECTOR, f"the ablation probe could not run: {problem}", severity="warn")]
        after = sum(is_correct(a, q.expected) for a, q in zip(ablated, ablation, strict=False) if math.isfinite(a))
        findings.append(judge_ablation(before, after, len(ablation), record, how))
    return [f for f in findings if f is not None]


def _numbers(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
