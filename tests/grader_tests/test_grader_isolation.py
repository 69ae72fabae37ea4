"""Grading the fixture submissions in real worker processes: each failure costs only its own part."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from grader_plugin.manager import get_plugin_manager
from grader_plugin.session import GradingSession, grade_once
from grader_plugin.settings import GradeSettings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "submissions"


def grade(path, parts, **overrides):
    """Grade ``parts`` of the submission at ``path`` with the built-in plugins; results by part name."""
    settings = GradeSettings(path=Path(path), parts=tuple(parts), questions=4, **overrides)
    report = grade_once(settings, get_plugin_manager(load_entry_points=False))
    return report, {part.name: part for part in report.parts}


@pytest.mark.workers
def test_submission_that_crashes_on_import_scores_zero_with_the_error_and_its_line():
    _, results = grade(FIXTURES / "crash_on_import", ["cot", "sft", "bundle_size"])
    for part in ("cot", "sft"):
        assert results[part].points == 0
        assert results[part].reason == ("RuntimeError: deliberate failure while importing the package "
                                        "(crash_on_import/__init__.py:3)")
    assert results["bundle_size"].full_marks


@pytest.mark.workers
def test_submission_that_hangs_is_stopped_at_the_time_limit_and_other_parts_are_graded():
    _, results = grade(FIXTURES / "hangs", ["cot", "sft", "bundle_size"], timeout=3)
    assert results["cot"].points == 0
    assert results["cot"].reason == "did not finish within the 3 s time limit"
    assert results["sft"].reason == "no entry point found; looked for hangs:load_sft, hangs.sft:load"
    assert results["bundle_size"].full_marks


@pytest.mark.workers
def test_os_exit_and_sys_exit_each_score_zero_with_a_reason():
    _, results = grade(FIXTURES / "exits", ["cot", "sft"])
    assert results["cot"].points == 0
    assert "exited with code 3 before reporting a result" in results["cot"].reason
    assert results["sft"].reason == "called sys.exit(2) (exits/__init__.py:12)"


@pytest.mark.workers
def test_output_flood_is_cut_off_and_scores_zero():
    _, results = grade(FIXTURES / "flood", ["cot"], output_kb=100)
    assert results["cot"].points == 0
    assert results["cot"].reason == "printed more than 100 kB of output"
    assert len(results["cot"].output) < 10_000


@pytest.mark.workers
def test_memory_exhaustion_scores_zero_with_the_limit_named():
    _, results = grade(FIXTURES / "memory_hog", ["cot"], memory_mb=1024)
    assert results["cot"].points == 0
    assert results["cot"].reason.startswith("ran out of memory (limit 1024 MB): MemoryError")


@pytest.mark.workers
def test_missing_part_names_what_was_looked_for_and_the_present_part_is_graded(tiny_model_dir):
    _, results = grade(FIXTURES / "missing_part", ["sft", "rft", "cot"], base_model=str(tiny_model_dir))
    assert results["sft"].reason == (
        "no entry point found; looked for missing_part:load_sft, missing_part.sft:load")
    assert results["rft"].reason == (
        "no entry point found; looked for missing_part:load_rft, missing_part.rft:load")
    cot = results["cot"]
    assert cot.ok and cot.value == 0.0  # graded: a random tiny model answers nothing right
    assert cot.reason.startswith("accuracy 0.00 below 0.4")
    assert "4 of 4 outputs had no <answer>...</answer> tag" in cot.details


@pytest.mark.workers
def test_entry_point_declared_in_grader_toml_is_used(tiny_model_dir):
    _, results = grade(FIXTURES / "declared_entry_points", ["cot"], base_model=str(tiny_model_dir))
    assert results["cot"].ok
    assert "model: 3.2M parameters (declared_entry_points.prompting:build_model)" in results["cot"].details


@pytest.mark.workers
def test_submission_called_solution_is_loaded_from_its_own_folder_not_the_installed_package(tmp_path):
    folder = tmp_path / "solution"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        '"""A hand-in whose package has the project\'s name."""\n\n'
        "def load_cot():\n    raise RuntimeError('this is the submission of ' + __file__.split('/')[-3])\n")
    _, results = grade(folder, ["cot"])
    assert results["cot"].reason.startswith("RuntimeError: this is the submission of submission")


@pytest.mark.workers
def test_oversized_zip_fails_the_bundle_rule_and_leaves_other_parts_alone(tmp_path):
    archive = tmp_path / "oversized.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted((FIXTURES / "missing_part").glob("*.py")):
            handle.write(path, f"missing_part/{path.name}")
        handle.writestr("missing_part/old_checkpoint.bin", os.urandom(51_000_000))
    _, results = grade(archive, ["bundle_size", "sft"])
    bundle = results["bundle_size"]
    assert not bundle.full_marks
    assert bundle.reason.startswith("bundle is 51.0 MB, above the course's 50.0 MB")
    assert results["sft"].reason.startswith("no entry point found")


def test_zip_with_parent_path_is_refused_before_any_code_runs(tmp_path):
    archive = tmp_path / "traversal.zip"
    marker = tmp_path / "ran.txt"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("pkg/__init__.py", f"open({str(marker)!r}, 'w').write('ran')\n"
                                           "def load_cot():\n    open('x', 'w')\n")
        handle.writestr("pkg/../../evil.py", "print('escaped')")
    report, results = grade(archive, ["cot", "bundle_size"])
    assert "points outside the archive" in report.refused
    assert all(r.reason.startswith("not graded: submission refused") for r in results.values())
    assert not marker.exists()
    assert not (tmp_path.parent / "evil.py").exists()


def test_workers_receive_question_texts_only(tmp_path):
    folder = tmp_path / "pkg"
    shutil.copytree(FIXTURES / "exits", folder)
    settings = GradeSettings(path=folder, questions=5)
    session = GradingSession(settings, get_plugin_manager(load_entry_points=False))
    session.open()
    context = session.context(session.checks["cot"], None)
    payload = session.checks["cot"].payload(context)
    asked = context.asked_questions()
    session.close()
    assert payload == {"questions": [q.text for q in asked]}
    assert all(isinstance(text, str) for text in payload["questions"])
    assert {q.text for q in context.public_questions()} <= set(payload["questions"])


def test_unknown_part_is_answered_with_did_you_mean():
    from grader_plugin.session import GradingSetupError

    with pytest.raises(GradingSetupError, match=r"'cots' is not a part \(did you mean 'cot'\?\)"):
        grade(FIXTURES / "exits", ["cots"])
