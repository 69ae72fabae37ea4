"""The check author's API: registering, naming tasks, the one door to a worker, what graded a run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from grader_plugin import hookimpl
from grader_plugin.builtin.profiles import COURSE
from grader_plugin.checks import Check, Profile, task_name
from grader_plugin.manager import DEFAULT_PLUGINS, get_plugin_manager
from grader_plugin.marking.scoring import is_correct
from grader_plugin.results import PartResult
from grader_plugin.session import GradingSession, GradingSetupError
from grader_plugin.settings import GradeSettings
from grader_plugin.worker.handin_tasks import answer_questions

pytest_plugins = ["pytester"]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "submissions"


def _score(context, outcome):
    return PartResult.for_check(context.check, context.bounds)


class _ChecksPlugin:
    def __init__(self, *items):
        self.items = items

    @hookimpl
    def grader_register_checks(self, register):
        for item in self.items:
            register(item)


class _ProfilesPlugin:
    @hookimpl
    def grader_register_profiles(self, register):
        register(Profile("course", "a second profile under the built-in's name", bounds=COURSE.bounds))


def _session(*plugins, **settings):
    """A session with ``plugins`` registered as third-party plugins (before the built-ins, as installed ones are)."""
    pm = get_plugin_manager(plugins, load_entry_points=False)
    return GradingSession(GradeSettings(path=FIXTURES / "exits", **settings), pm)


def test_a_check_registered_twice_is_an_error_naming_both_plugins():
    duplicate = Check(name="cot", title="another cot", points=1, score=_score)
    with pytest.raises(GradingSetupError, match=r"two plugins register a check named 'cot': "
                                                r"grader_plugin.builtin.accuracy and _ChecksPlugin; rename one"):
        _session(_ChecksPlugin(duplicate))


def test_a_profile_registered_twice_is_an_error_naming_both_plugins():
    with pytest.raises(GradingSetupError, match=r"two plugins register a profile named 'course': "
                                                r"grader_plugin.builtin.profiles and _ProfilesPlugin"):
        _session(_ProfilesPlugin())


def test_registering_something_else_than_a_check_names_the_plugin():
    with pytest.raises(GradingSetupError, match=r"plugin _ChecksPlugin: register\(\) takes a "
                                                r"grader_plugin.checks.Check, got dict"):
        _session(_ChecksPlugin({"name": "x"}))


def test_a_task_given_as_a_function_is_recorded_by_its_import_name():
    check = Check(name="x", title="x", points=1, score=_score, entry_point="cot", task=answer_questions)
    assert check.task == "grader_plugin.worker.handin_tasks:answer_questions"


@pytest.mark.parametrize("task", [lambda model, payload: None, "no_colon", "a.b:c.d"])
def test_a_task_the_worker_cannot_import_by_name_is_refused(task):
    with pytest.raises(ValueError, match="task"):
        Check(name="x", title="x", points=1, score=_score, task=task)


def test_a_nested_function_is_refused_with_the_fix():
    def inner(model, payload):
        return None

    with pytest.raises(ValueError, match="define it at the top level of a module"):
        task_name(inner)


class _ProbingDetector:
    """A third-party detector that starts a worker of its own through the context's door."""

    seen = []

    @hookimpl
    def grader_scan_part(self, check, outcome, context):
        probe = context.run_worker(answer_questions, {"questions": ["How many m in 1 km?"]}, entry_point="cot")
        self.seen.append(probe)
        return []


@pytest.mark.workers
def test_a_third_party_detector_starts_a_worker_through_the_context():
    session = _session(_ProbingDetector(), parts=("sft",), questions=2)
    session.open()
    try:
        session.grade(session.checks["sft"])
    finally:
        session.close()
    [probe] = _ProbingDetector.seen
    assert probe.status == "exited" and "exited with code 3" in probe.reason  # exits' load_cot calls os._exit(3)


def test_the_context_refuses_an_unknown_entry_point():
    session = _session(parts=("cot",))
    context = session.context(session.checks["cot"], None)
    with pytest.raises(ValueError, match="entry_point must be one of"):
        context.run_worker(answer_questions, {}, entry_point="part5")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(5000, 5000), (5249, 5000), (5251, 5000), (4751, 5000), (4749, 5000), (0.0004, 0.0), (0.002, 0.0),
     (0.0, 0.0001), (math.nan, 1.0), (math.inf, 1.0), (1.0, math.inf), ("12", 12.0), (None, 1.0), (-3, 3)],
)
def test_the_grader_and_the_reference_check_answers_alike(answer, expected):
    from solution.data import is_answer_valid

    assert is_correct(answer, expected) == is_answer_valid(answer, expected)


@pytest.mark.workers
def test_the_report_header_and_the_json_say_what_graded_the_run(pytester):
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "--grade", str(FIXTURES / "exits"), "--grade-parts", "bundle_size", "--grade-json", str(out),
        "-p", "no:cacheprovider",
    )
    result.stdout.fnmatch_lines([
        f"grader: unitconv-grader *; {len(DEFAULT_PLUGINS)} built-in plugins; other plugins: none",
        "grading with: profile course; base model embedded SmolLM2-135M-Instruct; device auto*; data */data",
        "hub model HuggingFaceTB/SmolLM2-360M-Instruct: served by the embedded SmolLM2-135M-Instruct*",
    ])
    graded_by = json.loads(out.read_text())["extra_data"]["graded_by"]
    assert graded_by["profile"] == "course" and graded_by["grader"].startswith("unitconv-grader ")


class _WrappingDetector:
    """A detector written as a hook wrapper, which the grader cannot call plugin by plugin."""

    @hookimpl(wrapper=True)
    def grader_scan_part(self, check, outcome, context):
        return (yield)


def test_a_hook_wrapper_leaves_its_part_could_not_be_checked_and_the_part_in_the_report():
    session = _session(_WrappingDetector(), parts=("bundle_size",))
    session.open()
    try:
        result = session.grade(session.checks["bundle_size"])
        report = session.report()
    finally:
        session.close()
    [refused] = [f for f in result.findings if f.detector == "grader"]
    assert refused.severity == "unchecked" and "may not be a hook wrapper" in refused.message
    assert [p.name for p in report.parts] == ["bundle_size"] and report.not_graded == []


def test_the_report_of_a_refused_hand_in_scores_each_part_once_and_lists_none_as_not_graded(tmp_path):
    session = GradingSession(GradeSettings(path=tmp_path / "missing", parts=("cot", "bundle_size")),
                             get_plugin_manager(load_entry_points=False))
    session.open()
    try:
        first, second = session.report(), session.report()
    finally:
        session.close()
    assert session.results == {}  # reporting grades nothing
    assert [p.name for p in first.parts] == ["cot", "bundle_size"] and first.not_graded == []
    assert all(p.points == 0 and p.reason.startswith("not graded: submission refused") for p in first.parts)
    assert [p.reason for p in second.parts] == [p.reason for p in first.parts]
