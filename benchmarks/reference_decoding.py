"""The grader's reference decoding, batched against one prompt at a time, on the graded prompts.

The ``generate`` and ``batched_generate`` parts score a submission by agreement with the
grader's own greedy decoding of the base model on the first validation questions.  This runs
that decoding (``grader_plugin.worker.trusted_tasks.reference_greedy``) both ways and reports the time and how
many outputs are identical.  Usage:

    python benchmarks/reference_decoding.py [--prompts 32]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch


def main() -> None:
    from grader_plugin.builtin.generation import REFERENCE_MAX_NEW_TOKENS
    from grader_plugin.worker.trusted_tasks import REFERENCE_BATCH, reference_greedy
    from solution.data import Dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    args = parser.parse_args()
    prompts = [row[0] for row in Dataset("valid").data[:args.prompts]]
    payload = {"prompts": prompts, "max_new_tokens": REFERENCE_MAX_NEW_TOKENS}

    timings, outputs = {}, {}
    for label, batch in ((f"batched ({REFERENCE_BATCH} at a time)", REFERENCE_BATCH), ("one at a time", 1)):
        start = time.perf_counter()
        outputs[label] = reference_greedy(None, {**payload, "batch_size": batch})["outputs"]
        timings[label] = time.perf_counter() - start
    batched, single = outputs.values()
    same = sum(a == b for a, b in zip(batched, single, strict=True))
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"prompts: {len(prompts)}, {REFERENCE_MAX_NEW_TOKENS} new tokens at most; identical outputs: "
          f"{same}/{len(prompts)}")
    print("| reference decoding | seconds (model load included) |")
    print("|---|---|")
    for label, seconds in timings.items():
        print(f"| {label} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
