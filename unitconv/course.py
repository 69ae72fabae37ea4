"""The course's facts that code on both sides relies on, each in one place.

The grader's score ramps per part live in ``grader_plugin/builtin/profiles.py`` (one table of the
course's bars); the answer check is written twice on purpose (the grader's own in
``grader_plugin/marking/scoring.py``, the hand-in's in ``solution/data.py``) and a test runs both on the
same cases.
"""

from __future__ import annotations

MAX_PARAMETERS = 380_000_000
"""A hand-in's model may have at most this many parameters."""
MAX_BUNDLE_BYTES = 50_000_000
"""The hand-in zip may be at most this large."""
MAX_ADAPTER_BYTES = 20_000_000
"""Each LoRA adapter should stay under this size (reported, not graded)."""
ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
"""File names of saved LoRA adapter weights (peft)."""
GRADED_QUESTIONS = 100
"""The accuracy parts are graded on the first this many validation questions (``--grade-questions``'s default)."""
GENERATION_QUESTIONS = 32
"""The generation parts use at most this many validation questions."""
COURSE_BASE_MODEL = "HuggingFaceTB/SmolLM2-360M-Instruct"
"""The base model real hand-ins load by hub id."""
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""The hub id of the model the project embeds (its GGUF file is a quantised copy of it)."""
