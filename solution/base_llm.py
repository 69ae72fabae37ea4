"""Part 1: generation with a chat LLM, one prompt or many at once.

``batched_generate`` pads on the left (a decoder continues from the last position of each row,
so padding must come first) and passes the attention mask so that padding is never attended to.
Prompts are sorted by length and cut into micro-batches so memory stays bounded for any number
of prompts and little compute is spent on padding; results come back in the callers' order.
"""

from __future__ import annotations

from typing import overload

from unitconv import model_loader

from .arithmetic import parse_tagged_answer


class GenerationInputError(TypeError):
    """``batched_generate`` was given something other than a list of strings."""


class BaseLLM:
    """A causal LM with its tokenizer, and the course's generation and answering methods.

    :param checkpoint: base model name (see :mod:`unitconv.model_loader`); default: embedded.
    :param device: ``cuda``, ``mps`` or ``cpu``; default: chosen automatically.
    :param model: an already built model to use instead of loading one (tests, adapters).
    :param tokenizer: its tokenizer, required with ``model``.
    :param max_new_tokens: generation budget per completion: 50, the course starter code's budget
        (a bare question makes the model ramble on, so the budget sets part 1's decoding time;
        the answering parts set their own, shorter ones).
    :param batch_size: prompts per micro-batch (divided by ``num_return_sequences``).
    :param stop_strings: generation of a row also ends after any of these strings.
    """

    def __init__(self, checkpoint: str | None = None, *, device: str | None = None, model=None,
                 tokenizer=None, max_new_tokens: int = 50, batch_size: int = 32,
                 stop_strings: tuple[str, ...] = ("</answer>",)):
        if model is None:
            self.model = model_loader.load_model(checkpoint, device=device)
            self.tokenizer = model_loader.load_tokenizer(checkpoint)
        else:
            if tokenizer is None:
                raise ValueError("BaseLLM(model=...) also needs tokenizer=")
            self.model, self.tokenizer = model, tokenizer
            self.tokenizer.padding_side = "left"
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = self.model.device
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.stop_strings = tuple(stop_strings)

    def format_prompt(self, question: str) -> str:
        """The prompt for a question; the base model sees the question as it is."""
        return question

    def parse_answer(self, answer: str) -> float:
        """The number in ``<answer>...</answer>`` (a plain number or simple arithmetic); NaN otherwise."""
        return parse_tagged_answer(answer)

    def generate(self, prompt: str) -> str:
        """Greedy completion of one prompt (only the new text)."""
        return self.batched_generate([prompt])[0]

    @overload
    def batched_generate(self, prompts: list[str], num_return_sequences: None = None,
                         temperature: float = 0) -> list[str]: ...

    @overload
    def batched_generate(self, prompts: list[str], num_return_sequences: int,
                         temperature: float = 0) -> list[list[str]]: ...

    def batched_generate(self, prompts, num_return_sequences=None, temperature=0):
        """Complete every prompt: greedy when ``temperature`` is 0, sampled otherwise.

        Returns a list with one string per prompt, or, when ``num_return_sequences`` is given,
        one list of that many strings per prompt.
        """
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise GenerationInputError("batched_generate(prompts=...) takes a list of strings")
        if num_return_sequences is not None and num_return_sequences < 1:
            raise ValueError(f"num_return_sequences must be >= 1, got {num_return_sequences}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        returns = num_return_sequences or 1
        per_batch = max(1, self.batch_size // returns)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        completions: list[list[str]] = [[] for _ in prompts]
        chunks = [order[i:i + per_batch] for i in range(0, len(order), per_batch)]
        from tqdm.auto import tqdm

        for chunk in tqdm(chunks, desc="generating", unit="batch", disable=len(chunks) <= 1, leave=False):
            texts = self._generate_chunk([prompts[i] for i in chunk], returns, temperature)
            for position, index in enumerate(chunk):
                completions[index] = texts[position * returns:(position + 1) * returns]
        if num_return_sequences is None:
            return [texts[0] for texts in completions]
        return completions

    def _generate_chunk(self, prompts: list[str], returns: int, temperature: float) -> list[str]:
        if temperature == 0 and returns > 1:  # greedy returns are identical: decode once, repeat
            return [text for text in self._generate_chunk(prompts, 1, 0) for _ in range(returns)]
        import torch

        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = inputs.to(self.device)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {
            "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        stops = {"stop_strings": list(self.stop_strings), "tokenizer": self.tokenizer} if self.stop_strings else {}
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                num_return_sequences=returns,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                **sampling,
                **stops,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def answer(self, *questions: str) -> list[float]:
        """Answer questions: format, generate greedily in batches, parse."""
        prompts = [self.format_prompt(q) for q in questions]
        return [self.parse_answer(g) for g in self.batched_generate(prompts)]
