"""The pytest plugin: ``pytest --grade PATH`` grades a submission, one pytest item per part.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest run where the
project is installed.  Without ``--grade`` it only adds its options: no collection, no report,
nothing imported beyond :mod:`grader_plugin.settings` (no torch).  With ``--grade`` it replaces
collection by one collector for the submission whose items are the parts, so ``-k``, ``-x``,
``-v`` and ``--junitxml`` behave as usual; a part passes with full marks and fails otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader_plugin.settings import OPTIONS, SettingsError, settings_from_pytest

GRADE_HELP = "grade the submission at PATH (a package folder or a zip holding one) instead of running tests"


class _State:
    """Run state kept in ``config.stash``: the grading session and whether the report was written."""

    def __init__(self, session, settings):
        self.session, self.settings = session, settings
        self.reported = False


STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grade", "grading a unit-conversion submission (grader_plugin)")
    group.addoption("--grade", dest="grade_path", metavar="PATH", default=None, help=GRADE_HELP)
    for option in OPTIONS:
        group.addoption(
            option.flag,
            dest=f"grade_{option.dest}",
            metavar=option.metavar,
            default=None,
            action="append" if option.repeatable else "store",
            help=f"{option.help} [env {option.env}, ini {option.ini}]",
        )
        parser.addini(option.ini, help=option.help, default="", type="linelist" if option.repeatable else None)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("grade_path", None):
        return
    from grader_plugin.manager import get_plugin_manager, has_grader_hooks
    from grader_plugin.session import GradingSession, GradingSetupError

    try:
        settings = settings_from_pytest(config, config.getoption("grade_path"))
        conftests = [p for p in config.pluginmanager.get_plugins() if has_grader_hooks(p)]
        session = GradingSession(settings, get_plugin_manager(conftests))
    except (SettingsError, GradingSetupError) as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[STATE] = _State(session, settings)


def _state(config: pytest.Config) -> _State | None:
    return config.stash.get(STATE, None)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """What grades this run: the grader, its plugins, profile, base model, device and data."""
    state = _state(config)
    if state is None:
        return None
    from grader_plugin.provenance import header_lines, provenance

    workers = state.session.workers
    return header_lines(provenance(state.session.pm, state.settings, workers.served, workers.sandbox))


class PartNotFull(Exception):
    """A part earned less than full marks (or broke a rule); carries its result."""

    def __init__(self, result):
        super().__init__(result.reason)
        self.result = result


class GradePart(pytest.Item):
    """One graded part."""

    def __init__(self, *, check, **kwargs):
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        result = self.config.stash[STATE].session.grade(self.check)
        if not result.full_marks:
            raise PartNotFull(result)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, PartNotFull):
            result = excinfo.value.result
            lines = [
                f"{result.name}: {result.points:g}/{result.max_points} points: "
                f"{result.reason or 'rule broken'}"
            ]
            return "\n".join(lines + [f"  {d}" for d in result.details])
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"grade {self.check.name}"


class SubmissionCollector(pytest.Collector):
    """The submission; its children are the selected parts.  Refused hand-ins fail to collect."""

    def collect(self):
        session = self.config.stash[STATE].session
        if session.refused:
            from grader_plugin.handin.submission import SubmissionError

            raise SubmissionError(session.refused)
        for check in session.selected:
            yield GradePart.from_parent(self, name=check.name, check=check)

    def repr_failure(self, excinfo):
        from grader_plugin.handin.submission import SubmissionError

        if isinstance(excinfo.value, SubmissionError):
            return f"submission refused: {excinfo.value}"
        return super().repr_failure(excinfo)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session):
    state = _state(session.config)
    if state is None:
        return None
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        from grader_plugin.progress import ProgressDisplay

        capture = session.config.pluginmanager.get_plugin("capturemanager")
        state.session.display = ProgressDisplay.for_terminal(reporter, session.config.get_verbosity(), capture)
    state.session.open()
    path = Path(state.settings.path).resolve()
    collector = SubmissionCollector.from_parent(session, name=path.name, path=path, nodeid=path.name)
    ihook = session.config.hook
    ihook.pytest_collectstart(collector=collector)
    report = ihook.pytest_make_collect_report(collector=collector)
    ihook.pytest_collectreport(report=report)
    items = list(report.result) if report.passed else []
    ihook.pytest_collection_modifyitems(session=session, config=session.config, items=items)
    session.items = items
    session.testscollected = len(items)
    ihook.pytest_collection_finish(session=session)
    return True


def pytest_report_teststatus(report, config):
    """No dot per part without ``-v``: each part has its own progress line (``-v`` keeps PASSED/FAILED)."""
    if _state(config) is None or report.when != "call" or config.get_verbosity() > 0:
        return None
    return report.outcome, "", report.outcome.upper()


def _write_reports(config: pytest.Config, write_line) -> None:
    state = _state(config)
    if state is None or state.reported:
        return
    state.reported = True
    report = state.session.report()
    state.session.pm.hook.grader_write_report(report=report, settings=state.settings, write_line=write_line)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if _state(config) is None:
        return
    terminalreporter.section("grade")
    _write_reports(config, terminalreporter.write_line)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = _state(config)
    if state is None:
        return
    _write_reports(config, lambda line: None)  # no terminal (-p no:terminal): still write the files
    state.session.close()
