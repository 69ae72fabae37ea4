"""What grades a run: the grader's version, its plugins and their versions, profile, base model, device, data.

A third-party plugin can change thresholds and checks, and the base model decides what the
generation parts are compared with, so a grade says what produced it: the pytest report header
shows these lines and the report keeps them (``results.json``'s ``extra_data``).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from grader_plugin.manager import DEFAULT_PLUGINS

DISTRIBUTION = "unitconv-grader"


def grader_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "not installed"


def plugin_names(pm) -> list[str]:
    """Third-party plugins as ``name version`` (installed) or ``path`` (conftest), built-ins left out."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    names = []
    for name, plugin in pm.list_name_plugin():
        if name in DEFAULT_PLUGINS or plugin is None:
            continue
        dist = dists.get(id(plugin))
        if dist is not None:
            names.append(f"{name} ({dist.project_name} {dist.version})")
        else:
            where = getattr(plugin, "__file__", None)
            names.append(Path(where).name if where else name)
    return names


def data_lines(settings) -> list[str]:
    """What the run grades on, and where a course checkout's own questions are when they differ."""
    whose = "this project's own" if settings.own_data else "the given"
    lines = [f"questions: {whose} validation split ({Path(settings.data_dir) / 'valid.json'}; "
             f"--grade-data DIR grades on an official copy)"]
    beside = Path(settings.path).resolve().parent / "data" / "valid.json"
    if beside.is_file() and beside.parent.resolve() != Path(settings.data_dir).resolve():
        lines.append(f"the course's questions are beside this hand-in ({beside}); this run does not use them: "
                     f"grade on them with --grade-data {beside.parent}")
    return lines


def provenance(pm, settings, served=(), sandbox=None) -> dict[str, object]:
    """The facts of the run that decide its grades, as JSON data (``served``: the hub ids workers can load)."""
    return {
        "grader": f"{DISTRIBUTION} {grader_version()}",
        "built_in_plugins": len([n for n in DEFAULT_PLUGINS if pm.get_plugin(n) is not None]),
        "plugins": plugin_names(pm),
        "profile": settings.profile,
        "base_model": settings.base_model_label,
        "device": settings.device or "auto (cuda, mps, cpu: the first that exists)",
        "data": str(settings.data_dir),
        "models_served": [model.describe() for model in served],
        "sandbox": sandbox.describe() if sandbox is not None else "sandbox: not chosen",
        "questions": data_lines(settings),
    }


def header_lines(facts: dict[str, object]) -> list[str]:
    """The report header: one line for the grader and its plugins, one for what it grades with."""
    plugins = ", ".join(facts["plugins"]) or "none"
    return [
        f"grader: {facts['grader']}; {facts['built_in_plugins']} built-in plugins; other plugins: {plugins}",
        f"grading with: profile {facts['profile']}; base model {facts['base_model']}; "
        f"device {facts['device']}; data {facts['data']}",
        *(f"hub model {line}" for line in facts.get("models_served", [])),
        facts.get("sandbox", ""),
        *facts.get("questions", []),
    ]
