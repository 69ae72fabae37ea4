"""Part 4, step 1: rejection sampling of answer chains for RFT.

For each training question the sampler model writes several completions at a temperature
above zero; the first whose answer passes the course's tolerance check is kept as
``[question, answer, reasoning]``, and questions with no correct completion are skipped.

Finished questions are appended to ``<output>.partial.jsonl`` as each micro-batch completes,
so an interrupted run resumes where it stopped without redoing or losing work; the final JSON
is written atomically at the end.

Command line: ``python -m solution.datagen data/rft.json --oversample 4 --temperature 0.7``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from unitconv.paths import data_dir

from .data import Dataset, is_answer_valid

# A sampler takes prompts, a count and a temperature and returns one list of completions per prompt,
# like BaseLLM.batched_generate(prompts, num_return_sequences=count, temperature=temperature).
Sampler = Callable[[list[str], int, float], list[list[str]]]


def _partial_path(output_json: Path) -> Path:
    return output_json.with_name(output_json.name + ".partial.jsonl")


def _read_partial(path: Path) -> dict[str, list | None]:
    """Questions already done: their kept row, or None when no sample was correct."""
    done: dict[str, list | None] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut short by the interruption: everything before it is intact
            done[record["question"]] = record["row"]
    return done


def _write_json_atomically(path: Path, rows: list) -> None:
    staging = path.with_name(path.name + ".tmp")
    staging.write_text("[\n" + ",\n".join(" " + json.dumps(row) for row in rows) + "\n]\n")
    os.replace(staging, path)


def generate_dataset(output_json: str | Path | None = None, oversample: int = 4, temperature: float = 0.7,
                     *, model=None, sampler: Sampler | None = None, questions: Sequence | None = None,
                     limit: int | None = None, chunk_size: int = 16) -> list[list]:
    """Sample ``oversample`` completions per training question and keep one correct chain each.

    :param model: answers' parser and default sampler (default: the SFT model, see ``rft``).
    :param sampler: overrides ``model.batched_generate`` (tests pass a stub).
    :param questions: ``[question, answer]`` rows (default: the training split).
    :param limit: use only the first ``limit`` questions.
    :returns: the kept rows, also written to ``output_json`` (default ``data/rft.json``).
    """
    from tqdm.auto import tqdm

    if oversample < 1 or temperature <= 0:
        raise ValueError("rejection sampling needs oversample >= 1 and temperature > 0")
    output_json = Path(output_json or data_dir() / "rft.json")
    rows = list(questions if questions is not None else Dataset("train").data)[:limit]
    if model is None:
        from .sft import load as load_sampler_model

        model = load_sampler_model()
    sample = sampler or (lambda prompts, n, t: model.batched_generate(prompts, num_return_sequences=n,
                                                                       temperature=t))
    partial = _partial_path(output_json)
    done = _read_partial(partial)
    todo = [row for row in rows if row[0] not in done]
    if done:
        print(f"resuming: {len(done)} questions already sampled, {len(todo)} to go")
    output_json.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("a") as log, tqdm(total=len(rows), initial=len(rows) - len(todo), desc="sampling",
                                        unit="question") as progress:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start:start + chunk_size]
            completions = sample([model.format_prompt(q) for q, *_ in chunk], oversample, temperature)
            for (question, answer, *_), samples in zip(chunk, completions, strict=True):
                correct = next((s for s in samples if is_answer_valid(model.parse_answer(s), answer)), None)
                row = [question, answer, correct] if correct is not None else None
                done[question] = row
                log.write(json.dumps({"question": question, "row": row}) + "\n")
            log.flush()
            progress.update(len(chunk))
    kept = [done[q] for q, *_ in rows if done.get(q)]
    print(f"kept {len(kept)} of {len(rows)} questions ({100 * len(kept) / max(len(rows), 1):.1f}% success)")
    _write_json_atomically(output_json, kept)
    partial.unlink(missing_ok=True)
    return kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rejection-sample answer chains for RFT")
    parser.add_argument("output_json", nargs="?", type=Path, default=None, help="default: data/rft.json")
    parser.add_argument("--oversample", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--limit", type=int, default=1000, help="first N training questions")
    args = parser.parse_args(argv)
    generate_dataset(args.output_json, args.oversample, args.temperature, limit=args.limit)


if __name__ == "__main__":
    main()
