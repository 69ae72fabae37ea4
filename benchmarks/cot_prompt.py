"""How the chain-of-thought prompt's worked examples decide its accuracy.

Two measurements on validation questions outside the graded first 100 by default:

- retrieval: for how many questions the nearest worked example (the last one in the prompt)
  carries the right factor, that is, converts the same units in the same direction;
- accuracy and answer rate of the CoT model with each number of worked examples.

    python benchmarks/cot_prompt.py [--start 100] [--stop 200] [--examples 2 3 4 6]
                                    [--retrieval-stop 1000] [--retrieval-only]
"""

from __future__ import annotations

import argparse
import platform
import time


def retrieval_hits(bank, rows) -> tuple[int, int]:
    """Questions whose nearest example has the question's own factor, and questions counted."""
    from solution.arithmetic import parse_tagged_answer
    from solution.worked_examples import quantity_of

    hits = counted = 0
    for question, answer in rows:
        quantity = quantity_of(question)
        if not quantity:
            continue
        counted += 1
        factor = answer / quantity
        nearest = bank.nearest(question, 1)[-1]
        nearest_factor = parse_tagged_answer(nearest.answer_text) / nearest.quantity
        hits += abs(nearest_factor - factor) <= 1e-5 * abs(factor)
    return hits, counted


def main() -> None:
    from solution.cot import load, load_example_bank
    from solution.data import Dataset, benchmark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--stop", type=int, default=200)
    parser.add_argument("--examples", type=int, nargs="+", default=[2, 3, 4, 6])
    parser.add_argument("--retrieval-stop", type=int, default=1000)
    parser.add_argument("--retrieval-only", action="store_true")
    args = parser.parse_args()

    valid = Dataset("valid").data
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    hits, counted = retrieval_hits(load_example_bank(), valid[args.start:args.retrieval_stop])
    print(f"nearest example has the right factor: {hits}/{counted} of valid[{args.start}:{args.retrieval_stop}]")
    if args.retrieval_only:
        return
    model = load()
    rows = valid[args.start:args.stop]
    print(f"| worked examples | valid[{args.start}:{args.stop}] accuracy | answer rate | seconds |")
    print("|---|---|---|---|")
    for count in args.examples:
        model.example_count = count
        start = time.perf_counter()
        result = benchmark(model, rows, len(rows))
        print(f"| {count} | {result.accuracy:.3f} | {result.answer_rate:.3f} | {time.perf_counter() - start:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
