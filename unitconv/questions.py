"""Generator of unit-conversion questions with exact answers.

Each question picks a family, two different units of it, an integer quantity and a phrasing;
its answer comes from :func:`unitconv.units.convert`.  Generation is reproducible by seed, so
the stored ``data/*.json`` files can be remade and the grader can make fresh hidden sets
(:func:`make_questions`) that were never written to disk.

Command line: ``python -m unitconv.questions --out data`` rewrites the stored splits.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

from unitconv.units import FAMILIES, Unit, convert, units_of

SPLIT_SEED = 2026
"""Seed of the stored splits: ``write_splits(out, TRAIN_SIZE, VALID_SIZE, SPLIT_SEED)`` remakes them."""
TRAIN_SIZE, VALID_SIZE = 5000, 1000

# {n}: the quantity; {src}: source unit spelled for that quantity; {dst}: target unit
# (plural or symbol); {src_name}: source unit in its singular name; {dst_name}: target singular.
PHRASINGS: tuple[str, ...] = (
    "Convert {n} {src} to {dst}.",
    "Convert {n} {src} into {dst}.",
    "How many {dst} are in {n} {src}?",
    "How many {dst} in {n} {src}?",
    "How many {dst} make up {n} {src}?",
    "How many {dst} are there in {n} {src}?",
    "How many {dst} are there per {n} {src}?",
    "What is the equivalent of {n} {src} in {dst}?",
    "What is the measurement of {n} {src} in {dst}?",
    "What is the conversion of {n} {src} into {dst}?",
    "What is {n} {src} in {dst}?",
    "What is {n} {src} expressed in {dst}?",
    "Could you give the conversion from {src_name} to {dst_name} for {n} units?",
    "Express {n} {src} as a quantity of {dst}.",
    "What does {n} {src} equal in {dst_name} terms?",
    "If I have {n} {src}, how many {dst} is that?",
    "Tell me how many {dst} correspond to {n} {src}.",
    "{n} {src} is how many {dst}?",
    "{n} {src} equals how many {dst}?",
    "Change {n} {src} to {dst}.",
    "Please convert {n} {src} to {dst}.",
    "I need {n} {src} in {dst}.",
    "Turn {n} {src} into {dst}.",
    "Give {n} {src} in {dst}.",
    "Find the number of {dst} in {n} {src}.",
    "Calculate how many {dst} there are in {n} {src}.",
    "What would {n} {src} be in {dst}?",
    "Rewrite {n} {src} using {dst}.",
    "{n} {src} to {dst}?",
    "How much is {n} {src} when measured in {dst}?",
    "Determine the value of {n} {src} in {dst}.",
    "What quantity of {dst} is equal to {n} {src}?",
    "Can you convert {n} {src} to {dst} for me?",
    "Measure {n} {src} in {dst_name} units.",
)


@dataclass(frozen=True)
class Question:
    """A generated question with the structure it was made from."""

    text: str
    answer: float
    quantity: int
    source: Unit
    target: Unit
    phrasing: str

    def as_row(self) -> list:
        """The course's JSON row: ``[question, answer]``."""
        return [self.text, self.answer]


def _spell_quantity_unit(rng: random.Random, unit: Unit, quantity: int) -> str:
    names = unit.singular if quantity == 1 else unit.plural
    choices = list(names) + list(unit.symbols)
    return rng.choice(choices)


def _spell_target(rng: random.Random, unit: Unit) -> str:
    return rng.choice(list(unit.plural) + list(unit.symbols))


def make_question(rng: random.Random, min_value: int = 1, max_value: int = 10) -> Question:
    """One random question drawn from ``rng`` (families, units and phrasings uniformly)."""
    family = rng.choice(FAMILIES)
    source, target = rng.sample(units_of(family), 2)
    quantity = rng.randint(min_value, max_value)
    phrasing = rng.choice(PHRASINGS)
    text = phrasing.format(
        n=quantity,
        src=_spell_quantity_unit(rng, source, quantity),
        dst=_spell_target(rng, target),
        src_name=source.singular[0],
        dst_name=target.singular[0],
    )
    return Question(text, convert(quantity, source, target), quantity, source, target, phrasing)


def make_questions(count: int, seed: int, *, exclude: set[str] = frozenset(),
                   min_value: int = 1, max_value: int = 10) -> list[Question]:
    """``count`` distinct questions, reproducible by ``seed``, none of whose texts is in ``exclude``.

    Raises ValueError when the space of questions cannot supply that many distinct texts.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = random.Random(seed)
    seen = set(exclude)
    questions: list[Question] = []
    attempts = 0
    while len(questions) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise ValueError(f"could only make {len(questions)} distinct questions of {count} requested")
        question = make_question(rng, min_value, max_value)
        if question.text in seen:
            continue
        seen.add(question.text)
        questions.append(question)
    return questions


def write_splits(out_dir: Path, train_size: int, valid_size: int, seed: int, quiet: bool = False) -> None:
    """Write ``valid.json`` then ``train.json`` with no question in both."""
    out_dir.mkdir(parents=True, exist_ok=True)
    valid = make_questions(valid_size, seed)
    train = make_questions(train_size, seed + 1, exclude={q.text for q in valid})
    for name, rows in (("valid", valid), ("train", train)):
        path = out_dir / f"{name}.json"
        lines = ",\n".join(" " + json.dumps(q.as_row()) for q in rows)
        path.write_text("[\n" + lines + "\n]\n")
        if not quiet:
            print(f"wrote {len(rows)} questions to {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write train.json and valid.json to")
    parser.add_argument("--train-size", type=int, default=TRAIN_SIZE)
    parser.add_argument("--valid-size", type=int, default=VALID_SIZE)
    parser.add_argument("--seed", type=int, default=SPLIT_SEED)
    args = parser.parse_args(argv)
    write_splits(args.out, args.train_size, args.valid_size, args.seed)


if __name__ == "__main__":
    main()
