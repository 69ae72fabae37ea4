"""Accuracy and answer rate of the reference parts on ``valid[:100]`` and on fresh questions.

    python benchmarks/accuracy.py cot sft rft [--public 100] [--fresh 1000] [--fresh-seed 777]

Fresh questions come from the generator with a seed of their own and exclude every stored
training and validation question, so they measure generalisation, not memory.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

LOADERS = {"cot": "load_cot", "sft": "load_sft", "rft": "load_rft"}


def score(model, rows) -> tuple[float, float]:
    from solution.data import benchmark

    result = benchmark(model, rows, len(rows))
    return result.accuracy, result.answer_rate


def main() -> None:
    import solution
    from solution.data import Dataset
    from unitconv.questions import make_questions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=sorted(LOADERS))
    parser.add_argument("--public", type=int, default=100)
    parser.add_argument("--fresh", type=int, default=1000)
    parser.add_argument("--fresh-seed", type=int, default=777)
    args = parser.parse_args()

    valid = Dataset("valid").data[:args.public]
    stored = {row[0] for row in Dataset("valid").data} | {row[0] for row in Dataset("train").data}
    fresh = [q.as_row() for q in make_questions(args.fresh, args.fresh_seed, exclude=stored)]
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(f"| part | valid[:{args.public}] accuracy | answer rate | {args.fresh} fresh accuracy | answer rate "
          "| seconds |")
    print("|---|---|---|---|---|---|")
    for part in args.parts:
        start = time.perf_counter()
        model = getattr(solution, LOADERS[part])()
        public_acc, public_rate = score(model, valid)
        fresh_acc, fresh_rate = score(model, fresh) if fresh else (math.nan, math.nan)
        print(f"| {part} | {public_acc:.3f} | {public_rate:.3f} | {fresh_acc:.3f} | {fresh_rate:.3f} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
