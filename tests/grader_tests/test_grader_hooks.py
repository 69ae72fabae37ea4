"""The hook surface: every hookspec is documented, and built-in behaviour is made of ordinary plugins."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from grader_plugin import PROJECT, hookspecs
from grader_plugin.manager import DEFAULT_PLUGINS, get_plugin_manager
from grader_plugin.session import GradingSession
from grader_plugin.settings import GradeSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
HOOKS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if inspect.isfunction(value) and hasattr(value, f"{PROJECT}_spec")
)


def test_there_are_hooks_for_every_extension_point():
    assert HOOKS == sorted(
        [
            "grader_register_checks",
            "grader_register_profiles",
            "grader_entry_point_candidates",
            "grader_thresholds",
            "grader_scan_submission",
            "grader_extra_questions",
            "grader_scan_part",
            "grader_adjust_result",
            "grader_write_report",
        ]
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring_with_parameters_and_return(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    for parameter in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert f":param {parameter}:" in doc, f"{hook}: docstring does not describe {parameter}"
    assert ":return:" in doc
    assert "firstresult" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_an_example(hook):
    text = DOCS.read_text()
    section = text.split(f"### `{hook}`", 1)
    assert len(section) == 2, f"{hook} has no section in {DOCS.name}"
    body = section[1].split("\n### ", 1)[0]
    assert "```python" in body and f"def {hook}(" in body, (
        f"{hook}: its section in {DOCS.name} has no example"
    )


def test_docs_name_no_hook_that_does_not_exist():
    documented = set(re.findall(r"^### `(grader_\w+)`", DOCS.read_text(), flags=re.MULTILINE))
    assert documented == set(HOOKS)


def test_built_in_plugins_are_registered_like_any_plugin():
    pm = get_plugin_manager(load_entry_points=False)
    assert [name for name in DEFAULT_PLUGINS if pm.get_plugin(name) is None] == []


def test_unregistering_a_built_in_plugin_removes_its_checks(tmp_path):
    pm = get_plugin_manager(load_entry_points=False)
    pm.unregister(name="grader_plugin.builtin.accuracy")
    session = GradingSession(GradeSettings(path=tmp_path), pm)
    assert list(session.checks) == ["generate", "batched_generate", "bundle_size"]
