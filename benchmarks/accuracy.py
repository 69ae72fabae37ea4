"""Accuracy and answer rate of the reference parts on valid[:100], fresh and independently worded questions.

    python benchmarks/accuracy.py cot sft rft [--public 100] [--fresh 1000] [--fresh-seed 777]
                                  [--independent 400] [--independent-seed 4242]
                                  [--sets public fresh independent] [--wrong FILE]
                                  [--sft-prompt-prefix TEXT]

Fresh questions come from the generator with a seed of their own and exclude every stored
training and validation question, so they measure generalisation, not memory.  Independent
questions (``benchmarks/independent_questions.py``) are worded by another author than the
generator's, with unit spellings the generator never writes, so they measure whether the
reference reads questions it has never seen the like of.  ``--wrong FILE`` writes every wrong
answer (part, set, question, answer, expected) as JSON lines.  ``--sft-prompt-prefix`` replaces
what the SFT and RFT prompts put before the question (``solution.sft.PROMPT_PREFIX``; ``""`` for
the bare question), to measure what the prefix does to an adapter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from independent_questions import independent_questions

LOADERS = {"cot": "load_cot", "sft": "load_sft", "rft": "load_rft"}
SETS = ("public", "fresh", "independent")


def score(model, rows):
    from solution.data import benchmark

    return benchmark(model, rows, len(rows))


def question_sets(args) -> dict[str, tuple[str, list]]:
    """The chosen sets by name: their column title and their ``[question, answer]`` rows."""
    from solution.data import Dataset
    from unitconv.questions import make_questions

    valid = Dataset("valid").data
    stored = {row[0] for row in valid} | {row[0] for row in Dataset("train").data}
    makers = {
        "public": (f"valid[:{args.public}]", lambda: valid[:args.public]),
        "fresh": (f"{args.fresh} fresh", lambda: [q.as_row() for q in make_questions(args.fresh, args.fresh_seed,
                                                                                       exclude=stored)]),
        "independent": (f"{args.independent} independent",
                        lambda: [q.as_row() for q in independent_questions(args.independent, args.independent_seed)]),
    }
    return {name: (makers[name][0], makers[name][1]()) for name in args.sets}


def machine() -> str:
    """The processor, its cores and the threads torch uses (figures depend on all three)."""
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.is_file() else [])
             if line.startswith("model name")]
    return (f"{platform.machine()} {names[0] if names else platform.processor()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")


def main() -> None:
    import solution

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=sorted(LOADERS))
    parser.add_argument("--public", type=int, default=100)
    parser.add_argument("--fresh", type=int, default=1000)
    parser.add_argument("--fresh-seed", type=int, default=777)
    parser.add_argument("--independent", type=int, default=400)
    parser.add_argument("--independent-seed", type=int, default=4242)
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--wrong", type=Path, default=None, help="write wrong answers here (JSON lines)")
    parser.add_argument("--sft-prompt-prefix", default=None,
                        help="text before the question in SFT/RFT prompts instead of solution.sft.PROMPT_PREFIX "
                             "(backslash escapes such as \\n are read)")
    args = parser.parse_args()
    if args.sft_prompt_prefix is not None:
        import solution.sft

        solution.sft.PROMPT_PREFIX = args.sft_prompt_prefix.encode().decode("unicode_escape")
        print(f"SFT/RFT prompt prefix: {solution.sft.PROMPT_PREFIX!r}")

    sets = question_sets(args)
    print(f"machine: {machine()}, python {platform.python_version()}")
    header = "".join(f" {title} accuracy | answer rate |" for title, _ in sets.values())
    print(f"| part |{header} seconds |")
    print("|---|" + "---|---|" * len(sets) + "---|")
    wrong = args.wrong.open("w") if args.wrong else None
    for part in args.parts:
        start = time.perf_counter()
        model = getattr(solution, LOADERS[part])()
        cells = []
        for name, (_, rows) in sets.items():
            result = score(model, rows)
            cells.append(f" {result.accuracy:.3f} | {result.answer_rate:.3f} |")
            for sample in result.samples:
                if wrong and not sample.is_correct:
                    wrong.write(json.dumps({"part": part, "set": name, "question": sample.question,
                                            "answer": sample.answer, "expected": sample.correct_answer}) + "\n")
        print(f"| {part} |{''.join(cells)} {time.perf_counter() - start:.0f} |", flush=True)
        if wrong:
            wrong.flush()
    if wrong:
        wrong.close()


if __name__ == "__main__":
    main()
