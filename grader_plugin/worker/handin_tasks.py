"""The worker halves of the built-in checks that run beside hand-in code, as ``task(model, payload) -> JSON data``.

Each runs in a worker that imported the hand-in and only measures; its check (grader side) scores
what it returns: :func:`answer_questions` for ``grader_plugin.builtin.accuracy``,
:func:`generate_each` and :func:`batched_generate_calls` for ``grader_plugin.builtin.generation``,
:func:`ablated_answers` for the ablation probe's fallback (``grader_plugin.integrity.behaviour``).
Everything here can be read and changed by the hand-in: what it returns is data to be judged,
never a verdict.  The grader's own decoders are in :mod:`grader_plugin.worker.trusted_tasks`.
Worker side.
"""

from __future__ import annotations

import contextlib
import secrets

from grader_plugin.worker import progress
from grader_plugin.worker.probe import ablate
from grader_plugin.worker.values import as_float, jsonable, type_name


def answer_questions(model, payload: dict) -> dict:
    """``model.answer(*questions)``, and the prompts and raw generations seen on the way when they can be seen.

    Prompts and outputs are recorded by wrapping ``batched_generate`` on this instance for the
    duration of the call.  They explain low accuracy, and the grader replays them with its own
    decoding to check that the answers follow from the model's outputs.
    """
    questions = payload["questions"]
    prompts: list[str] = []
    recorded: list[str] = []
    original = getattr(model, "batched_generate", None)
    patched_before = "batched_generate" in getattr(model, "__dict__", {})
    if callable(original):

        def recording(batch, *args, **kwargs):
            outputs = original(batch, *args, **kwargs)
            if isinstance(batch, list) and isinstance(outputs, list) and len(outputs) == len(batch):
                prompts.extend(p if isinstance(p, str) else repr(p) for p in batch)
                recorded.extend(o if isinstance(o, str) else repr(o) for o in outputs)
                progress.report(progress.ANSWERING, len(recorded), len(questions))
            return outputs

        model.batched_generate = recording
    try:
        with _counting_generate_calls(model, len(questions)):
            answers = model.answer(*questions)
    finally:
        if callable(original) and patched_before:
            model.batched_generate = original  # leave an instance-level patch as it was found
        elif callable(original):
            del model.batched_generate
    answers = list(answers) if isinstance(answers, list | tuple) or hasattr(answers, "tolist") else [answers]
    aligned = len(recorded) == len(questions)
    return {
        "answers": [as_float(a) for a in answers],
        "not_numbers": [i for i, a in enumerate(answers) if not _is_number(a)][:10],
        "raw": recorded if aligned else None,
        "prompts": prompts if aligned else None,
    }


@contextlib.contextmanager
def _counting_generate_calls(model, total: int):
    """Progress while one ``batched_generate`` call decodes in micro-batches: count the rows of each
    ``generate`` call of the hand-in's transformers model (``model.model``), up to ``total``.

    Only a progress count (see :mod:`grader_plugin.worker.progress`); nothing is recorded or judged.
    """
    try:
        inner = getattr(model, "model", None)
        original = getattr(inner, "generate", None)
        patched_before = "generate" in getattr(inner, "__dict__", {})
    except Exception:  # noqa: BLE001 - an object that cannot be inspected gets no count, nothing else
        original, patched_before = None, True
    if not callable(original) or patched_before:
        yield
        return
    rows = [0]

    def counting(*args, **kwargs):
        outputs = original(*args, **kwargs)
        inputs = kwargs.get("input_ids", args[0] if args else None)
        rows[0] += int(getattr(inputs, "shape", (0,))[0] or 0)
        progress.report(progress.ANSWERING, min(rows[0], total), total)
        return outputs

    try:
        inner.generate = counting
    except Exception:  # noqa: BLE001 - no count where the object refuses the attribute
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            del inner.generate


def _is_number(value) -> bool:
    """Whether the course's answer check (``round(answer, 3)``) can take ``value`` without raising."""
    try:
        round(value, 3)
    except Exception:  # noqa: BLE001 - anything round() refuses
        return False
    return not isinstance(value, str | bytes)


def _padding_side(model) -> str | None:
    side = getattr(getattr(model, "tokenizer", None), "padding_side", None)
    return side if side in ("left", "right") else None


def generate_each(model, payload: dict) -> dict:
    """``model.generate(prompt)`` for each prompt, one at a time (what the course's generate part calls)."""
    outputs = []
    for prompt in payload["prompts"]:
        outputs.append(model.generate(prompt))
        progress.report(progress.GENERATING, len(outputs), len(payload["prompts"]))
    return {"outputs": [jsonable(o) for o in outputs], "types": sorted({type_name(o) for o in outputs}),
            "padding_side": _padding_side(model)}


def _call(function, *args, **kwargs) -> dict:
    """One extra call whose failure is reported as data (the course's part does not make it)."""
    try:
        value = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - reported, judged by the grader
        return {"error": f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:160]}"}
    return {"value": jsonable(value), "type": type_name(value)}


def batched_generate_calls(model, payload: dict) -> dict:
    """``batched_generate(prompts)`` as the course calls it, then the calls the course does not make.

    The extra calls (sampling with ``num_return_sequences``, a few prompts alone) are each
    reported with their own error, so a failure there never hides the graded greedy outputs.
    """
    prompts = payload["prompts"]
    progress.report(progress.GENERATING, 0, len(prompts))
    greedy = model.batched_generate(prompts)
    progress.report(progress.GENERATING, len(prompts), len(prompts))
    result = {"greedy": jsonable(greedy), "greedy_type": type_name(greedy), "padding_side": _padding_side(model)}
    sample_prompts, temperature = payload["sample_prompts"], payload["temperature"]
    result["sampled"] = _call(model.batched_generate, sample_prompts,
                              num_return_sequences=payload["num_return_sequences"], temperature=temperature)
    result["single"] = _call(model.batched_generate, sample_prompts[:1], num_return_sequences=1,
                             temperature=temperature)
    result["alone"] = [_call(model.batched_generate, [p]) for p in prompts[:payload.get("alone", 0)]]
    return result


def ablated_answers(model, payload: dict) -> dict:
    """Fallback: answers to ``payload["questions"]`` after :func:`ablate` in memory.  The seed is drawn
    here, not sent: the payload has the same shape as the real answering task's."""
    ablation = ablate(model, secrets.randbits(63))
    ablated = []
    if ablation["tensors_disturbed"] + ablation["adapter_tensors_disturbed"] and payload["questions"]:
        ablated = list(model.answer(*payload["questions"]))
    return {"answers": [as_float(a) for a in ablated], "ablation": ablation}
