"""Reference solution of the unit-conversion assignment (parts 1 to 4).

The package exports what the course's grader calls: ``BaseLLM``, one ``load_*`` function per
graded part (each returning a ready ``BaseLLM`` or subclass on the chosen base model), and the
modules ``data``, ``cot``, ``sft`` and ``rft`` as attributes (``homework.data.Dataset("valid")``,
``homework.data.benchmark``), as the course's starter package does.  Imports inside the package
are relative, so it works under any name (the hand-in bundle renames it ``homework``).
"""

from . import cot, data, rft, sft
from .base_llm import BaseLLM
from .cot import load as load_cot
from .rft import load as load_rft
from .sft import load as load_sft

__all__ = ["BaseLLM", "cot", "data", "load_cot", "load_rft", "load_sft", "rft", "sft"]
