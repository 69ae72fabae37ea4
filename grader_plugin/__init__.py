"""A pytest plugin that grades unit-conversion submissions in isolated worker processes.

This module stays tiny on purpose: pytest imports it (through ``grader_plugin.plugin``) in every
run of every project where it is installed, so importing it must cost nothing.  It defines the
pluggy markers that grading plugins use::

    from grader_plugin import hookimpl

    @hookimpl
    def grader_register_checks(register): ...
"""

from __future__ import annotations

import pluggy

PROJECT = "unitconv_grader"
"""pluggy project name: hook implementations are marked with ``unitconv_grader_impl``."""

ENTRY_POINT_GROUP = "unitconv_grader.plugins"
"""Installed packages add grading plugins by declaring an entry point in this group."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT", "hookimpl", "hookspec"]
