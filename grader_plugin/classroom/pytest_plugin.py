"""pytest options for grading a class: ``pytest --grade-class HANDINS --grade-class-out DIR``.

Registered through the ``pytest11`` entry point beside :mod:`grader_plugin.plugin`, so it is loaded
in every pytest run: without ``--grade-class`` it only adds its options and imports nothing else.
With it, the run grades the class instead of collecting tests
(:func:`~grader_plugin.classroom.driver.run_class`) and exits 0 when the grader failed on no
hand-in, 1 otherwise (grades themselves do not change the exit code).  The ``--grade-*`` options
of single grading (command line > environment > ini, as there) apply to every hand-in, and
``conftest.py`` files with grader hooks grade every hand-in too, as they do a single one.
"""

from __future__ import annotations

import sys

import pytest

CLASS_HELP = ("grade every hand-in in HANDINS (one zip or package folder per student, or a Gradescope export) "
              "on Ray instead of running tests")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grade-class", "grading a whole class on Ray (grader_plugin.classroom)")
    group.addoption("--grade-class", dest="grade_class", metavar="HANDINS", default=None, help=CLASS_HELP)
    group.addoption("--grade-class-out", dest="grade_class_out", metavar="DIR", default=None,
                    help="results folder of --grade-class: grades.sqlite, grades.csv, results/KEY/results.json, "
                         "report.html; running again grades only what is new or changed")
    group.addoption("--ray-address", dest="ray_address", metavar="ADDRESS", default=None,
                    help="join this Ray cluster (auto, HOST:PORT, ray://HOST:PORT); default: a local Ray instance "
                         "sized to this machine (or Ray's own RAY_ADDRESS)")
    group.addoption("--ray-cpus-per-task", dest="ray_cpus_per_task", metavar="N", type=float, default=1.0,
                    help="CPUs each hand-in's Ray task holds (default 1)")
    group.addoption("--ray-gpus-per-task", dest="ray_gpus_per_task", metavar="F", type=float, default=0.0,
                    help="GPU fraction each hand-in's Ray task holds, e.g. 0.25 on GPU nodes (default 0)")
    group.addoption("--ray-max-retries", dest="ray_max_retries", metavar="N", type=int, default=1,
                    help="Ray runs a failed hand-in's task again this often before recording a grader error "
                         "(default 1: two attempts)")
    group.addoption("--grade-class-limit", dest="grade_class_limit", metavar="N", type=int, default=None,
                    help="grade at most N hand-ins in this run; the next run grades the rest")
    group.addoption("--regrade", dest="regrade", action="store_true", default=False,
                    help="grade every hand-in again, also those whose grade stands")


def _plugin_files(config: pytest.Config) -> tuple:
    """Files of the plugins pytest loaded that implement grader hooks (``conftest.py`` files)."""
    from pathlib import Path

    from grader_plugin.manager import has_grader_hooks

    return tuple(Path(p.__file__) for p in config.pluginmanager.get_plugins()
                 if has_grader_hooks(p) and getattr(p, "__file__", None))


def run_from_config(config: pytest.Config, handins: str) -> int:
    """Grade the class this pytest run names; the exit code."""
    from grader_plugin.classroom.driver import ClassOptions, ClassSetupError, run_class
    from grader_plugin.classroom.handins import HandInsError
    from grader_plugin.classroom.store import StoreError
    from grader_plugin.settings import SettingsError, settings_from_pytest

    out = config.getoption("grade_class_out")
    if not out:
        raise pytest.UsageError("--grade-class needs --grade-class-out DIR (python -m grader_plugin grade-class: "
                                "--out DIR), the folder that keeps the class's grades between runs")
    if config.getoption("grade_path", None):
        raise pytest.UsageError("--grade and --grade-class do not go together; grade one hand-in or a class")
    try:
        settings = settings_from_pytest(config, handins)
        options = ClassOptions(config.getoption("ray_address"), config.getoption("ray_cpus_per_task"),
                               config.getoption("ray_gpus_per_task"), config.getoption("ray_max_retries"),
                               config.getoption("regrade"), config.getoption("grade_class_limit"))
        summary = run_class(handins, out, settings, options, _plugin_files(config))
    except (SettingsError, ClassSetupError, HandInsError, StoreError) as error:
        raise pytest.UsageError(str(error)) from None
    except KeyboardInterrupt:
        print(f"interrupted; every hand-in graded so far is kept in {out}: run the same command again to grade "
              f"the rest", file=sys.stderr)
        return 2
    print(summary.line())
    for path in summary.files:
        print(f"wrote {path}")
    return 1 if summary.errors else 0


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config):
    handins = config.getoption("grade_class", None)
    if not handins:
        return None
    return run_from_config(config, handins)
