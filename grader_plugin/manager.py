"""The plugin manager: hookspecs, installed plugins, then the built-in plugins, registered alike.

As in pluggy's eggsample, one function builds it.  Built-in behaviour is a list of ordinary
plugin modules (:data:`DEFAULT_PLUGINS`); third-party plugins come from the entry-point group
``unitconv_grader.plugins`` and from ``conftest.py`` files of the grading run.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

import pluggy

from grader_plugin import ENTRY_POINT_GROUP, PROJECT, hookspecs

DEFAULT_PLUGINS: tuple[str, ...] = (
    "grader_plugin.builtin.profiles",
    "grader_plugin.builtin.discovery",
    "grader_plugin.builtin.generation",
    "grader_plugin.builtin.accuracy",
    "grader_plugin.builtin.limits",
    "grader_plugin.builtin.adapters",
    "grader_plugin.integrity.static_scan",
    "grader_plugin.integrity.dynamic",
    "grader_plugin.integrity.behaviour",
    "grader_plugin.integrity.replay",
    "grader_plugin.builtin.advice",
    "grader_plugin.builtin.terminal_report",
    "grader_plugin.builtin.json_report",
)


def get_plugin_manager(
    extra_plugins: Iterable[object] = (), load_entry_points: bool = True
) -> pluggy.PluginManager:
    """A plugin manager with every hookspec, the installed plugins, ``extra_plugins`` and the built-ins."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra_plugins:
        if not pm.is_registered(plugin):
            pm.register(plugin, name=_readable_name(pm, plugin))
    # pluggy calls the last registered first: register in reverse so hooks run in the listed order,
    # before every third-party plugin (whose checks therefore come after the built-in parts).
    for name in reversed(DEFAULT_PLUGINS):
        pm.register(importlib.import_module(name), name=name)
    pm.check_pending()
    return pm


def _readable_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """A name that reports and errors can show: the module's name (a conftest's path), else the class name."""
    name = getattr(plugin, "__file__", None) or getattr(plugin, "__name__", None) or type(plugin).__name__
    candidate, number = str(name), 1
    while pm.get_plugin(candidate) is not None:
        number += 1
        candidate = f"{name} ({number})"
    return candidate


def has_grader_hooks(plugin: object) -> bool:
    """Whether ``plugin`` (a conftest module, say) implements any grader hook."""
    marker = f"{PROJECT}_impl"
    return any(
        hasattr(getattr(plugin, name, None), marker) for name in dir(plugin) if name.startswith("grader_")
    )
