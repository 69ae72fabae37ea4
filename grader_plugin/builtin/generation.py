"""Built-in checks ``generate`` (10 points) and ``batched_generate`` (15 points).

Worker halves: :func:`grader_plugin.worker.tasks.generate_each` and
:func:`~grader_plugin.worker.tasks.batched_generate_calls` call the hand-in;
:func:`~grader_plugin.worker.tasks.reference_greedy` is the grader's own greedy decoding of the
same base model on the same prompts, in a worker without hand-in code, done once per run
(:func:`reference_outputs`).  Instead of the course's loss bounds, which hold for one base model
only, both parts score the agreement of the hand-in's outputs with that decoding
(:func:`grader_plugin.scoring.agreement`), so no recalibration is needed when the base model
changes.  ``batched_generate`` must also follow the shape rules of ``num_return_sequences``: a
list of strings without it, a list of lists of that many strings with it.
"""

from __future__ import annotations

from grader_plugin import hookimpl
from grader_plugin.checks import Check
from grader_plugin.results import PartResult, WorkerOutcome
from grader_plugin.scoring import agreement, ramp, whole_points
from grader_plugin.worker.tasks import batched_generate_calls, generate_each, reference_greedy
from unitconv.course import GENERATION_QUESTIONS

SAMPLED_PROMPTS = 3
RETURN_SEQUENCES = 3
TEMPERATURE = 0.7
REFERENCE_MAX_NEW_TOKENS = 40
REFERENCE_TIMEOUT_S = 600


def reference_outputs(context, prompts: list[str]) -> WorkerOutcome:
    """The grader's own greedy decoding of the base model on ``prompts``, once per run."""
    settings = context.settings
    key = ("reference-greedy", settings.base_model, settings.device, REFERENCE_MAX_NEW_TOKENS, tuple(prompts))
    if key not in context.cache:
        payload = {
            "prompts": prompts,
            "max_new_tokens": REFERENCE_MAX_NEW_TOKENS,
            "base_model": settings.base_model,
            "device": settings.device,
        }
        timeout = max(settings.timeout or 0, REFERENCE_TIMEOUT_S)
        context.cache[key] = context.run_worker(reference_greedy, payload, timeout=timeout)
    return context.cache[key]


def _prompts(context) -> list[str]:
    return [q.text for q in context.public_questions(min(GENERATION_QUESTIONS, context.settings.questions))]


def _shorten(text, width: int = 60) -> str:
    text = repr(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _score_agreement(context, result: PartResult, outputs: list, prompts: list[str]) -> PartResult:
    reference = reference_outputs(context, prompts)
    if not reference.ok:
        result.zero(f"grader could not decode the base model itself: {reference.reason}")
        return result
    scores = [agreement(o, r) for o, r in zip(outputs, reference.data["outputs"], strict=True)]
    result.value = sum(scores) / len(scores)
    bounds, points = context.bounds, context.check.points
    result.points = whole_points(points, ramp(result.value, bounds.low, bounds.high))
    if result.points < points:
        worst = min(range(len(scores)), key=scores.__getitem__)
        result.reason = f"outputs agree {result.value:.2f} with the grader's greedy decoding (full at {bounds.high:g})"
        result.details.append(
            f"least agreement on prompt {_shorten(prompts[worst])}: got "
            f"{_shorten(outputs[worst])}, greedy decoding gives {_shorten(reference.data['outputs'][worst])}"
        )
    return result


def _generate_payload(context) -> dict:
    return {"prompts": _prompts(context)}


def _generate_score(context, outcome) -> PartResult:
    result = PartResult.for_check(context.check, context.bounds)
    prompts = _prompts(context)
    outputs = outcome.data.get("outputs") if isinstance(outcome.data, dict) else None
    if not isinstance(outputs, list) or len(outputs) != len(prompts):
        result.zero("generate() was not answered once per prompt")
        return result
    bad = next((i for i, o in enumerate(outputs) if not isinstance(o, str)), None)
    if bad is not None:
        result.zero(f"generate() returned {_shorten(outputs[bad])} for prompt {bad + 1}; it must return a str")
        return result
    return _score_agreement(context, result, outputs, prompts)


def _batched_payload(context) -> dict:
    prompts = _prompts(context)
    return {
        "prompts": prompts,
        "sample_prompts": prompts[:SAMPLED_PROMPTS],
        "num_return_sequences": RETURN_SEQUENCES,
        "temperature": TEMPERATURE,
    }


def _is_strings(value, count: int) -> bool:
    return isinstance(value, list) and len(value) == count and all(isinstance(v, str) for v in value)


def shape_problem(data: dict, prompts: int, sampled: int, returns: int) -> str | None:
    """What breaks the shape rules of ``batched_generate``, or None."""
    if not _is_strings(data.get("greedy"), prompts):
        return (
            f"batched_generate(prompts) returned {_shorten(data.get('greedy'))}; expected a list of "
            f"{prompts} strings, one per prompt"
        )
    rows = data.get("sampled")
    if not (isinstance(rows, list) and len(rows) == sampled and all(_is_strings(r, returns) for r in rows)):
        return (
            f"batched_generate(prompts, num_return_sequences={returns}) returned {_shorten(rows)}; "
            f"expected a list of {sampled} lists of {returns} strings"
        )
    single = data.get("single")
    if not (isinstance(single, list) and len(single) == 1 and _is_strings(single[0], 1)):
        return (
            f"batched_generate(prompts, num_return_sequences=1) returned {_shorten(single)}; expected a list "
            f"of 1 list of 1 string"
        )
    return None


def _batched_score(context, outcome) -> PartResult:
    result = PartResult.for_check(context.check, context.bounds)
    prompts = _prompts(context)
    data = outcome.data if isinstance(outcome.data, dict) else {}
    problem = shape_problem(data, len(prompts), min(SAMPLED_PROMPTS, len(prompts)), RETURN_SEQUENCES)
    if problem:
        result.zero(problem)
        return result
    return _score_agreement(context, result, data["greedy"], prompts)


GENERATE = Check(
    name="generate",
    title="generate",
    points=10,
    score=_generate_score,
    timeout_s=300,
    entry_point="base",
    task=generate_each,
    payload=_generate_payload,
    measure="agreement",
)
BATCHED = Check(
    name="batched_generate",
    title="batched generate",
    points=15,
    score=_batched_score,
    timeout_s=300,
    entry_point="base",
    task=batched_generate_calls,
    payload=_batched_payload,
    measure="agreement",
)


@hookimpl
def grader_register_checks(register):
    register(GENERATE)
    register(BATCHED)
