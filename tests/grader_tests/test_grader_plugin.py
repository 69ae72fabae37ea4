"""The pytest plugin seen from outside: options, items, summary table, JSON, JUnit, plugins, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import pytest

from unitconv.paths import data_dir

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "submissions"
EXITS = str(FIXTURES / "exits")


@pytest.fixture(scope="session")
def example_plugin_dir(tmp_path_factory):
    """The example third-party plugin, pip-installed into a private folder (the shared venv stays clean)."""
    target = tmp_path_factory.mktemp("example-plugin")
    build = tmp_path_factory.mktemp("example-plugin-source") / "example_plugin"
    import shutil

    shutil.copytree(ROOT / "fixtures" / "example_plugin", build)  # pip builds in place: keep fixtures/ clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(build),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "unitconv_example_plugin").is_dir()
    return target


def test_plain_pytest_run_is_untouched_by_the_plugin(pytester):
    pytester.makepyfile("def test_ok():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*= grade =*")
    result.stdout.no_fnmatch_line("*total:*")


def test_importing_the_plugin_does_not_import_torch():
    code = "import sys, grader_plugin.plugin; print('torch' in sys.modules, 'transformers' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["False", "False"]


def test_options_and_ini_keys_are_listed_in_help(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "*--grade=PATH*",
            "*--grade-parts=PARTS*",
            "*--grade-json=FILE*",
            "*grade_base_model (string)*",
            "*grade_questions (string)*",
        ]
    )


@pytest.mark.workers
def test_each_part_is_an_item_that_k_selects_and_v_names(pytester):
    result = pytester.runpytest_subprocess(
        "--grade",
        EXITS,
        "--grade-parts",
        "cot,sft,bundle_size",
        "-v",
        "-k",
        "sft or bundle",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(failed=1, passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*exits::sft FAILED*", "*exits::bundle_size PASSED*"])


@pytest.mark.workers
def test_summary_table_and_gradescope_json_cover_every_part(pytester):
    out = pytester.path / "results" / "results.json"
    result = pytester.runpytest_subprocess(
        "--grade",
        EXITS,
        "--grade-parts",
        "cot,sft,bundle_size",
        "--grade-json",
        str(out),
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= grade =*",
            "part*points*measured*bounds*time*reason",
            "cot*0/25*-*0-0.4*FAIL the worker exited with code 3*",
            "sft*0/25*FAIL called sys.exit(2) (exits/__init__.py:12)",
            "bundle_size*0/0*MB*<= 50*",
            "total: 0 / 50    extra credit: 0 / 0    profile: course",
            "Integrity:",
            "*WARN all parts: static scan: exit: calls os._exit()*exits/__init__.py:8*",
        ]
    )
    data = json.loads(out.read_text())
    assert set(data) >= {"score", "execution_time", "output", "tests"}
    assert data["score"] == 0
    assert [(t["name"], t["status"], t["max_score"]) for t in data["tests"]] == [
        ("CoT accuracy", "failed", 25),
        ("SFT accuracy", "failed", 25),
        ("bundle size", "passed", 0),
    ]
    assert all(
        set(t) == {"name", "score", "max_score", "status", "output", "visibility"} for t in data["tests"]
    )
    assert data["tests"][1]["output"].startswith("called sys.exit(2)")
    assert not list(out.parent.glob(".results.json.*"))  # no staging file left behind


@pytest.mark.workers
def test_junit_xml_has_one_testcase_per_part_with_the_reason(pytester):
    junit = pytester.path / "junit.xml"
    pytester.runpytest_subprocess(
        "--grade", EXITS, "--grade-parts", "cot,bundle_size", f"--junitxml={junit}", "-p", "no:cacheprovider"
    )
    cases = {c.get("name"): c for c in ElementTree.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"cot", "bundle_size"}
    failure = cases["cot"].find("failure")
    assert failure is not None and "exited with code 3" in failure.get("message")
    assert cases["bundle_size"].find("failure") is None


@pytest.mark.workers
def test_x_stops_after_the_first_part_short_of_full_marks_and_the_report_says_what_was_not_graded(pytester):
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "--grade", EXITS, "--grade-parts", "cot,sft", "-x", "--grade-json", str(out), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["not graded in this run: sft"])
    tests = json.loads(out.read_text())["tests"]
    assert [(t["name"], t["output"]) for t in tests][1] == ("sft", "not graded in this run")


def test_ini_sets_parts_environment_overrides_ini_and_command_line_overrides_both(pytester, monkeypatch):
    pytester.makeini("[pytest]\ngrade_parts = sft\n")
    # --grade=PATH in one word: pytest looks for ini files near path-like arguments, so a separate PATH
    # argument outside this folder would make it read the submission's nearest ini instead.
    args = (f"--grade={EXITS}", "--collect-only", "-q", "-p", "no:cacheprovider")
    pytester.runpytest_subprocess(*args).stdout.fnmatch_lines(["exits::sft", "1 test collected*"])
    monkeypatch.setenv("UNITCONV_GRADE_PARTS", "cot")
    pytester.runpytest_subprocess(*args).stdout.fnmatch_lines(["exits::cot", "1 test collected*"])
    result = pytester.runpytest_subprocess(*args, "--grade-parts", "bundle_size")
    result.stdout.fnmatch_lines(["exits::bundle_size", "1 test collected*"])


def test_bad_option_value_is_a_usage_error_naming_the_option(pytester):
    result = pytester.runpytest_subprocess("--grade", EXITS, "--grade-questions", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*option --grade-questions='0': must be at least 1*"])


def test_unknown_profile_is_a_usage_error_with_did_you_mean(pytester):
    result = pytester.runpytest_subprocess("--grade", EXITS, "--grade-profile", "cours")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'cours' is not a profile (did you mean 'course'?)*"])


def test_refused_zip_is_a_collection_error_and_the_json_is_still_written(pytester):
    archive = pytester.path / "two.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a/__init__.py", "")
        handle.writestr("b/__init__.py", "")
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "--grade", str(archive), "--grade-parts", "cot", "--grade-json", str(out), "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines(
        ["*submission refused: *two.zip: expected exactly one top-level package folder*"]
    )
    data = json.loads(out.read_text())
    assert data["score"] == 0
    assert data["tests"][0]["output"].startswith("not graded: submission refused")


def test_installed_third_party_plugin_adds_a_check_a_profile_and_a_detector(
    pytester, monkeypatch, example_plugin_dir
):
    monkeypatch.setenv("PYTHONPATH", str(example_plugin_dir))
    result = pytester.runpytest_subprocess(
        "--grade",
        str(FIXTURES / "missing_part"),
        "--grade-parts",
        "docstrings,sft",
        "--grade-profile",
        "lenient",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "docstrings*2/2*",
            "sft*0/25*no entry point found; looked for missing_part:load_sft, missing_part.sft:load",
            "total: 2 / 27*profile: lenient",
            "*WARN all parts: todo-comments: TODO left in the code [[]__init__.py:10]",
        ]
    )


def test_conftest_plugin_registers_a_check_like_any_other_plugin(pytester):
    pytester.makeconftest("""
from grader_plugin import hookimpl
from grader_plugin.checks import Check
from grader_plugin.results import PartResult


def _score(context, outcome):
    count = len(context.submission.files())
    points = 1 if count < 10 else 0
    return PartResult("file_count", "file count", 1, points=points, measure="files", value=count)


@hookimpl
def grader_register_checks(register):
    register(Check(name="file_count", title="file count", points=1, score=_score))
""")
    result = pytester.runpytest_subprocess(
        "--grade", EXITS, "--grade-parts", "file_count", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["file_count*1/1*files 1.00*"])


@pytest.mark.workers
def test_command_line_module_grades_a_zip_it_bundled(tmp_path):
    bundled = subprocess.run(
        [sys.executable, "-m", "grader_plugin", "bundle", EXITS, str(tmp_path / "hand_in")],
        capture_output=True,
        text=True,
    )
    assert bundled.returncode == 0, bundled.stderr
    out = tmp_path / "results.json"
    graded = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader_plugin",
            "grade",
            str(tmp_path / "hand_in.zip"),
            "--grade-parts",
            "sft",
            "--grade-json",
            str(out),
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert graded.returncode == 1
    assert "sft" in graded.stdout and "called sys.exit(2) (homework/__init__.py:12)" in graded.stdout
    assert json.loads(out.read_text())["tests"][0]["status"] == "failed"


@pytest.mark.workers
def test_honest_tiny_submission_earns_the_generation_points_and_is_graded_on_accuracy(
    tmp_path, tiny_model_dir
):
    out = tmp_path / "results.json"
    graded = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader_plugin",
            "grade",
            str(FIXTURES / "honest_tiny"),
            "--grade-parts",
            "generate,batched_generate,cot",
            "--grade-questions",
            "4",
            "--grade-base-model",
            str(tiny_model_dir),
            "--grade-json",
            str(out),
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    tests = {t["name"]: t for t in json.loads(out.read_text())["tests"]}
    assert tests["generate"]["score"] == 10 and tests["generate"]["status"] == "passed", graded.stdout
    assert tests["batched generate"]["score"] == 15
    assert tests["CoT accuracy"]["score"] == 0
    assert "4 of 4 outputs had no <answer>...</answer> tag" in tests["CoT accuracy"]["output"]
    shown = tests["CoT accuracy"]["output"]
    public = json.loads((data_dir() / "valid.json").read_text())[:4]
    assert any(f"{q!r}:" in shown and f"expected {e:g}" in shown for q, e in public), shown  # expected values shown
