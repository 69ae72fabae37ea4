"""The words the integrity detectors share: graded and training files, split names, watched methods.

Grader side.  The static scan reads them in source code, the dynamic audit in the files a worker
opened; the answering methods themselves are part of the hand-in contract
(:data:`grader_plugin.handin.contract.ANSWERING_METHODS`).
"""

from __future__ import annotations

import re

from grader_plugin.handin.contract import ANSWERING_METHODS

GRADING_FILES = re.compile(r"(^|[/\\])(valid|test)(ation)?\.jsonl?$")
"""Files that hold graded questions with their answers."""
TRAINING_FILES = re.compile(r"(^|[/\\])(train|rft)\.jsonl?$")
"""Files a hand-in may read (few-shot examples, training data)."""
GRADING_SPLITS = {"valid", "validation", "test"}
TRAINING_SPLITS = {"train", "rft"}
REPLACED_METHODS = set(ANSWERING_METHODS) - {"format_prompt"}
"""Answering methods whose run-time replacement is a finding (``format_prompt`` may be set freely)."""
GRADER_PACKAGE = "grader_plugin"
