"""Which model the generation parts are judged under: always one the grader serves.

The generation parts score a hand-in's outputs by their likelihood under a base model.  What the
hand-in reports it loaded (``config._name_or_path``, measured in its own worker) is hand-in data:
a hand-in could load the real base model and name a tiny model of its own that finds its outputs
likely.  So the report only picks among the models the grader serves in this run (a hub id it
serves, or the run's base model, by name or by a path resolving to its folder), and the grader's
trusted worker loads that model itself.  Grader side.
"""

from __future__ import annotations

import functools
from pathlib import Path

from grader_plugin.launch import model_map
from grader_plugin.results import WorkerOutcome
from grader_plugin.text import one_line
from unitconv.course import COURSE_BASE_MODEL, EMBEDDED_HUB_ID

MAX_MODELS = 16
"""Reported models looked at (a hand-in may report many; an honest one holds one or two)."""


def served_folder(context, name: str) -> Path | None:
    """The folder serving ``name`` in this run, or None (also when looking it up fails)."""
    try:
        return context.model_folder(name)
    except Exception:  # noqa: BLE001 - e.g. no embedded model here: that name is not served
        return None


def served_name(context, name: str) -> str | None:
    """The served model ``name`` (as a hand-in reports it) stands for in this run, or None."""
    base = context.settings.base_model_name
    return model_map.served_as(name, functools.partial(served_folder, context), (base, EMBEDDED_HUB_ID,
                                                                                   COURSE_BASE_MODEL))


def _shown(name: str, context) -> str:
    """A loaded model's name as the report shows it: a path inside the hand-in from its package on."""
    parts = Path(name).parts
    package = getattr(context.submission, "package", None)
    if Path(name).is_absolute() and package in parts:
        name = str(Path(*parts[len(parts) - parts[::-1].index(package) - 1:]))
    return one_line(name, 120)


def judge_model(outcome: WorkerOutcome, context) -> tuple[str | None, str]:
    """The model the grader judges the outputs under, and how it chose it; None and why when it cannot.

    The hand-in's report of what it loaded is hand-in data: it only picks among the models the
    grader serves (its hub id, or the run's base model), and the grader loads that model from its
    own folder.  A reported model the grader does not serve (a folder in the hand-in, another path,
    an unserved hub id) leaves no judge: the part scores 0 naming it.
    """
    base = context.settings.base_model_name
    reported = [m for m in outcome.models if isinstance(m, dict) and m.get("name_or_path")]
    names = [str(m["name_or_path"]) for m in reported[:MAX_MODELS]]
    served = [served_name(context, name) for name in names]
    unserved = next((name for name, judge in zip(names, served, strict=True) if judge is None), None)
    if unserved is not None:
        return None, (f"loads a model the grader does not serve: {_shown(unserved, context)} (generation is judged "
                      f"only under a model the grader serves: load the run's base model {_shown(base, context)} "
                      f"or a hub id it serves, e.g. {COURSE_BASE_MODEL}; --grade-model-map HUB_ID=PATH serves more)")
    if not names:
        return base, "the hand-in's model could not be identified: graded against the run's base model"
    return served[0], "as loaded by the hand-in"
