"""Built-in checks ``cot``, ``sft`` and ``rft`` (25 points each, RFT 5 extra): accuracy with the course ramps.

Worker half: :func:`grader_plugin.worker.handin_tasks.answer_questions` answers the question texts with
the hand-in's ``answer()``.  Grader half (here): compare with the grader's own expected values
using its own answer check (:func:`grader_plugin.marking.scoring.is_correct`).  Below full marks the
result explains itself: outputs without an answer tag, answers that did not parse, wrong
answers, and the first few raw outputs with the parsed and expected values.  The bars are the
``course`` profile's (``builtin/profiles.py``).
"""

from __future__ import annotations

import math

from grader_plugin import hookimpl
from grader_plugin.checks import ANSWERING, Check
from grader_plugin.marking.asked import AskedAnswers
from grader_plugin.marking.scoring import is_correct, ramp, whole_points
from grader_plugin.results import PartResult
from grader_plugin.worker.handin_tasks import answer_questions

SHOWN_EXAMPLES = 3


def _payload(context) -> dict:
    return {"questions": [q.text for q in context.asked_questions()]}


def graded_answers(marked: AskedAnswers) -> tuple[list[int], list, list | None]:
    """The graded questions' positions, their answers and raw outputs, picked out of a call that asked more."""
    graded = marked.indices("graded")
    if not isinstance(marked.returned, list):
        return [], [], None
    if not marked.complete:
        return graded, marked.returned, None
    raw = [marked.raw[i] for i in graded] if marked.raw is not None else None
    return graded, [marked.returned[i] for i in graded], raw


def explain(questions, answers: list[float], raw: list[str] | None, facts: dict | None = None) -> list[str]:
    """Lines saying why answers were wrong, for a report; the counts also go into ``facts`` (a result's
    :attr:`~grader_plugin.results.PartResult.facts`: ``untagged`` and ``asked``, or ``raw_observed``)."""
    wrong = [i for i, (q, a) in enumerate(zip(questions, answers, strict=True)) if not is_correct(a, q.expected)]
    unparsed = [i for i in wrong if not math.isfinite(answers[i])]
    lines = []
    facts = {} if facts is None else facts
    facts["raw_observed"] = raw is not None
    if raw is not None:
        untagged = sum(1 for i in wrong if "<answer>" not in raw[i] or "</answer>" not in raw[i])
        facts.update(untagged=untagged, asked=len(questions))
        lines.append(f"{untagged} of {len(questions)} outputs had no <answer>...</answer> tag")
    else:
        lines.append("raw outputs were not observed (answer() did not go through batched_generate)")
    lines.append(
        f"{len(unparsed)} answers did not parse to a number; {len(wrong) - len(unparsed)} parsed but were wrong"
    )
    for i in wrong[:SHOWN_EXAMPLES]:
        question = questions[i]
        output = f" output {raw[i][:160]!r} ->" if raw is not None else ""
        lines.append(f"{question.text!r}:{output} parsed {answers[i]:g}, expected {question.expected:g}")
    return lines


def score_accuracy(context, outcome) -> PartResult:
    """The part's points from the answers its worker returned, on the part's ramp."""
    check, bounds = context.check, context.bounds
    result = PartResult.for_check(check, bounds)
    data = outcome.data if isinstance(outcome.data, dict) else {}
    marked = context.asked_answers(outcome)
    asked = list(marked.asked)
    if not isinstance(data.get("answers"), list):
        result.zero("answer() returned no list of answers")
        return result
    graded, answers, raw = graded_answers(marked)
    questions = [asked[i] for i in graded]
    if data.get("not_numbers"):
        first = data["not_numbers"][0]
        result.zero(f"answer() returned a value that is not a number for question {first + 1} (and "
                    f"{len(data['not_numbers']) - 1} more); the course's answer check raises on it")
        return result
    returned = data["answers"]
    if len(returned) != len(asked):
        message = f"answer() returned {len(returned)} values for {len(asked)} questions"
        if context.profile.enforces("answer-count"):
            result.zero(message)
            return result
        result.details.append(f"warning (not graded under profile {context.profile.name}): {message}; "
                              f"as in the course, missing answers count as wrong and extra ones are ignored")
        padded = (returned + [float("nan")] * len(asked))[: len(asked)]
        answers, raw = [padded[i] for i in graded], None
    if marked.complete:
        correct = marked.count_correct("graded")[0]
    else:  # padded as the course pads: missing answers are wrong
        correct = sum(is_correct(a, q.expected) for q, a in zip(questions, answers, strict=True))
    result.value = correct / len(questions)
    rate = sum(math.isfinite(a) for a in answers) / len(answers)
    result.points = whole_points(check.points, ramp(result.value, bounds.low, bounds.high))
    if check.extra_credit and bounds.extra_high is not None:
        result.extra = whole_points(check.extra_credit, ramp(result.value, bounds.extra_low, bounds.extra_high))
    result.details.append(f"accuracy {result.value:.2f} ({correct}/{len(questions)}), answer rate {rate:.2f}")
    if result.points < check.points:
        result.reason = f"accuracy {result.value:.2f} below {bounds.high:g}"
        if rate < 0.5:
            result.reason += f"; only {rate:.0%} of answers parsed"
        result.details.extend(explain(questions, answers, raw if isinstance(raw, list) else None, result.facts))
    else:
        result.reason = f"full marks: accuracy {result.value:.2f} reaches {bounds.high:g}"
    return result


def _check(name: str, title: str, extra: int = 0) -> Check:
    return Check(
        name=name,
        title=title,
        points=25,
        extra_credit=extra,
        score=score_accuracy,
        timeout_s=600,
        entry_point=name,
        task=answer_questions,
        payload=_payload,
        measure="accuracy",
        answers_questions=True,
        work=ANSWERING,
    )


CHECKS = (_check("cot", "CoT accuracy"), _check("sft", "SFT accuracy"), _check("rft", "RFT accuracy", extra=5))


@hookimpl
def grader_register_checks(register):
    for check in CHECKS:
        register(check)
