"""The built-in checks' worker halves, as ``task(model, payload) -> JSON data`` (worker side).

Each runs in a worker next to hand-in code and only measures; its check (grader side) scores
what it returns: :func:`answer_questions` for ``grader_plugin.builtin.accuracy``,
:func:`generate_each`, :func:`batched_generate_calls` and :func:`reference_greedy` for
``grader_plugin.builtin.generation``.  :func:`reference_greedy` runs in a worker without any
hand-in: it is the grader's own decoding of the base model.
"""

from __future__ import annotations

import contextlib
import time

from grader_plugin.worker import progress
from grader_plugin.worker.values import as_float, jsonable, type_name

REFERENCE_BATCH = 32


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


def reference_greedy(model, payload: dict) -> dict:
    """The grader's own greedy decoding of the base model (trusted: no hand-in in this worker).

    Prompts are decoded together, left-padded with an attention mask, ``REFERENCE_BATCH`` at a
    time: on two CPU cores that is several times faster than one at a time, and the outputs are
    the same (``benchmarks/reference_decoding.py`` compares both).  ``payload`` names the model
    (``base_model``, ``device``) or, called from another trusted task, holds it loaded
    (``model``, ``tokenizer``).
    """
    import torch

    from unitconv import model_loader

    started = time.perf_counter()
    if "tokenizer" in payload:
        base, tokenizer = payload["model"], payload["tokenizer"]
        tokenizer.padding_side = "left"
    else:
        name, device = payload.get("base_model"), payload.get("device")
        tokenizer = model_loader.load_tokenizer(name)  # set up for left padding
        base = model_loader.load_model(name, device=device)
    prompts = payload["prompts"]
    batch = max(1, int(payload.get("batch_size", REFERENCE_BATCH)))
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch):
            inputs = tokenizer(prompts[start:start + batch], return_tensors="pt", padding=True,
                               add_special_tokens=False).to(base.device)
            generated = base.generate(
                **inputs,
                max_new_tokens=payload["max_new_tokens"],
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new_tokens = generated[:, inputs["input_ids"].shape[1]:]
            outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return {"outputs": outputs, "seconds": time.perf_counter() - started}


def course_loss(model, tokenizer, texts: list[str], padding_side: str = "left") -> float:
    """The course's figure: one padded batch, cross entropy averaged over every shifted position.

    The course multiplies an already averaged loss by the attention mask, which leaves the
    average over all positions, padding included; this reproduces that figure exactly.
    """
    import torch

    tokenizer.padding_side = padding_side
    tokens = tokenizer(texts, return_tensors="pt", padding=True).to(model.device)
    with torch.inference_mode():
        logits = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).logits
    logits = logits[..., :-1, :].float()
    labels = tokens["input_ids"][..., 1:]
    return float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1)))


def token_losses(model, tokenizer, texts: list[str], batch_size: int = 16) -> list[tuple[float, int]]:
    """For each text, the summed negative log likelihood of its tokens after the first, and their count.

    Each text is scored on its own tokens only (padding masked out of inputs and of the sum), so the
    figure does not depend on the other texts of the batch.
    """
    import torch

    tokenizer.padding_side = "right"
    found = []
    for start in range(0, len(texts), batch_size):
        tokens = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True).to(model.device)
        with torch.inference_mode():
            logits = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).logits
        logits, labels = logits[..., :-1, :].float(), tokens["input_ids"][..., 1:]
        mask = tokens["attention_mask"][..., 1:].bool()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
        for row in range(labels.shape[0]):
            found.append((float(nll[row][mask[row]].sum()), int(mask[row].sum())))
    return found


def generation_likelihood(model, payload: dict) -> dict:
    """How likely texts are under a base model the grader loads itself (trusted: no hand-in here).

    ``payload``: ``model`` (a model folder or name), ``device``, ``prompts``, ``outputs`` (label ->
    one output per prompt), ``padding_side`` (for the course's figure), and with ``anchors`` also
    the grader's own greedy outputs (``max_new_tokens``) and the loss of the prompts alone.
    Returns, per label, the token-weighted mean loss of ``prompt + output`` over the batch, each
    text's own mean, and the course's figure.
    """
    from unitconv import model_loader

    started = time.perf_counter()
    name, device = payload["model"], payload.get("device")
    tokenizer = model_loader.load_tokenizer(name)
    base = model_loader.load_model(name, device=device)
    loaded = time.perf_counter() - started
    prompts = payload["prompts"]
    outputs = dict(payload["outputs"])
    result: dict = {"load_seconds": loaded}
    if payload.get("anchors"):
        decoded = reference_greedy(None, {"model": base, "tokenizer": tokenizer, "prompts": prompts,
                                          "max_new_tokens": payload["max_new_tokens"]})
        result["reference_outputs"] = decoded["outputs"]
        result["decode_seconds"] = decoded["seconds"]
        outputs["reference"] = decoded["outputs"]
        outputs["empty"] = [""] * len(prompts)
    losses = {}
    for label, texts in outputs.items():
        full = [p + (o if isinstance(o, str) else "") for p, o in zip(prompts, texts, strict=True)]
        scored = token_losses(base, tokenizer, full)
        total, count = sum(s for s, _ in scored), sum(n for _, n in scored)
        losses[label] = {
            "mean": total / max(count, 1),
            "each": [s / max(n, 1) for s, n in scored],
            "course": course_loss(base, tokenizer, full, payload.get("padding_side") or "left"),
        }
    result["losses"] = losses
    return result


def measure_speed(model, payload: dict) -> dict:
    """How fast the grader's own code runs a base model here (trusted: no hand-in in this worker).

    Loads the model, then times a batched greedy decoding, a one-prompt decoding and a long
    prefill, so the grader can scale each part's time limit to this machine.  A short decoding
    runs first and is not timed: the first call pays for thread pools and kernel choice, which
    made single figures vary tenfold between runs.  The short decodings are timed ``repeats``
    times and the fastest kept; ``spread`` (slowest over fastest batched decoding) tells the
    grader whether something else was using the machine meanwhile.  The long prefill (seconds on
    a CPU) is timed once: repeating it tripled the cost of measuring.
    """
    import torch

    from unitconv import model_loader

    started = time.perf_counter()
    tokenizer = model_loader.load_tokenizer(payload.get("model"))
    base = model_loader.load_model(payload.get("model"), device=payload.get("device"))
    loaded = time.perf_counter() - started
    prompts, steps, repeats = payload["prompts"], payload["steps"], max(1, payload.get("repeats", 1))

    def decode(batch: list[str], new_tokens: int = steps) -> float:
        inputs = tokenizer(batch, return_tensors="pt", padding=True).to(base.device)
        begin = time.perf_counter()
        with torch.inference_mode():
            base.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                          pad_token_id=tokenizer.pad_token_id)
        return time.perf_counter() - begin

    decode(prompts, 2)

    long_prompts = [(p + " ") * max(1, payload["prefill_tokens"] // max(1, len(tokenizer(p)["input_ids"])))
                    for p in prompts]
    inputs = tokenizer(long_prompts, return_tensors="pt", padding=True).to(base.device)

    def prefill() -> float:
        begin = time.perf_counter()
        with torch.inference_mode():
            base(**inputs)
        return time.perf_counter() - begin

    batched = [decode(prompts) for _ in range(repeats)]
    return {
        "load_seconds": loaded,
        "batched_step_seconds": min(batched) / steps,
        "batch": len(prompts),
        "single_step_seconds": min(decode(prompts[:1]) for _ in range(repeats)) / steps,
        "prefill_token_seconds": prefill() / int(inputs["attention_mask"].sum()),
        "spread": max(batched) / min(batched),
        "worker_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time(),
    }


def replay_answers(model, payload: dict) -> dict:
    """Trusted: decode recorded prompts with the base model (and adapter) the hand-in loaded, greedily.

    ``payload``: ``model`` (name or folder), ``dtype``, ``adapter`` (a folder or None), ``device``,
    ``prompts`` and ``outputs`` (everything the hand-in's worker recorded: their tokens are
    counted), ``replay`` (the indices to decode again) and ``max_new_tokens``.  Returns the
    replayed outputs with the answers the grader's own parser reads in them.
    """
    import torch

    from unitconv import model_loader
    from unitconv.arithmetic import parse_tagged_answer

    dtype = getattr(torch, str(payload.get("dtype") or "float32"), torch.float32)
    tokenizer = model_loader.load_tokenizer(payload["model"])
    base = model_loader.load_model(payload["model"], device=payload.get("device"), dtype=dtype)
    if payload.get("adapter"):
        from peft import PeftModel

        base = PeftModel.from_pretrained(base, payload["adapter"]).eval()
    prompts, outputs = payload["prompts"], payload["outputs"]
    chosen = [prompts[i] for i in payload["replay"]]
    replayed, replayed_tokens = [], 0
    tokenizer.padding_side = "left"
    began = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(chosen), 16):
            inputs = tokenizer(chosen[start:start + 16], return_tensors="pt", padding=True).to(base.device)
            generated = base.generate(**inputs, max_new_tokens=payload["max_new_tokens"], do_sample=False,
                                      temperature=None, top_p=None, top_k=None,
                                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            new = generated[:, inputs["input_ids"].shape[1]:]
            replayed += tokenizer.batch_decode(new, skip_special_tokens=True)
            replayed_tokens += int(inputs["attention_mask"].sum()) + int((new != tokenizer.pad_token_id).sum())
    decode_seconds = time.perf_counter() - began
    return {
        "decode_seconds": decode_seconds,
        "replayed_tokens": replayed_tokens,
        "replayed": replayed,
        "replayed_answers": [parse_tagged_answer(o) for o in replayed],
        "prompt_tokens": sum(len(tokenizer(p)["input_ids"]) for p in prompts),
        "output_tokens": sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outputs),
    }
