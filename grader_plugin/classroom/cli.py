"""``python -m grader_plugin grade-class HANDINS --out DIR [options]``: exactly ``pytest --grade-class``.

As ``grade`` runs ``pytest --grade``, ``grade-class`` runs pytest with ``--grade-class HANDINS
--grade-class-out DIR`` and every further argument (``--grade-parts``, ``--grade-profile``,
``--ray-address``, ``--regrade``, ...), so the options, their environment variables and ini keys
mean the same in both ways.
"""

from __future__ import annotations

import os


def grade_class(handins: str, out: str, pytest_args: list[str]) -> int:
    """Run pytest with ``--grade-class HANDINS --grade-class-out OUT``; returns its exit code."""
    import pytest

    args = [f"--grade-class={handins}", f"--grade-class-out={out}", *pytest_args]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args = ["-p", "grader_plugin.plugin", "-p", "grader_plugin.classroom.pytest_plugin", *args]
    return int(pytest.main(args))
