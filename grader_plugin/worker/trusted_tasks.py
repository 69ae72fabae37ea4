"""The grader's own decoders, as ``task(model, payload) -> JSON data``: they never run beside hand-in code.

Each runs in a trusted worker: one started without an entry point, so no hand-in code is imported
and ``model`` is None.  :func:`reference_greedy` is the grader's greedy decoding of the base model
(``grader_plugin.builtin.generation``), :func:`generation_likelihood` scores texts under a served
model, :func:`measure_speed` times this machine (``grader_plugin.launch.time_limits``),
:func:`replay_answers` decodes what a hand-in's model was asked (``grader_plugin.integrity.replay``,
the root of trust) and :func:`disturbed_copy` writes the ablation probe's disturbed weights.
They live in the worker package because they run in a worker process; hand-in code never shares
that process.  Worker side (trusted).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from grader_plugin.worker.probe import TORCH_WEIGHTS, disturb_safetensors, disturb_torch_file

REFERENCE_BATCH = 32
REPLAY_BATCH = 16


def greedy_decode(base, tokenizer, prompts: list[str], max_new_tokens: int, batch: int,
                  add_special_tokens: bool = True) -> tuple[list[str], int]:
    """Greedy outputs of ``prompts``, ``batch`` at a time, left-padded with an attention mask; and the
    tokens processed (prompt tokens plus generated ones that are not padding).

    Decoding prompts together is several times faster than one at a time on two CPU cores, with
    the same outputs (``benchmarks/reference_decoding.py`` compares both).
    """
    import torch

    tokenizer.padding_side = "left"
    outputs, tokens = [], 0
    with torch.inference_mode():
        for start in range(0, len(prompts), batch):
            inputs = tokenizer(prompts[start:start + batch], return_tensors="pt", padding=True,
                               add_special_tokens=add_special_tokens).to(base.device)
            generated = base.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                      temperature=None, top_p=None, top_k=None,
                                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            new = generated[:, inputs["input_ids"].shape[1]:]
            outputs += tokenizer.batch_decode(new, skip_special_tokens=True)
            tokens += int(inputs["attention_mask"].sum()) + int((new != tokenizer.pad_token_id).sum())
    return outputs, tokens


def reference_greedy(model, payload: dict) -> dict:
    """The grader's own greedy decoding of the base model, :data:`REFERENCE_BATCH` prompts at a time.

    ``payload`` names the model (``base_model``, ``device``) or, called from another trusted task,
    holds it loaded (``model``, ``tokenizer``).
    """
    from unitconv import model_loader

    started = time.perf_counter()
    if "tokenizer" in payload:
        base, tokenizer = payload["model"], payload["tokenizer"]
    else:
        name, device = payload.get("base_model"), payload.get("device")
        tokenizer = model_loader.load_tokenizer(name)
        base = model_loader.load_model(name, device=device)
    batch = max(1, int(payload.get("batch_size", REFERENCE_BATCH)))
    outputs, _ = greedy_decode(base, tokenizer, payload["prompts"], payload["max_new_tokens"], batch,
                               add_special_tokens=False)
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
    """Decode recorded prompts with the base model (and adapter) the hand-in loaded, greedily.

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
    began = time.perf_counter()
    replayed, replayed_tokens = greedy_decode(base, tokenizer, [prompts[i] for i in payload["replay"]],
                                              payload["max_new_tokens"], REPLAY_BATCH)
    return {
        "decode_seconds": time.perf_counter() - began,
        "replayed_tokens": replayed_tokens,
        "replayed": replayed,
        "replayed_answers": [parse_tagged_answer(o) for o in replayed],
        "prompt_tokens": sum(len(tokenizer(p)["input_ids"]) for p in prompts),
        "output_tokens": sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outputs),
    }


def disturbed_copy(model, payload: dict) -> dict:
    """Copy the base model at ``payload["model"]`` into ``payload["target"]`` with its weights
    permuted (every other file byte for byte, every file's times kept), and permute the LoRA tensors
    of every regular ``.safetensors`` file under ``payload["adapters_under"]`` (links never followed)."""
    import torch

    source, target = Path(payload["model"]), Path(payload["target"])
    generator = torch.Generator().manual_seed(int(payload["seed"]))
    shutil.copytree(source, target, dirs_exist_ok=True)  # the grader's own model: links resolved to files
    weights = 0
    for path in sorted(target.rglob("*")):
        if path.is_file() and path.suffix == ".safetensors":
            weights += disturb_safetensors(path, generator)
        elif path.is_file() and path.suffix in TORCH_WEIGHTS:
            weights += disturb_torch_file(path, generator)
    adapters, unread, hand_in = 0, [], Path(payload["adapters_under"])
    for path in sorted(hand_in.rglob("*.safetensors")):
        if not path.is_file() or path.is_symlink():
            continue
        try:  # the hand-in's files: one it could not load either must not stop the probe
            adapters += disturb_safetensors(path, generator, select=lambda name: "lora_" in name)
        except (ValueError, TypeError, KeyError, AttributeError, RuntimeError):
            unread.append(path.relative_to(hand_in).as_posix())
    return {"tensors_disturbed": weights, "adapter_tensors_disturbed": adapters, "unreadable_weight_files": unread}
