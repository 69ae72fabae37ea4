"""The plugin manager: hookspecs, installed plugins, then the built-in plugins, registered alike.

As in pluggy's eggsample, one function builds it.  Built-in behaviour is a list of ordinary
plugin modules (:data:`DEFAULT_PLUGINS`); third-party plugins come from the entry-point group
``unitconv_grader.plugins`` and from ``conftest.py`` files of the grading run.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class HookAnswer:
    """What one plugin's implementation of a hook answered, or the error it raised."""

    plugin: str
    value: Any = None
    error: Exception | None = None


def call_each(pm: pluggy.PluginManager, hook: str, arguments: Callable[[str], dict] | None = None,
              **kwargs) -> list[HookAnswer]:
    """Call every implementation of ``hook`` on its own, in pluggy's order, and say what each answered.

    The grader calls implementations one by one where it must know which plugin answered (each
    gets its own ``register`` callback, extra questions are marked with their plugin) or where one
    plugin's failure must cost only its own answer: an exception is caught and returned as that
    plugin's :attr:`HookAnswer.error`.  ``arguments(plugin_name)`` gives a plugin its own keyword
    arguments (default: ``kwargs``).  A wrapper is answered with an error (called this way it
    would never wrap), like an implementation that raised.
    """
    answers = []
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        if impl.hookwrapper or getattr(impl, "wrapper", False):
            refused = TypeError(f"{hook} may not be a hook wrapper: the grader calls each implementation on its own")
            answers.append(HookAnswer(impl.plugin_name, error=refused))
            continue
        given = arguments(impl.plugin_name) if arguments is not None else kwargs
        try:
            value = impl.function(**{name: given[name] for name in impl.argnames})
        except Exception as error:  # noqa: BLE001 - the caller decides what one plugin's failure costs
            answers.append(HookAnswer(impl.plugin_name, error=error))
            continue
        answers.append(HookAnswer(impl.plugin_name, value))
    return answers


class GradingSetupError(ValueError):
    """The run cannot start (unknown part or profile, duplicate check); the message says what to use."""


def did_you_mean(name: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to ``name``, or nothing."""
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def collect_registered(pm, hook_name: str, kind: type) -> dict[str, object]:
    """Everything the plugins register through ``hook_name``, by name, in call order.

    Each implementation gets its own ``register`` callback, so a clash or a wrong type names the
    plugins involved; checks and profiles are validated the same way.
    """
    found: dict[str, tuple[object, str]] = {}

    def register_for(plugin: str) -> dict:
        def register(item) -> None:
            if not isinstance(item, kind):
                raise GradingSetupError(
                    f"plugin {plugin}: register() takes a {kind.__module__}.{kind.__name__}, "
                    f"got {type(item).__name__}"
                )
            if item.name in found:
                raise GradingSetupError(
                    f"two plugins register a {kind.__name__.lower()} named {item.name!r}: "
                    f"{found[item.name][1]} and {plugin}; rename one"
                )
            found[item.name] = (item, plugin)

        return {"register": register}

    for answer in call_each(pm, hook_name, arguments=register_for):
        if answer.error is not None:
            raise answer.error
    return {name: item for name, (item, _) in found.items()}
