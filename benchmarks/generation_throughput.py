"""Throughput of ``batched_generate`` against a one-prompt-at-a-time loop, same prompts.

Both runs answer the same chain-of-thought prompts (the first N validation questions) greedily
with the embedded model, and report new tokens per second.  Usage:

    python benchmarks/generation_throughput.py [--questions 100] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch


def count_new_tokens(tokenizer, outputs: list[str]) -> int:
    return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in outputs)


def main() -> None:
    from solution.cot import load
    from solution.data import Dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    model = load(batch_size=args.batch_size)
    dataset = Dataset("valid")
    prompts = [model.format_prompt(dataset[i][0]) for i in range(args.questions)]

    start = time.perf_counter()
    batched = model.batched_generate(prompts)
    batched_seconds = time.perf_counter() - start

    start = time.perf_counter()
    looped = [model.generate(prompt) for prompt in prompts]
    looped_seconds = time.perf_counter() - start

    batched_rate = count_new_tokens(model.tokenizer, batched) / batched_seconds
    looped_rate = count_new_tokens(model.tokenizer, looped) / looped_seconds
    same = sum(a == b for a, b in zip(batched, looped, strict=True))
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, device {model.device}")
    print(f"prompts: {len(prompts)}; identical outputs batched vs loop: {same}/{len(prompts)}")
    print("| mode | seconds | new tokens/s |")
    print("|---|---|---|")
    print(f"| batched_generate (batch {args.batch_size}) | {batched_seconds:.1f} | {batched_rate:.1f} |")
    print(f"| one prompt at a time | {looped_seconds:.1f} | {looped_rate:.1f} |")
    print(f"speed-up: {batched_rate / looped_rate:.2f}x")


if __name__ == "__main__":
    main()
