"""Built-in checks ``generate`` (10 points) and ``batched_generate`` (15 points): how likely the
outputs are under the base model the hand-in loaded, as the grader serves it.

Worker halves: :func:`~grader_plugin.worker.handin_tasks.generate_each` calls ``generate(q)`` for the
first 32 validation questions, one at a time, and
:func:`~grader_plugin.worker.handin_tasks.batched_generate_calls` calls ``batched_generate(questions)``
once, as the course does (then a few calls the course does not make).  The worker also reports
which base model the hand-in loaded; :func:`~grader_plugin.launch.judge.judge_model` turns that report
into a model the grader serves (its hub id or the run's base model), and a hand-in that loaded
one the grader does not serve scores 0 naming it.  Grader half (here): a trusted worker
(:func:`~grader_plugin.worker.trusted_tasks.generation_likelihood`, no hand-in code) loads that served model
itself and measures the mean token loss of ``question + output``; fluent continuations the model
finds likely score well whatever the dtype, budget or tie-breaking, and empty, garbled or
mis-padded outputs score badly.  The bounds (:func:`loss_bounds`):

- the hand-in loaded SmolLM2-360M (the course's base model): the course's own figure and bounds,
  full marks at loss <= 6.2 and none at >= 8.0, so the points are the course's;
- any other base model: bounds calibrated on that model in the same run from the grader's own
  greedy decoding of the same prompts (full marks within :data:`FULL_MARGIN` of the way from its
  loss to the loss of the prompts with empty outputs, none at the latter).

``docs/course-differences.md`` explains the measure and its calibration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.checks import Check, Work
from grader_plugin.launch import model_map
from grader_plugin.launch.judge import judge_model, served_folder
from grader_plugin.launch.time_limits import trusted_timeout
from grader_plugin.marking.scoring import whole_points
from grader_plugin.provenance import grader_version
from grader_plugin.results import PartResult, WorkerOutcome
from grader_plugin.worker.handin_tasks import batched_generate_calls, generate_each
from grader_plugin.worker.trusted_tasks import generation_likelihood
from unitconv.course import COURSE_BASE_MODEL, GENERATION_QUESTIONS
from unitconv.paths import cache_dir

SAMPLED_PROMPTS = 3
RETURN_SEQUENCES = 3
TEMPERATURE = 0.7
REFERENCE_MAX_NEW_TOKENS = 50
"""Budget of the grader's own greedy decoding (the course's starter code uses 50 new tokens)."""
LIKELIHOOD_TIMEOUT_S = 600
FULL_MARGIN = 0.25
COURSE_LOSS_BOUNDS = (6.2, 8.0)
COURSE_MODEL_SHAPE = {"model_type": "llama", "hidden_size": 960, "num_hidden_layers": 32, "vocab_size": 49152}
"""SmolLM2-360M's architecture: the course's bounds hold for this model only."""


@dataclass(frozen=True)
class LossBounds:
    """Full marks at a loss of ``full`` or less, none at ``zero`` or more, linear between."""

    full: float
    zero: float
    measure: str
    how: str

    def fraction(self, loss: float) -> float:
        if loss != loss:  # NaN
            return 0.0
        return min(1.0, max(0.0, (self.zero - loss) / (self.zero - self.full)))

    def describe(self) -> str:
        return f"loss {self.full:.2f}-{self.zero:.2f}"


def loss_bounds(config: dict, name: str, anchors: dict) -> LossBounds:
    """The bounds for the base model with this ``config.json`` (see the module docstring)."""
    if all(config.get(key) == value for key, value in COURSE_MODEL_SHAPE.items()):
        return LossBounds(*COURSE_LOSS_BOUNDS, "course", f"the course's bounds for {COURSE_BASE_MODEL}")
    reference, empty = anchors["reference"]["mean"], anchors["empty"]["mean"]
    if not empty > reference:
        raise ValueError(f"cannot calibrate on {name}: its own greedy outputs are no likelier than none "
                         f"({reference:.2f} against {empty:.2f})")
    return LossBounds(reference + FULL_MARGIN * (empty - reference), empty, "mean",
                      f"calibrated on {name}: its greedy outputs {reference:.2f}, prompts alone {empty:.2f}")


def _prompts(context) -> list[str]:
    return [q.text for q in context.public_questions(context.check.question_count(context.settings.questions))]


def _shorten(text, width: int = 60) -> str:
    text = repr(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _stored_anchors(context, model: str, prompts: list[str], padding_side: str | None) -> Path | None:
    """Where the anchors of this model (its files), device, prompts and budget are kept between runs."""
    folder = context.model_folder(model)
    if folder is None or not Path(folder).is_dir():
        return None
    facts = [grader_version(), model, str(context.settings.device), str(REFERENCE_MAX_NEW_TOKENS), str(padding_side),
             *prompts, *(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(Path(folder).iterdir())
                         if p.is_file())]
    return cache_dir() / "anchors" / (hashlib.sha256("\n".join(facts).encode()).hexdigest()[:24] + ".json")


def _likelihood(context, model: str, prompts: list[str], outputs: list[str], padding_side: str | None):
    """Losses of ``outputs`` from a trusted worker, and the calibration anchors of the model and prompts.

    The anchors (the grader's own greedy outputs and the losses of those and of empty outputs)
    depend only on the model's files, the prompts and the budget: they are computed once and kept
    in the grader's cache folder, which no worker can write, for later runs and other hand-ins.
    """
    key = ("generation-anchors", model, context.settings.device, REFERENCE_MAX_NEW_TOKENS, tuple(prompts))
    stored = _stored_anchors(context, model, prompts, padding_side)
    anchors = context.cache.get(key)
    if anchors is None and stored is not None and stored.is_file():
        anchors = context.cache[key] = json.loads(stored.read_text())
    payload = {
        "model": model,
        "device": context.settings.device,
        "prompts": prompts,
        "outputs": {"submission": outputs},
        "padding_side": padding_side,
        "anchors": anchors is None,
        "max_new_tokens": REFERENCE_MAX_NEW_TOKENS,
    }
    timeout = trusted_timeout(context.settings, LIKELIHOOD_TIMEOUT_S)
    measured = context.run_worker(generation_likelihood, payload, timeout=timeout, label="scoring the outputs")
    if measured.ok and anchors is None:
        losses = measured.data["losses"]
        anchors = {"reference": losses["reference"], "empty": losses["empty"],
                   "reference_outputs": measured.data["reference_outputs"]}
        context.cache[key] = anchors
        if stored is not None:
            stored.parent.mkdir(parents=True, exist_ok=True)
            staging = stored.with_suffix(".partial")
            staging.write_text(json.dumps(anchors))
            staging.replace(stored)
    return measured, anchors


def _broken_outputs(prompts: list[str], outputs: list[str]) -> list[int]:
    return [i for i, (p, o) in enumerate(zip(prompts, outputs, strict=True))
            if not o.strip() or o.strip().startswith(p.strip())]


def score_likelihood(context, result: PartResult, outcome: WorkerOutcome, prompts: list[str],
                     outputs: list[str], padding_side: str | None) -> PartResult:
    """Points from how likely ``outputs`` are under the served base model the hand-in loaded."""
    model, how = judge_model(outcome, context)
    if model is None:
        result.zero(how)
        return result
    folder = served_folder(context, model)
    if folder is not None and str(folder) != model:
        how += f", served here by {folder}"
    measured, anchors = _likelihood(context, model, prompts, outputs, padding_side)
    if not measured.ok:
        result.zero(f"grader could not score the outputs under {model}: {measured.reason}")
        return result
    config = model_map.model_config(folder)
    try:
        bounds = loss_bounds(config, model, anchors)
    except ValueError as error:
        result.zero(str(error))
        return result
    losses = measured.data["losses"]["submission"]
    loss = losses[bounds.measure]
    fraction = bounds.fraction(loss)
    broken = _broken_outputs(prompts, outputs)
    if broken and context.profile.enforces("empty-outputs"):
        fraction *= 1 - len(broken) / len(outputs)
    check = context.check
    result.value, result.measure = loss, "loss"
    result.bounds = bounds.describe()
    result.points = whole_points(check.points, fraction)
    result.details.append(f"base model {model} ({how}); {bounds.how}")
    result.details.append(
        f"loss {loss:.2f} ({'the course figure' if bounds.measure == 'course' else 'mean over tokens'}); "
        f"the grader's greedy outputs {anchors['reference'][bounds.measure]:.2f}, "
        f"prompts alone {anchors['empty'][bounds.measure]:.2f}"
    )
    if broken:
        result.facts["broken_outputs"] = len(broken)
        what = "count as broken (strict)" if context.profile.enforces("empty-outputs") else "warning only"
        result.details.append(f"{len(broken)} of {len(outputs)} outputs are empty or repeat the prompt ({what}), "
                              f"e.g. prompt {broken[0] + 1}: {_shorten(outputs[broken[0]])}")
    if result.points < check.points:
        each = losses["each"]
        worst = max(range(len(each)), key=each.__getitem__)
        result.reason = f"loss {loss:.2f} above full marks at {bounds.full:.2f} (none at {bounds.zero:.2f})"
        result.details.append(
            f"least likely output, prompt {_shorten(prompts[worst])}: {_shorten(outputs[worst])}; "
            f"the grader's greedy decoding gives {_shorten(anchors['reference_outputs'][worst])}"
        )
    else:
        result.reason = f"full marks: loss {loss:.2f} within {bounds.full:.2f}"
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
    return score_likelihood(context, result, outcome, prompts, outputs, outcome.data.get("padding_side"))


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


def sampling_problem(data: dict, sampled: int, returns: int) -> str | None:
    """What breaks the shape rules of ``batched_generate(..., num_return_sequences=n)``, or None."""
    for key, count, n in (("sampled", sampled, returns), ("single", 1, 1)):
        call = data.get(key) or {}
        shown = f"batched_generate({count} prompts, num_return_sequences={n})"
        if "error" in call:
            return f"{shown} raised {call['error']}"
        rows, kind = call.get("value"), call.get("type")
        if kind != "list" or not (isinstance(rows, list) and len(rows) == count
                                  and all(_is_strings(r, n) for r in rows)):
            return f"{shown} returned a {kind} {_shorten(rows)}; expected a list of {count} lists of {n} strings"
    return None


def _batched_score(context, outcome) -> PartResult:
    result = PartResult.for_check(context.check, context.bounds)
    prompts = _prompts(context)
    data = outcome.data if isinstance(outcome.data, dict) else {}
    greedy = data.get("greedy")
    if not _is_strings(greedy, len(prompts)):
        result.zero(f"batched_generate(prompts) returned {_shorten(greedy)}; expected {len(prompts)} strings, "
                    f"one per prompt")
        return result
    problem = sampling_problem(data, min(SAMPLED_PROMPTS, len(prompts)), RETURN_SEQUENCES)
    if problem and context.profile.enforces("sampling-shapes"):
        result.zero(problem)
        return result
    result = score_likelihood(context, result, outcome, prompts, greedy, data.get("padding_side"))
    if problem:
        result.details.append(f"warning (not graded under profile {context.profile.name}): {problem}")
    return result


GENERATE = Check(
    name="generate",
    title="generate",
    points=10,
    score=_generate_score,
    timeout_s=300,
    entry_point="base",
    task=generate_each,
    payload=_generate_payload,
    measure="loss",
    work=Work(prompts=GENERATION_QUESTIONS, prompt_tokens=30, new_tokens=100, batched=False),
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
    measure="loss",
    work=Work(prompts=GENERATION_QUESTIONS, prompt_tokens=30, new_tokens=100, batched=True, passes=2),
)


@hookimpl
def grader_register_checks(register):
    register(GENERATE)
    register(BATCHED)
