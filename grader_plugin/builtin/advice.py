"""Built-in rule: a part short of full marks ends with one line of what to do next, for a student.

``grader_adjust_result`` (grader side), registered after every other built-in that adjusts a
result, so it sees the final reason.  It reads the reason and the details the checks wrote and
adds one line starting with :data:`PREFIX`.  Nothing here changes points.
"""

from __future__ import annotations

import re

from grader_plugin import hookimpl

PREFIX = "what to do next: "
UNTAGGED = re.compile(r"^(\d+) of (\d+) outputs had no <answer>")
WHERE = re.compile(r"\(([\w./-]+\.py:\d+)\)$")


def _accuracy(result) -> str:
    untagged = next((UNTAGGED.match(d) for d in result.details if UNTAGGED.match(d)), None)
    if untagged and int(untagged.group(1)) * 2 >= int(untagged.group(2)):
        return (f"no <answer> tag in {untagged.group(1)} of {untagged.group(2)} outputs: see the first three raw "
                f"outputs above; your format_prompt may be missing the instruction to answer inside "
                f"<answer></answer>, or max_new_tokens may cut the answer off")
    if any(d.startswith("raw outputs were not observed") for d in result.details):
        return "compare your answers with the expected values above; answer() should format, generate and parse"
    return ("your answers parse but too many are wrong: compare the outputs above with the expected values; "
            "better worked examples (CoT) or more or cleaner training data (SFT, RFT) raise accuracy")


def _failure(result) -> str | None:
    reason = result.reason
    if reason.startswith("integrity: "):
        return "the Integrity section shows the evidence: every answer must come from your model's own generation"
    if reason.startswith("no entry point found"):
        return ("export the part's loader from your package's __init__.py (from .cot import load as load_cot) "
                "or declare it in grader.toml under [entry-points]")
    if reason.startswith("did not finish within"):
        return ("your part ran past its time limit: generate in batches (batched_generate), keep max_new_tokens "
                "near 50 to 100, and check for loops that never end")
    if reason.startswith("ran out of memory"):
        return "load the model once, generate in smaller batches, and do not keep every output tensor"
    if "_model" in reason.split(";")[0] and ("adapter" in reason or "checkpoint" in reason):
        return "fix the adapter folder as the reason says, then grade again"
    if reason.startswith("loads '") and "--grade-model-map" in reason:
        return "grade with the model your hand-in loads: give its local folder with --grade-model-map"
    if reason.startswith("the worker ") and "before reporting a result" in reason:
        return ("your code ended the process before the part finished (os._exit, a crash in native code or a "
                "signal): remove exit calls from load() and answer(), and run the part on your machine")
    where = WHERE.search(reason)
    if where:
        module = where.group(1).rsplit(".py:", 1)[0].replace("/", ".")
        return f"run this part on your machine (python -m {module}) and fix the error at {where.group(1)}"
    return None


def advice(result) -> str | None:
    """The line for ``result`` (a part short of full marks), or None."""
    if result.full_marks or result.max_points == 0:
        return None
    if not result.ok:
        return _failure(result)
    if result.measure == "accuracy":
        return _accuracy(result)
    if result.measure == "loss":
        if any("outputs are empty or repeat the prompt" in d for d in result.details):
            return ("some outputs are empty or repeat the prompt: decode only the new tokens (the part after the "
                    "prompt's length) with skip_special_tokens=True")
        return ("your outputs are less likely than the model's own greedy text: pad on the left, pass the "
                "attention mask to generate(), and decode only the new tokens")
    return None


@hookimpl
def grader_adjust_result(check, result, outcome, context):
    line = advice(result)
    if line and not any(d.startswith(PREFIX) for d in result.details):
        result.details.append(PREFIX + line)
