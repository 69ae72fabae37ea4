"""Built-in rule: a part short of full marks ends with one line of what to do next, for a student.

``grader_adjust_result`` (grader side), registered after every other built-in that adjusts a
result, so it sees the final result.  It reads structured causes, never the wording of reasons
or details: the worker's :attr:`~grader_plugin.results.WorkerOutcome.status` (and its ``cause``
and ``where``), the part's integrity flags, and the :attr:`~grader_plugin.results.PartResult.facts`
checks and rules record (``cause``, ``untagged``/``asked``, ``raw_observed``, ``broken_outputs``),
so a third-party part that words its reasons its own way gets the same advice.  It adds one line
starting with :data:`PREFIX`.  Nothing here changes points.
"""

from __future__ import annotations

from grader_plugin import hookimpl
from grader_plugin.results import FLAGGED

PREFIX = "what to do next: "
FAILURES = {
    "integrity": "the Integrity section shows the evidence: every answer must come from your model's own generation",
    "missing": ("export the part's loader from your package's __init__.py (from .cot import load as load_cot) "
                "or declare it in grader.toml under [entry-points]"),
    "timeout": ("your part ran past its time limit: generate in batches (batched_generate), keep max_new_tokens "
                "near 50 to 100, and check for loops that never end"),
    "memory": "load the model once, generate in smaller batches, and do not keep every output tensor",
    "adapter": "fix the adapter folder as the reason says, then grade again",
    "hub": "grade with the model your hand-in loads: give its local folder with --grade-model-map",
    "exited": ("your code ended the process before the part finished (os._exit, a crash in native code or a "
               "signal): remove exit calls from load() and answer(), and run the part on your machine"),
}
"""The line for each cause of a part scoring 0 (see :func:`cause`)."""


def cause(result, outcome=None) -> str:
    """What the reason shown first is about, as a key of :data:`FAILURES` (or another short name), or "".

    The cause the latest :meth:`~grader_plugin.results.PartResult.zero` named wins; a zero that
    named none leaves the part's integrity flags, then the worker's failure, as the cause.
    """
    named = result.facts.get("cause")
    if named:
        return named
    if result.integrity_status == FLAGGED:
        return "integrity"
    if outcome is not None and not outcome.ok:
        return outcome.cause or outcome.status
    return ""


def _failure(result, outcome) -> str | None:
    why = cause(result, outcome)
    if why in FAILURES:
        return FAILURES[why]
    where = outcome.where if outcome is not None and why == "error" else ""
    if where:
        module = where.rsplit(".py:", 1)[0].replace("/", ".")
        return f"run this part on your machine (python -m {module}) and fix the error at {where}"
    return None


def _accuracy(facts: dict) -> str:
    untagged, asked = facts.get("untagged"), facts.get("asked")
    if untagged is not None and asked and untagged * 2 >= asked:
        return (f"no <answer> tag in {untagged} of {asked} outputs: see the first three raw "
                f"outputs above; your format_prompt may be missing the instruction to answer inside "
                f"<answer></answer>, or max_new_tokens may cut the answer off")
    if facts.get("raw_observed") is False:
        return "compare your answers with the expected values above; answer() should format, generate and parse"
    return ("your answers parse but too many are wrong: compare the outputs above with the expected values; "
            "better worked examples (CoT) or more or cleaner training data (SFT, RFT) raise accuracy")


def advice(result, outcome=None) -> str | None:
    """The line for ``result`` (a part short of full marks) whose worker came back as ``outcome``, or None."""
    if result.full_marks or result.max_points == 0:
        return None
    if not result.ok:
        return _failure(result, outcome)
    if result.measure == "accuracy":
        return _accuracy(result.facts)
    if result.measure == "loss":
        if result.facts.get("broken_outputs"):
            return ("some outputs are empty or repeat the prompt: decode only the new tokens (the part after the "
                    "prompt's length) with skip_special_tokens=True")
        return ("your outputs are less likely than the model's own greedy text: pad on the left, pass the "
                "attention mask to generate(), and decode only the new tokens")
    return None


@hookimpl
def grader_adjust_result(check, result, outcome, context):
    line = advice(result, outcome)
    if line and not any(d.startswith(PREFIX) for d in result.details):
        result.details.append(PREFIX + line)
