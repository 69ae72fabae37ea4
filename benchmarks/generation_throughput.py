"""Throughput of ``batched_generate`` against a one-prompt-at-a-time loop, same prompts.

Both runs answer the same prompts (the first N validation questions, formatted by one reference
part: chain-of-thought by default, ``--part``) greedily with the embedded model, and report new
tokens per second.  It also times the prefill alone
(one forward pass over the prompts, in the same micro-batches, and one prompt at a time): that
part costs the same per token batched or not on a CPU, so it bounds the speed-up.  Usage:

    python benchmarks/generation_throughput.py [--questions 100] [--batch-size 32] [--batched-only]
                                               [--compare-dtype bfloat16] [--part cot|sft|rft]

``--compare-dtype`` then runs the batched decoding again with the model's weights in that dtype
and reports its time, its prefill and how many outputs equal the float32 ones.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch


def count_new_tokens(tokenizer, outputs: list[str]) -> int:
    """Tokens in ``outputs`` (new text, or prompts), without special tokens added."""
    return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in outputs)


def prefill_seconds(model, prompts: list[str], batch_size: int) -> float:
    """Seconds for the prompts' forward passes alone, ``batch_size`` length-sorted prompts at a time."""
    ordered = sorted(prompts, key=len)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(ordered), batch_size):
            inputs = model.tokenizer(ordered[i:i + batch_size], return_tensors="pt", padding=True,
                                     add_special_tokens=False).to(model.device)
            model.model(**inputs, logits_to_keep=1)
    return time.perf_counter() - start


def main() -> None:
    from importlib import import_module

    from solution.data import Dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batched-only", action="store_true", help="skip the one-at-a-time loop")
    parser.add_argument("--part", choices=("cot", "sft", "rft"), default="cot", help="whose prompts and model")
    parser.add_argument("--compare-dtype", choices=("bfloat16", "float16"),
                        help="also run the batched decoding with the weights in this dtype")
    args = parser.parse_args()

    model = import_module(f"solution.{args.part}").load(batch_size=args.batch_size)
    dataset = Dataset("valid")
    prompts = [model.format_prompt(dataset[i][0]) for i in range(args.questions)]

    start = time.perf_counter()
    batched = model.batched_generate(prompts)
    batched_seconds = time.perf_counter() - start
    batched_prefill = prefill_seconds(model, prompts, args.batch_size)
    batched_tokens = count_new_tokens(model.tokenizer, batched)
    batched_rate = batched_tokens / batched_seconds

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, device {model.device}")
    prompt_tokens = count_new_tokens(model.tokenizer, prompts)
    print(f"prompts: {len(prompts)}; prompt tokens: {prompt_tokens / len(prompts):.0f} a prompt; new tokens: "
          f"{batched_tokens / len(prompts):.1f} a prompt")
    print("| mode | seconds | new tokens/s | of which prefill alone |")
    print("|---|---|---|---|")
    print(f"| batched_generate (batch {args.batch_size}) | {batched_seconds:.1f} | {batched_rate:.1f} | "
          f"{batched_prefill:.1f} s |", flush=True)
    if args.compare_dtype:
        compare_dtype(model, prompts, batched, args.batch_size, getattr(torch, args.compare_dtype))
    if args.batched_only:
        return

    start = time.perf_counter()
    looped = [model.generate(prompt) for prompt in prompts]
    looped_seconds = time.perf_counter() - start
    looped_prefill = prefill_seconds(model, prompts, 1)
    looped_rate = count_new_tokens(model.tokenizer, looped) / looped_seconds
    same = sum(a == b for a, b in zip(batched, looped, strict=True))
    print(f"| one prompt at a time | {looped_seconds:.1f} | {looped_rate:.1f} | {looped_prefill:.1f} s |")
    print(f"identical outputs batched vs loop: {same}/{len(prompts)}")
    print(f"speed-up: {batched_rate / looped_rate:.2f}x; with free decoding the batched run would still take "
          f"{batched_prefill:.1f} s, a bound of {looped_seconds / batched_prefill:.2f}x")


def compare_dtype(model, prompts: list[str], reference: list[str], batch_size: int, dtype) -> None:
    """The batched row again with the weights in ``dtype``, and its outputs against float32's."""
    model.model.to(dtype)
    start = time.perf_counter()
    outputs = model.batched_generate(prompts)
    seconds = time.perf_counter() - start
    prefill = prefill_seconds(model, prompts, batch_size)
    rate = count_new_tokens(model.tokenizer, outputs) / seconds
    same = sum(a == b for a, b in zip(reference, outputs, strict=True))
    print(f"| batched_generate (batch {batch_size}), {dtype} weights | {seconds:.1f} | {rate:.1f} | {prefill:.1f} s |")
    print(f"outputs equal to float32's: {same}/{len(prompts)}", flush=True)
    model.model.to(torch.float32)


if __name__ == "__main__":
    main()
