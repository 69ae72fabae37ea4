"""The built-in checks' worker halves, as ``task(model, payload) -> JSON data`` (worker side).

Each runs in a worker next to hand-in code and only measures; its check (grader side) scores
what it returns: :func:`answer_questions` for ``grader_plugin.builtin.accuracy``,
:func:`generate_each`, :func:`batched_generate_calls` and :func:`reference_greedy` for
``grader_plugin.builtin.generation``.  :func:`reference_greedy` runs in a worker without any
hand-in: it is the grader's own decoding of the base model.
"""

from __future__ import annotations

from grader_plugin.worker.values import as_float, jsonable

REFERENCE_BATCH = 32


def answer_questions(model, payload: dict) -> dict:
    """``model.answer(*questions)``, and the raw generations seen on the way when they can be seen.

    Raw outputs are recorded by wrapping ``batched_generate`` on this instance for the duration
    of the call; they explain low accuracy and are not graded.
    """
    questions = payload["questions"]
    recorded: list[str] = []
    original = getattr(model, "batched_generate", None)
    patched_before = "batched_generate" in getattr(model, "__dict__", {})
    if callable(original):

        def recording(prompts, *args, **kwargs):
            outputs = original(prompts, *args, **kwargs)
            if isinstance(outputs, list):
                recorded.extend(o if isinstance(o, str) else repr(o) for o in outputs)
            return outputs

        model.batched_generate = recording
    try:
        answers = model.answer(*questions)
    finally:
        if callable(original) and patched_before:
            model.batched_generate = original  # leave an instance-level patch as it was found
        elif callable(original):
            del model.batched_generate
    answers = list(answers) if isinstance(answers, list | tuple) else [answers]
    return {
        "answers": [as_float(a) for a in answers],
        "raw": recorded if len(recorded) == len(questions) else None,
    }


def generate_each(model, payload: dict) -> dict:
    """``model.generate(prompt)`` for each prompt, one at a time."""
    return {"outputs": [jsonable(model.generate(p)) for p in payload["prompts"]]}


def batched_generate_calls(model, payload: dict) -> dict:
    """Greedy ``batched_generate(prompts)``, then sampled calls with ``num_return_sequences``."""
    prompts = payload["prompts"]
    greedy = model.batched_generate(prompts)
    sampled = model.batched_generate(
        payload["sample_prompts"],
        num_return_sequences=payload["num_return_sequences"],
        temperature=payload["temperature"],
    )
    single = model.batched_generate(
        payload["sample_prompts"][:1], num_return_sequences=1, temperature=payload["temperature"]
    )
    return {"greedy": jsonable(greedy), "sampled": jsonable(sampled), "single": jsonable(single)}


def reference_greedy(model, payload: dict) -> dict:
    """The grader's own greedy decoding of the base model (trusted: no hand-in in this worker).

    Prompts are decoded together, left-padded with an attention mask, ``REFERENCE_BATCH`` at a
    time: on two CPU cores that is several times faster than one at a time, and the outputs are
    the same (``benchmarks/reference_decoding.py`` compares both).
    """
    import torch

    from unitconv import model_loader

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
    return {"outputs": outputs}
