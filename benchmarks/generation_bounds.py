"""The generation parts' loss bounds, calibrated per base model, and where typical outputs fall.

For each model: the grader's own greedy outputs (50 new tokens) and empty outputs give the
calibration anchors (the same code the grader runs, ``grader_plugin.builtin.generation.loss_bounds``
on ``grader_plugin.worker.trusted_tasks.generation_likelihood``); then the outputs of implementations
right and wrong are scored against those bounds: the reference solution's ``generate`` and
``batched_generate``, greedy in bfloat16, greedy with 100 new tokens, sampled at temperature 0.7,
right padding without an attention mask, the prompt echoed, empty outputs.  Both the masked loss
(what we grade for models other than SmolLM2-360M) and the course's figure (padding included)
are printed.

Usage: python benchmarks/generation_bounds.py [--models embedded tiny] [--prompts 32]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path


def outputs_of(name: str, prompts: list[str]) -> dict[str, list[str]]:
    import torch

    from grader_plugin.worker.trusted_tasks import reference_greedy
    from solution.base_llm import BaseLLM
    from unitconv import model_loader

    tokenizer = model_loader.load_tokenizer(name)
    model = model_loader.load_model(name, device="cpu")

    def greedy(**changes):
        budget, side, mask, dtype = (changes.get("budget", 50), changes.get("side", "left"),
                                     changes.get("mask", True), changes.get("dtype", torch.float32))
        tokenizer.padding_side = side
        inputs = tokenizer(prompts, return_tensors="pt", padding=True)
        kwargs = {"attention_mask": inputs["attention_mask"]} if mask else {}
        sampling = {"do_sample": True, "temperature": 0.7} if changes.get("sample") else {"do_sample": False}
        torch.manual_seed(0)
        with torch.inference_mode():
            generated = model.to(dtype).generate(inputs["input_ids"], max_new_tokens=budget,
                                                 pad_token_id=tokenizer.pad_token_id, **kwargs, **sampling)
        model.to(torch.float32)
        tokenizer.padding_side = "left"
        return tokenizer.batch_decode(generated[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    reference = BaseLLM(name, model=model, tokenizer=tokenizer)  # as graded: 100 new tokens, stops at </answer>
    return {
        "grader's greedy (50 tokens)": reference_greedy(None, {"model": model, "tokenizer": tokenizer,
                                                              "prompts": prompts, "max_new_tokens": 50})["outputs"],
        "reference generate() (100 tokens)": [reference.generate(p) for p in prompts[:8]] + greedy(budget=100)[8:],
        "reference batched_generate() (100 tokens)": reference.batched_generate(prompts),
        "greedy in bfloat16": greedy(dtype=torch.bfloat16),
        "sampled, temperature 0.7": greedy(sample=True),
        "right padding, no attention mask": greedy(side="right", mask=False),
        "prompt echoed": list(prompts),
        "empty": [""] * len(prompts),
    }


def main() -> None:
    from grader_plugin.builtin.generation import loss_bounds
    from grader_plugin.worker.trusted_tasks import course_loss, token_losses
    from unitconv import model_loader
    from unitconv.paths import data_dir
    from unitconv.tiny_model import build_tiny_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["embedded", "tiny"])
    parser.add_argument("--prompts", type=int, default=32)
    args = parser.parse_args()
    prompts = [row[0] for row in json.loads((data_dir() / "valid.json").read_text())[:args.prompts]]
    print(f"machine: {platform.machine()}, python {platform.python_version()}, {len(prompts)} prompts")
    for label in args.models:
        name = (str(build_tiny_model(Path(tempfile.gettempdir()) / "unitconv-tiny-llama")) if label == "tiny"
                else None)
        tokenizer, model = model_loader.load_tokenizer(name), model_loader.load_model(name, device="cpu")
        scored = {}
        for case, outputs in outputs_of(name, prompts).items():
            texts = [p + o for p, o in zip(prompts, outputs, strict=True)]
            each = token_losses(model, tokenizer, texts)
            scored[case] = (sum(s for s, _ in each) / sum(n for _, n in each), course_loss(model, tokenizer, texts))
        anchors = {"reference": {"mean": scored["grader's greedy (50 tokens)"][0]},
                   "empty": {"mean": scored["empty"][0]}}
        bounds = loss_bounds(json.loads((Path(model_loader.model_source(name)) / "config.json").read_text()),
                             label, anchors)
        print(f"\n{label}: bounds {bounds.describe()} ({bounds.how})\n")
        print("| outputs | loss (padding masked) | points of 10 | course's figure (padding included) |")
        print("|---|---|---|---|")
        for case, (loss, course) in scored.items():
            print(f"| {case} | {loss:.3f} | {10 * bounds.fraction(loss):.1f} | {course:.3f} |", flush=True)


if __name__ == "__main__":
    main()
