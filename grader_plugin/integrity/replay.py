"""Trusted replay, the root of trust: every answer must follow from what the model itself writes.

Built-in plugin on ``grader_scan_part`` (grader side) for checks that declare
``answers_questions``.  It relies only on what the grader controls: the questions it asked, the
weights it serves and a decoding it runs itself.  The part's worker recorded, at
``batched_generate``, the prompts the hand-in's ``format_prompt`` produced and the raw outputs
(:func:`grader_plugin.worker.handin_tasks.answer_questions`); that record is hand-in side, so it is
evidence of nothing until the grader's own decoding agrees with it.  A separate worker with no
hand-in code (:func:`grader_plugin.worker.trusted_tasks.replay_answers`) loads the base model the grader
serves for what the hand-in loaded, and the hand-in's adapter, and decodes a sample of the recorded
prompts greedily with the grader's own code and parser.

Flags (the part scores 0), each with its evidence:

- **no model**: the loaded object holds no transformers model the worker could find, at any depth
  or in the hand-in's module globals: its answers cannot come from a model;
- **not traced**: ``answer()`` returned answers without one recorded model call per question, so
  no answer can be traced to the model;
- **not replayable**: the model is not one the grader serves, or carries an adapter that is in no
  adapter folder of the hand-in: the grader cannot decode what it would have written;
- **outputs not the model's**: over the sample, recorded outputs right where the grader's replay of
  the same prompt is wrong (*gains*) against the reverse (*losses*), when gains are at least
  :data:`MIN_GAINS` and a one-sided sign test gives p < :data:`ALPHA`.  An honest greedy model
  reproduces itself; an honest sampling one gains and loses alike;
- **answers not from the outputs**: the same test over every question, between ``answer()``'s
  answer and what the recorded output states (:func:`says_answer`: its tags, its leading
  expression or any number it writes, so that a hand-in's own parser is not held against it);
- **answer in prompt** (:mod:`grader_plugin.integrity.prompt_leaks`).

The sample is drawn by the grader after the hand-in answered (not the front of the call), sized by
:func:`grader_plugin.integrity.stats.sign_test_sample_size` to catch a part in which
:data:`POWER_SHARE` of the answers are not the model's with probability :data:`POWER`, plus every
question answered differently from its own recorded output.  A replay that could not run makes the
part "could not be checked".  A part reporting more decoding than the replay, timed in the same run,
says this machine can do is a warning.  Like the other behavioural detectors it judges only parts
that answered at least :data:`MIN_ACCURACY` of their graded questions right.
"""

from __future__ import annotations

import math
import random

from grader_plugin import hookimpl
from grader_plugin.integrity import replay_target
from grader_plugin.integrity.prompt_leaks import judge_leaks, numbers_in
from grader_plugin.integrity.stats import sign_test, sign_test_sample_size
from grader_plugin.marking.scoring import is_correct
from grader_plugin.results import Finding
from grader_plugin.text import one_line
from grader_plugin.worker.trusted_tasks import replay_answers
from unitconv.arithmetic import evaluate_number, parse_tagged_answer

DETECTOR = "replay"
MIN_GAINS = 3
ALPHA = 0.01
POWER_SHARE = 0.25
"""The share of answers not the model's that the sample must catch ..."""
POWER = 0.95
"""... with this probability."""
PLAUSIBLE_SPEEDUP = 10
MAX_NEW_TOKENS = 200
MIN_ACCURACY = 0.25


def _shown(text, width: int = 60) -> str:
    return one_line(repr(text), width)


def judge_gains(kind: str, rows: list[tuple[bool, bool, str]]) -> Finding | None:
    """A flag when the first of each ``(claimed right, replay right, evidence)`` wins significantly."""
    gains = [evidence for claimed, replayed, evidence in rows if claimed and not replayed]
    losses = sum(1 for claimed, replayed, _ in rows if replayed and not claimed)
    p_value = sign_test(len(gains), losses)
    if len(gains) < MIN_GAINS or p_value >= ALPHA:
        return None
    return Finding(
        f"{DETECTOR}: {kind}",
        f"{len(gains)} of {len(rows)} replayed answers were right only as the hand-in reported them "
        f"({losses} the other way; sign test p = {p_value:.2g})",
        evidence="; ".join(gains[:3]),
    )


def judge_speed(seconds: float, counts: dict) -> Finding | None:
    """A warning when the part reported more decoding than the replay says this machine does in its time.

    The rate comes from the replay itself (``counts``: its ``decode_seconds`` for its
    ``replayed_tokens``, timed in the trusted worker of this run on the same model), so load on the
    machine slows both alike.  A warning, never a flag: batching differs between the two decodings.
    """
    replayed, spent = counts.get("replayed_tokens", 0), counts.get("decode_seconds", 0.0)
    if replayed <= 0 or spent <= 0:
        return None
    needed = (counts["prompt_tokens"] + counts["output_tokens"]) * spent / replayed
    floor = needed / PLAUSIBLE_SPEEDUP
    if seconds >= floor:
        return None
    return Finding(f"{DETECTOR}: implausible speed",
                   f"the worker reported {counts['prompt_tokens']} prompt and {counts['output_tokens']} output tokens "
                   f"in {seconds:.1f} s; the grader's replay on the same model in this run needs {needed:.0f} s "
                   f"for that many", severity="warn",
                   evidence=f"below 1/{PLAUSIBLE_SPEEDUP} of the replay's time ({floor:.1f} s); replay: "
                            f"{replayed} tokens in {spent:.1f} s")


def choose_sample(answers: list[float], recorded: list[float]) -> list[int]:
    """Positions to replay: a random sample sized by the power calculation, drawn now (after the
    hand-in answered, with a seed it never sees), plus every answer that differs from what its own
    recorded output says."""
    count = len(answers)
    size = sign_test_sample_size(POWER_SHARE, ALPHA, POWER, MIN_GAINS, count)
    chosen = set(random.SystemRandom().sample(range(count), size))
    chosen |= {i for i, (a, r) in enumerate(zip(answers, recorded, strict=True)) if not _same(a, r)}
    return sorted(chosen)


def _same(answer: float, recorded: float) -> bool:
    if math.isnan(answer) and math.isnan(recorded):
        return True
    return is_correct(answer, recorded) if math.isfinite(recorded) else False


def says_answer(output: str, expected: float) -> bool:
    """Whether ``output`` states ``expected``: in its answer tags, as its leading expression, or as a
    number it writes (a hand-in may parse its outputs its own way)."""
    candidates = [parse_tagged_answer(output), evaluate_number(output), *numbers_in(output)]
    return any(is_correct(value, expected) for value in candidates)


def _untraceable(outcome, answers, prompts, outputs) -> Finding | None:
    """A flag when the answers cannot be tied to a model at all."""
    if not [m for m in outcome.models if isinstance(m, dict)]:
        return Finding(f"{DETECTOR}: no model",
                       "no transformers model was found on the loaded object (searched at any depth and in the "
                       "hand-in's module globals): its answers cannot come from a model",
                       evidence=f"{len(answers)} answers, 0 models")
    calls = len(prompts) if isinstance(prompts, list) else 0
    if isinstance(prompts, list) and isinstance(outputs, list) and len(prompts) == len(outputs) == len(answers):
        return None
    return Finding(f"{DETECTOR}: not traced",
                   f"answer() returned {len(answers)} answers but batched_generate recorded {calls} prompts with "
                   f"one output each: answers that come from no recorded model call cannot be traced to the model "
                   f"(answer() must generate through batched_generate, one prompt per question)",
                   evidence=f"answers {len(answers)}, recorded prompts {calls}")


def _rows(asked, answers, outputs, recorded, chosen, result) -> tuple[list, list]:
    """``(claimed right, replay right, evidence)`` rows for the output test and the answer test."""
    output_rows, answer_rows = [], []
    for position, index in enumerate(chosen):
        question, claimed = asked[index], answers[index]
        evidence = (f"{_shown(question.text)}: answered {claimed:g}, its output {_shown(outputs[index])}, "
                    f"replayed {_shown(result['replayed'][position])}, expected {question.expected:g}")
        output_rows.append((is_correct(recorded[index], question.expected),
                            is_correct(result["replayed_answers"][position], question.expected), evidence))
    for index, question in enumerate(asked):
        answer_rows.append((is_correct(answers[index], question.expected),
                            says_answer(outputs[index], question.expected),
                            f"{_shown(question.text)}: answered {answers[index]:g}, its own output "
                            f"{_shown(outputs[index])}, expected {question.expected:g}"))
    return output_rows, answer_rows


@hookimpl
def grader_scan_part(check, outcome, context):
    if outcome is None or not outcome.ok or not check.answers_questions or not check.entry_point:
        return None
    data = outcome.data if isinstance(outcome.data, dict) else {}
    marked = context.asked_answers(outcome)
    asked, answers = list(marked.asked), marked.returned
    prompts, outputs = data.get("prompts"), data.get("raw")
    if not marked.complete:
        return None
    correct, graded = marked.count_correct("graded")
    if correct < MIN_ACCURACY * graded:
        return None  # nothing gained that a replay could call into question
    untraceable = _untraceable(outcome, answers, prompts, outputs)
    if untraceable is not None:
        return [untraceable]
    outputs = [o if isinstance(o, str) else "" for o in outputs]
    prompts = [p if isinstance(p, str) else "" for p in prompts]
    findings = [judge_leaks(asked, prompts)]
    target, problem = replay_target.choose(check, outcome, context)
    if target is None:
        return [f for f in findings if f] + [Finding(f"{DETECTOR}: not replayable", problem)]
    recorded = [parse_tagged_answer(o) for o in outputs]
    answers = list(marked.answers)
    chosen = choose_sample(answers, recorded)
    payload = {**target, "device": context.settings.device, "prompts": prompts, "outputs": outputs,
               "replay": chosen, "max_new_tokens": MAX_NEW_TOKENS}
    replay = context.run_worker(replay_answers, payload, label="replay")
    if not replay.ok or not isinstance(replay.data, dict):
        return [f for f in findings if f] + [Finding(DETECTOR, f"could not be checked: the replay failed: "
                                                               f"{replay.reason}", severity="unchecked")]
    output_rows, answer_rows = _rows(asked, answers, outputs, recorded, chosen, replay.data)
    findings += [judge_gains("outputs not the model's", output_rows),
                 judge_gains("answers not from the outputs", answer_rows),
                 judge_speed(outcome.seconds, replay.data)]
    return [f for f in findings if f is not None]

