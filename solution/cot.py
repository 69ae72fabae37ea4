"""Part 2: chain-of-thought prompting with the chat template.

A 135M model cannot multiply reliably, but it can copy a conversion factor.  The prompt
therefore asks for one short line that states the factor, then a program-aided answer: the
expression ``quantity * factor`` inside the tags, which :meth:`BaseLLM.parse_answer` evaluates
exactly.  Worked examples use the course's conventions (decimal data sizes, metric ton, the
tropical year, US volumes), which is where small models otherwise go wrong.
"""

from __future__ import annotations

from solution.base_llm import BaseLLM

INSTRUCTIONS = (
    "You convert units. State the conversion factor in one line, then give the answer as "
    "quantity * factor inside <answer></answer> tags. Data sizes are decimal (1 kB = 1000 B, "
    "1 MB = 1000 kB, 1 GB = 1000 MB, 1 B = 8 bit). 1 ton = 1000 kg. 1 gallon = 3.785411784 L = "
    "4 quarts = 8 pints = 128 fluid ounces. 1 year = 365.2422 days."
)

EXAMPLES: tuple[tuple[str, str], ...] = (
    ("How many meters are in 6 kilometers?",
     "1 kilometer = 1000 meters. <answer>6 * 1000</answer>"),
    ("Convert 3 pounds to grams.",
     "1 pound = 453.59237 grams. <answer>3 * 453.59237</answer>"),
    ("What is 7 MB in kB?",
     "1 MB = 1000 kB. <answer>7 * 1000</answer>"),
    ("How many hours are in 2 weeks?",
     "1 week = 168 hours. <answer>2 * 168</answer>"),
    ("Express 4 km/h as a quantity of m/s.",
     "1 km/h = 0.277778 m/s. <answer>4 * 0.277778</answer>"),
    ("How many gallons make up 9 liters?",
     "1 liter = 0.264172 gallons. <answer>9 * 0.264172</answer>"),
    ("What is 5 inches in feet?",
     "1 inch = 0.0833333 feet. <answer>5 * 0.0833333</answer>"),
)


class CoTModel(BaseLLM):
    """The base model prompted with instructions and worked examples in its chat template."""

    def format_prompt(self, question: str) -> str:
        messages = [{"role": "system", "content": INSTRUCTIONS}]
        for example_question, example_answer in EXAMPLES:
            messages.append({"role": "user", "content": example_question})
            messages.append({"role": "assistant", "content": example_answer})
        messages.append({"role": "user", "content": question})
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def load(checkpoint: str | None = None, **kwargs) -> CoTModel:
    """The chain-of-thought model on the chosen base model (embedded by default)."""
    return CoTModel(checkpoint, **kwargs)


def test_model(max_question: int = 100) -> None:
    """Print accuracy and answer rate on the first ``max_question`` validation questions."""
    from solution.data import Dataset, benchmark

    result = benchmark(load(), Dataset("valid"), max_question)
    print(f"accuracy={result.accuracy:.3f} answer_rate={result.answer_rate:.3f}")


if __name__ == "__main__":
    import sys

    test_model(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
