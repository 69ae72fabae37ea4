"""Part 4, step 1: rejection sampling of reasoning for RFT.

For each training question a sampler model writes completions at a temperature above zero, one
at a time until one is kept or ``oversample`` were written (``--per-round`` draws more at once).
The default sampler is the chain-of-thought model (:mod:`.cot`: the chat template with worked
examples), which answers more questions right than the SFT model does, with its examples written
per unit (:class:`PerUnitCoTModel`) so that its chains take the SFT targets' form; ``--sampler
cot`` samples the graded prompt as it is, ``--sampler sft`` the SFT adapter.

A completion is kept in the RFT model's own format: the sampler's text up to its first
``</answer>``, whitespace collapsed, after one space (``" <answer>5 * 1000</answer>"``), which
is what ``RFTModel.parse_answer`` reads and what it is trained to write after the question (its
SFT prompt, no examples).
The first completion per question that is correct by the course's check *and* within 0.1% of
the answer unrounded (:func:`.rft.exactly_right`) and fits the RFT model's generation budget is
kept as ``[question, answer, reasoning, source]`` (source ``"cot-units-sample"``, ``"cot-sample"`` or
``"sft-sample"``);
questions with none are skipped.

Finished questions are appended to ``<output>.partial.jsonl`` as each micro-batch completes,
so an interrupted run resumes where it stopped without redoing or losing work (lines sampled by
another sampler are not reused); the final JSON is written atomically at the end.

Command line: ``python -m solution.datagen data/rft.json --oversample 4 --temperature 0.7``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from unitconv.paths import data_dir

from .arithmetic import parse_tagged_answer
from .cot import CoTModel
from .data import Dataset, is_answer_valid
from .rft import exactly_right
from .worked_examples import WorkedExample

# A sampler takes prompts, a count and a temperature and returns one list of completions per prompt,
# like BaseLLM.batched_generate(prompts, num_return_sequences=count, temperature=temperature).
Sampler = Callable[[list[str], int, float], list[list[str]]]

SAMPLERS = ("cot-units", "cot", "sft")
"""Models that can write the chains: the chain-of-thought prompt with its worked examples written per
unit (default, :class:`PerUnitCoTModel`), the chain-of-thought prompt as graded, or the SFT adapter."""
MAX_COMPLETION_TOKENS = 39
"""The RFT model generates at most 40 new tokens (``SFTModel``): a kept completion and its end token fit."""
_SPACES = re.compile(r"\s+")


class PerUnitCoTModel(CoTModel):
    """The chain-of-thought prompt with each worked example answered ``N * value(A) / value(B)``.

    The graded prompt's examples state one factor per pair of units (``6 * 0.453592``); chains
    copied from them teach an adapter 191 pairwise factors, and RFT on them scored below SFT
    (``BENCHMARKS.md``).  Written per unit (:func:`.targets.per_unit_answer`), the same examples
    yield chains in the SFT targets' form, whose values every row about a unit shares.  An example
    whose units the reader does not find keeps its factor form.
    """

    instructions = ("You convert units. Reuse the unit values of the examples that convert the same "
                    "units, and answer as quantity * value of the source unit / value of the target "
                    "unit inside <answer></answer> tags.")

    def example_answer(self, example: WorkedExample) -> str:
        from .targets import per_unit_answer  # imports pint: here, not when datagen is imported

        return per_unit_answer(example.question, example.answer) or example.answer_text


def load_sampler_model(sampler: str = "cot-units", checkpoint: str | None = None):
    """The model that writes the chains: ``cot-units``, ``cot`` (few-shot prompts) or ``sft`` (the adapter)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if sampler == "cot-units":
        return PerUnitCoTModel(checkpoint, max_new_tokens=40)
    if sampler == "cot":
        from .cot import load
    else:
        from .sft import load
    return load(checkpoint)


def as_rft_completion(text: str) -> str | None:
    """A sampled completion in the RFT model's format, or None when it has no ``<answer>...</answer>``.

    Everything after the first ``</answer>`` is dropped (stop strings end a row only after the
    tag, and chat models sometimes go on), runs of white space become one space, and the text
    starts with one space, as the SFT targets do, so that the prompt's last token is the same.
    """
    end = text.find("</answer>")
    if end < 0 or "<answer>" not in text[:end]:
        return None
    kept = _SPACES.sub(" ", text[:end + len("</answer>")]).strip()
    kept = re.sub(r"<answer>\s*(.*?)\s*</answer>", r"<answer>\1</answer>", kept)
    return " " + kept


def _keeps(completion: str | None, answer: float, tokenizer) -> bool:
    """Correct by the course's check, exactly right, and short enough for the RFT model to write."""
    if completion is None:
        return False
    value = parse_tagged_answer(completion)
    if not (is_answer_valid(value, answer) and exactly_right(completion, answer)):
        return False
    return tokenizer is None or len(tokenizer(completion, add_special_tokens=False)["input_ids"]) \
        <= MAX_COMPLETION_TOKENS


def _partial_path(output_json: Path) -> Path:
    return output_json.with_name(output_json.name + ".partial.jsonl")


def _read_partial(path: Path, source: str) -> dict[str, list | None]:
    """Questions already done by this sampler: their kept row, or None when no sample was kept."""
    done: dict[str, list | None] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut short by the interruption: everything before it is intact
            if record.get("source", "sft-sample") == source:  # lines without one predate the CoT sampler
                done[record["question"]] = record["row"]
    return done


def _write_json_atomically(path: Path, rows: list) -> None:
    staging = path.with_name(path.name + ".tmp")
    staging.write_text("[\n" + ",\n".join(" " + json.dumps(row) for row in rows) + "\n]\n")
    os.replace(staging, path)


def _sample_in_rounds(chunk, format_prompt, sample: Sampler, oversample: int, per_round: int,
                      temperature: float, tokenizer) -> dict[str, str | None]:
    """The first kept completion of each question of ``chunk`` (None when none of its samples is kept).

    Each round samples ``per_round`` completions of the questions that have none kept yet, until
    each question had ``oversample``; the kept chains are the same as from all samples at once.
    """
    found: dict[str, str | None] = {question: None for question, *_ in chunk}
    drawn = 0
    while drawn < oversample:
        pending = [(question, answer) for question, answer, *_ in chunk if found[question] is None]
        if not pending:
            break
        count = min(per_round, oversample - drawn)
        completions = sample([format_prompt(question) for question, _ in pending], count, temperature)
        for (question, answer), samples in zip(pending, completions, strict=True):
            found[question] = next((c for s in samples if _keeps(c := as_rft_completion(s), answer, tokenizer)),
                                   None)
        drawn += count
    return found


def generate_dataset(output_json: str | Path | None = None, oversample: int = 4, temperature: float = 0.7,
                     *, model=None, sampler: Sampler | None = None, questions: Sequence | None = None,
                     limit: int | None = None, chunk_size: int = 16, sampler_model: str = "cot-units",
                     checkpoint: str | None = None, per_round: int = 1) -> list[list]:
    """Sample up to ``oversample`` completions per training question and keep one exactly right chain each.

    Sampling goes in rounds of ``per_round`` completions (see :func:`_sample_in_rounds`): a
    question whose first completion is kept costs one decoding, not ``oversample`` (the
    chain-of-thought sampler gets most questions right at once, and on a CPU the prompt's
    prefill, repeated for every returned sequence, is most of the cost).

    :param model: the sampler model, for its prompt format (default: ``sampler_model`` loaded).
    :param sampler: overrides ``model.batched_generate`` (tests pass a stub).
    :param questions: ``[question, answer]`` rows (default: the training split).
    :param limit: use only the first ``limit`` questions.
    :param sampler_model: ``cot-units``, ``cot`` or ``sft``: which model writes the chains, and each row's
        source (``"<sampler>-sample"``).
    :param checkpoint: base model (see :mod:`unitconv.model_loader`) when ``model`` is loaded here.
    :returns: the kept ``[question, answer, reasoning, source]`` rows, also written to
        ``output_json`` (default ``data/rft.json``).
    """
    from tqdm.auto import tqdm

    if oversample < 1 or per_round < 1 or temperature <= 0:
        raise ValueError("rejection sampling needs oversample >= 1, per_round >= 1 and temperature > 0")
    if sampler_model not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler_model!r}; choose one of {', '.join(SAMPLERS)}")
    source = f"{sampler_model}-sample"
    output_json = Path(output_json or data_dir() / "rft.json")
    rows = list(questions if questions is not None else Dataset("train").data)[:limit]
    if model is None:
        model = load_sampler_model(sampler_model, checkpoint)
    sample = sampler or (lambda prompts, n, t: model.batched_generate(prompts, num_return_sequences=n,
                                                                       temperature=t))
    tokenizer = getattr(model, "tokenizer", None)
    partial = _partial_path(output_json)
    done = _read_partial(partial, source)
    todo = [row for row in rows if row[0] not in done]
    if done:
        print(f"resuming: {len(done)} questions already sampled, {len(todo)} to go")
    output_json.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("a") as log, tqdm(total=len(rows), initial=len(rows) - len(todo), desc="sampling",
                                        unit="question") as progress:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start:start + chunk_size]
            found = _sample_in_rounds(chunk, model.format_prompt, sample, oversample, per_round, temperature,
                                      tokenizer)
            for question, answer, *_ in chunk:
                row = [question, answer, found[question], source] if found[question] is not None else None
                done[question] = row
                log.write(json.dumps({"question": question, "row": row, "source": source}) + "\n")
            log.flush()
            progress.update(len(chunk))
    kept = [done[q] for q, *_ in rows if done.get(q)]
    print(f"kept {len(kept)} of {len(rows)} questions ({100 * len(kept) / max(len(rows), 1):.1f}%) "
          f"sampled from the {sampler_model} model")
    _write_json_atomically(output_json, kept)
    partial.unlink(missing_ok=True)
    return kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rejection-sample reasoning for RFT")
    parser.add_argument("output_json", nargs="?", type=Path, default=None, help="default: data/rft.json")
    parser.add_argument("--oversample", type=int, default=4, help="completions sampled per question at most")
    parser.add_argument("--per-round", type=int, default=1,
                        help="completions per question in one call; further rounds only where none was kept")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--limit", type=int, default=1000, help="first N training questions")
    parser.add_argument("--sampler", choices=SAMPLERS, default="cot-units",
                        help="model that writes the chains: cot-units (few-shot prompt with per-unit examples, "
                             "default), cot (the graded few-shot prompt) or sft")
    parser.add_argument("--base-model", default=None,
                        help="base model id or folder (default: $UNITCONV_BASE_MODEL, else the embedded one)")
    args = parser.parse_args(argv)
    generate_dataset(args.output_json, args.oversample, args.temperature, limit=args.limit,
                     sampler_model=args.sampler, checkpoint=args.base_model, per_round=args.per_round)


if __name__ == "__main__":
    main()
