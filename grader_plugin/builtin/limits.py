"""Built-in hand-in limits: model size (at most 380M parameters) and bundle size (at most 50 MB).

Model size is a rule on every part, applied through ``grader_adjust_result``: a part whose
loaded model is too big scores 0.  Bundle size is its own 0-point check, failed above the limit;
adapters above 20 MB are reported without costing anything.  The limits are the active
profile's (the course's by default, ``unitconv/course.py``).
"""

from __future__ import annotations

from grader_plugin import hookimpl
from grader_plugin.checks import Check
from grader_plugin.handin.bundle import large_adapters, megabytes
from grader_plugin.results import PartResult


@hookimpl
def grader_adjust_result(check, result, outcome, context):
    if outcome is None or outcome.num_parameters is None:
        return
    limit = context.profile.max_parameters
    result.details.append(f"model: {outcome.num_parameters / 1e6:.1f}M parameters ({outcome.entry_point})")
    if outcome.num_parameters > limit:
        result.zero(f"model has {outcome.num_parameters / 1e6:.1f}M parameters, above the {limit / 1e6:g}M limit",
                    cause="model-size")


def _bundle_score(context, outcome) -> PartResult:
    profile, submission = context.profile, context.submission
    result = PartResult.for_check(context.check)
    result.value = submission.bundle_bytes / 1e6
    result.bounds = f"<= {profile.max_bundle_bytes / 1e6:g}"
    if submission.bundle_bytes > profile.max_bundle_bytes:
        result.ok = False
        result.reason = (
            f"bundle is {megabytes(submission.bundle_bytes)}, above the course's "
            f"{megabytes(profile.max_bundle_bytes)}; remove checkpoints and logs (python -m grader_plugin bundle)"
        )
    if result.ok:
        result.reason = f"passes: {megabytes(submission.bundle_bytes)}, within {megabytes(profile.max_bundle_bytes)}"
    for path, size in large_adapters(submission.files(), profile.max_adapter_bytes):
        name = path.relative_to(submission.folder)
        note = f"{name} is {megabytes(size)}, above {megabytes(profile.max_adapter_bytes)} per adapter"
        result.details.append(note)
        result.reason = f"{result.reason}; warning: {note}" if result.ok else result.reason
    return result


BUNDLE = Check(name="bundle_size", title="bundle size", points=0, score=_bundle_score, measure="MB")


@hookimpl
def grader_register_checks(register):
    register(BUNDLE)
