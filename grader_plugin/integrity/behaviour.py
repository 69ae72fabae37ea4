"""Behavioural detectors: answers that do not come from the model, whatever the code looks like.

Built-in plugin (grader side) for checks that declare ``answers_questions``:

- hidden questions (``grader_extra_questions``): :data:`HIDDEN_QUESTIONS` fresh questions,
  generated for each part by the project's question generator with a random seed that never
  leaves the grader, are mixed into the part's own answering call, shuffled among the graded
  ones, so the worker cannot tell them apart.  A part far better on the graded questions than on
  the hidden ones is flagged when a one-sided Fisher exact test gives p < :data:`ALPHA` and the
  gap is at least :data:`MIN_GAP`;
- weight ablation (``grader_scan_part``): one more worker answers, through the ordinary answering
  task and in a new random order, the questions the part was asked (graded and hidden, as many as
  in the real call, drawn after the hand-in answered), with the base model's files and the
  hand-in's LoRA tensors served with their values permuted within blocks
  (:mod:`grader_plugin.worker.probe`: dtype, quantisation grid, norms, file names, sizes and
  mtimes kept; the copies are written by a trusted worker in neutrally named folders, and served
  under the real run's names and paths, so nothing but the weights' function tells the probe
  from a real run).  Where the hand-in loads a model the grader cannot serve, the weights are
  disturbed in memory after ``load()`` instead, and the finding says which was used.  When
  accuracy does not collapse (keeps at least :data:`KEPT_SHARE` of the correct answers), the
  answers do not come from the weights.  A probe that cannot run makes the part "could not be
  checked", never clean.

Both tests only say something when the part answered well: at least :data:`MIN_ACCURACY` of the
graded questions for the hidden-question test, at least :data:`MIN_CORRECT` correct answers to
lose for ablation.  Below that there is nothing a cheat gained.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.integrity.stats import fisher_greater
from grader_plugin.marking.scoring import is_correct
from grader_plugin.results import Finding
from grader_plugin.worker.handin_tasks import ablated_answers, answer_questions
from grader_plugin.worker.probe import BLOCK
from grader_plugin.worker.trusted_tasks import disturbed_copy
from unitconv.paths import make_readable

HIDDEN_QUESTIONS = 30
MIN_ACCURACY = 0.25
MIN_CORRECT = 4
ALPHA = 0.001
MIN_GAP = 0.25
KEPT_SHARE = 0.5
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
    weights, adapters = ablation.get("tensors_disturbed", 0), ablation.get("adapter_tensors_disturbed", 0)
    what = (f"{how}: {weights} weight tensors disturbed (values permuted within blocks of {BLOCK}), "
            f"{adapters} adapter tensors disturbed")
    unread = ablation.get("unreadable_weight_files") or []
    if unread:
        names = ", ".join(ascii(str(name)[:80]) for name in unread[:3])
        what += f"; served as handed in, not safetensors files the probe could read: {names}"
    if not weights and not adapters:
        return Finding(
            f"{DETECTOR}: weight ablation",
            "weight ablation could not be checked: no model weights found on the loaded model to ablate",
            severity="unchecked",
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
    name, base = names[0], context.settings.base_model_name
    folder = context.model_folder(name)
    if folder is None:
        return None
    hub_id = name.count("/") == 1 and not Path(name).exists()
    return name if hub_id or folder == context.model_folder(base) else None


class ProbeError(Exception):
    """The ablation probe could not run; the message is one line without private paths."""


def _copy_hand_in(source: Path, target: Path) -> None:
    """The hand-in's parent folder copied into ``target``, links copied as links (never followed)."""
    try:
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    except shutil.Error as error:
        rows = error.args[0] if error.args and isinstance(error.args[0], list) else []
        failed = [os.path.relpath(row[0], source) for row in rows if str(row[0]).startswith(str(source))]
        raise ProbeError(f"the hand-in could not be copied ({', '.join(failed[:3]) or 'a file'})") from None
    except OSError as error:
        raise ProbeError(f"the hand-in could not be copied ({type(error).__name__}: {error.strerror})") from None


def _served_ablation(context, check, name: str, questions: list[str]):
    """Answers of a worker given disturbed files in place of the real ones (made once per run).

    The folders have neutral names: nothing a worker could see says "probe" or "disturbed"."""
    key = ("disturbed-weights", name)
    if key not in context.cache:
        target, hand_in = context.work_folder("copy-a"), context.work_folder("copy-b")
        _copy_hand_in(context.submission.parent, hand_in)
        payload = {"model": str(context.model_folder(name)), "target": str(target), "adapters_under": str(hand_in),
                   "seed": random.SystemRandom().randrange(2**63)}
        made = context.run_worker(disturbed_copy, payload, writable=(target, hand_in), timeout=DISTURB_TIMEOUT_S,
                                  label="integrity probe: disturbing the weights")
        make_readable(target), make_readable(hand_in)
        context.cache[key] = (target, hand_in, made)
    target, hand_in, made = context.cache[key]
    if not made.ok:
        raise ProbeError(f"the disturbed copy of {name} could not be made: {made.reason}")
    outcome = context.run_worker(answer_questions, {"questions": questions}, entry_point=check.entry_point,
                                 serve={name: target}, hand_in=hand_in, label="integrity probe: ablation")
    return outcome, made.data


def _ablated(context, check, outcome, questions: list[str]):
    """Answers with the weights ablated, the ablation record and how it was done; ProbeError when it failed."""
    name = _servable(context, outcome)
    if name is not None:
        probe, record = _served_ablation(context, check, name, questions)
        how = f"served ablation (disturbed files of {name} in place of the real ones)"
    else:
        probe = context.run_worker(ablated_answers, {"questions": questions}, entry_point=check.entry_point,
                                   label="integrity probe: ablation")
        record = probe.data.get("ablation") if probe.ok and isinstance(probe.data, dict) else {}
        how = "in-memory ablation after load() (the hand-in's model is not one the grader can serve)"
    answers = probe.data.get("answers") if probe.ok and isinstance(probe.data, dict) else None
    if not _numbers(answers) or len(answers) != len(questions) or not isinstance(record, dict):
        raise ProbeError(probe.reason or "the probe's result does not have the expected shape")
    return answers, record, how


def could_not_check(problem: str) -> Finding:
    """The finding of a probe that could not run: the part's integrity "could not be checked", never clean."""
    return Finding(f"{DETECTOR}: weight ablation", f"weight ablation could not be checked: {problem}",
                   severity="unchecked")


def ablation_sample(asked: list) -> list[int]:
    """Which of the asked questions the probe asks, in its order: all of them, as many as the real call
    had (a shorter call would tell the probe apart), in a new order only the grader knows."""
    return random.SystemRandom().sample(range(len(asked)), len(asked))


@hookimpl
def grader_scan_part(check, outcome, context):
    if outcome is None or not outcome.ok or not check.answers_questions or not check.entry_point:
        return None
    marked = context.asked_answers(outcome)
    if not marked.all_numbers:
        return None
    correct, graded = marked.count_correct("graded")
    if correct < MIN_ACCURACY * graded:
        return None
    hidden_correct, hidden = marked.count_correct(__name__)
    findings = [judge_hidden(correct, graded, hidden_correct, hidden)]
    asked = marked.asked
    sample = [asked[i] for i in ablation_sample(list(asked))]
    before, _ = marked.count_correct(None)
    if before >= MIN_CORRECT:
        try:
            ablated, record, how = _ablated(context, check, outcome, [q.text for q in sample])
        except ProbeError as error:
            return [f for f in findings if f] + [could_not_check(str(error))]
        except Exception as error:  # noqa: BLE001 - a probe that broke must not hide the hidden-question finding
            return [f for f in findings if f] + [could_not_check(f"the probe failed ({type(error).__name__})")]
        after = sum(is_correct(a, q.expected) for a, q in zip(ablated, sample, strict=True) if math.isfinite(a))
        findings.append(judge_ablation(before, after, len(sample), record, how))
    return [f for f in findings if f is not None]


def _numbers(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
