"""Built-in entry-point discovery: the submission's ``grader.toml`` first, then the course convention.

Convention: ``BaseLLM`` exported by the package or in ``base_llm``; ``load_cot``/``load_sft``/
``load_rft`` exported by the package, or ``load`` in ``cot``/``sft``/``rft``.  A submission whose
layout differs declares its own in ``PACKAGE/grader.toml`` (module relative to the package when
it starts with a dot)::

    [entry-points]
    cot = ".prompting:build_model"
"""

from __future__ import annotations

from grader_plugin import hookimpl


def convention(entry_point: str, package: str) -> list[str]:
    """The course's places for ``entry_point`` in ``package``."""
    if entry_point == "base":
        return [f"{package}:BaseLLM", f"{package}.base_llm:BaseLLM"]
    return [f"{package}:load_{entry_point}", f"{package}.{entry_point}:load"]


@hookimpl
def grader_entry_point_candidates(entry_point, submission):
    declared = submission.entry_points.get(entry_point)
    return ([declared] if declared else []) + convention(entry_point, submission.package)
