"""Reference solution of the unit-conversion assignment (parts 1 to 4).

The package exports what the course's grader calls: ``BaseLLM`` and one ``load_*`` function per
graded part, each returning a ready ``BaseLLM`` (or subclass) on the chosen base model.
"""

from solution.base_llm import BaseLLM
from solution.cot import load as load_cot


def load_sft(*args, **kwargs):
    """The base model with the SFT adapter of ``solution/sft_model`` (part 3)."""
    from solution.sft import load

    return load(*args, **kwargs)


def load_rft(*args, **kwargs):
    """The base model with the RFT adapter of ``solution/rft_model`` (part 4)."""
    from solution.rft import load

    return load(*args, **kwargs)


__all__ = ["BaseLLM", "load_cot", "load_sft", "load_rft"]
