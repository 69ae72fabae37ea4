"""Unit tests of the grader's pure parts: answer check, ramps, agreement, settings, zip safety, bundles."""

from __future__ import annotations

import math
import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from grader_plugin.checks import Bounds, Check
from grader_plugin.handin.bundle import BundleError, bundle_files, make_bundle
from grader_plugin.handin.submission import SubmissionError, check_zip, open_submission, read_metadata
from grader_plugin.marking.scoring import is_correct, ramp, whole_points
from grader_plugin.settings import SettingsError, resolve_settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "submissions"


# answer check and ramps ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [
        (5000.0, 5000.0, True),
        (5240.0, 5000.0, True),  # 4.8% off
        (5260.0, 5000.0, False),  # 5.2% off
        (0.0004, 0.0, True),  # both round to 0.0
        (0.002, 0.0, False),
        (0.00511, 0.005113636, True),  # rounds to 0.005 both
        (math.nan, 1.0, False),
        (math.inf, 1.0, False),
        ("abc", 1.0, False),
    ],
)
def test_answer_check_follows_the_course_rule(answer, expected, correct):
    assert is_correct(answer, expected) is correct


def test_ramp_is_linear_between_bounds_and_clipped():
    assert ramp(0.5, 0.4, 0.6) == pytest.approx(0.5)
    assert ramp(0.1, 0.4, 0.6) == 0.0
    assert ramp(0.9, 0.4, 0.6) == 1.0
    assert ramp(math.nan, 0.4, 0.6) == 0.0


def test_parts_are_rounded_half_up_to_whole_points():
    assert whole_points(25, 0.5) == 13  # 12.5 -> 13
    assert whole_points(25, 0.49) == 12
    assert whole_points(5, 1.0) == 5


def test_bounds_with_high_not_above_low_are_rejected():
    with pytest.raises(ValueError, match="high"):
        Bounds(0.6, 0.4)


def test_check_with_unknown_entry_point_is_rejected():
    with pytest.raises(ValueError, match="entry_point"):
        Check(name="x", title="x", points=1, score=lambda c, o: None, entry_point="part5")


# settings --------------------------------------------------------------------------------------------
def test_command_line_beats_environment_which_beats_ini():
    cli = {"questions": "7", "parts": None, "profile": None}
    env = {"UNITCONV_GRADE_QUESTIONS": "9", "UNITCONV_GRADE_PARTS": "cot,sft"}
    ini = {"grade_questions": "11", "grade_parts": "rft", "grade_profile": "lenient"}
    settings = resolve_settings("sub", cli, env, ini)
    assert settings.questions == 7
    assert settings.parts == ("cot", "sft")
    assert settings.profile == "lenient"
    assert settings.verbosity == 1  # default


def test_settings_are_frozen():
    settings = resolve_settings("sub", {}, {}, {})
    with pytest.raises(AttributeError):
        settings.questions = 3


def test_every_default_is_the_options_tables_own():
    from dataclasses import fields

    from grader_plugin.settings import OPTIONS, GradeSettings
    from unitconv.course import GRADED_QUESTIONS
    from unitconv.model_loader import EMBEDDED_MODEL
    from unitconv.paths import data_dir

    defaults = {f.name: f.default for f in fields(GradeSettings) if f.init and f.name != "path"}
    assert defaults == {option.dest: option.default for option in OPTIONS}
    settings = resolve_settings("sub", {}, {}, {})
    assert settings.questions == GRADED_QUESTIONS and settings.data_dir == data_dir() and settings.own_data
    assert settings.base_model_name == EMBEDDED_MODEL
    assert resolve_settings("sub", {"base_model": "org/m"}, {}, {}).base_model_name == "org/m"


def test_bad_setting_names_where_it_came_from():
    with pytest.raises(SettingsError, match="environment variable UNITCONV_GRADE_QUESTIONS='zero'"):
        resolve_settings("sub", {}, {"UNITCONV_GRADE_QUESTIONS": "zero"}, {})
    with pytest.raises(SettingsError, match="ini key grade_verbosity='5'.*0, 1 or 2"):
        resolve_settings("sub", {}, {}, {"grade_verbosity": "5"})


# zip safety ------------------------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_with_parent_path_is_rejected(tmp_path):
    archive = _zip(tmp_path / "evil.zip", {"pkg/__init__.py": b"", "pkg/../../escape.py": b"x = 1"})
    with pytest.raises(SubmissionError, match=r"evil.zip: member 'pkg/../../escape.py' points outside"):
        check_zip(archive)


def test_zip_with_absolute_path_is_rejected(tmp_path):
    archive = _zip(tmp_path / "abs.zip", {"/etc/pkg/__init__.py": b""})
    with pytest.raises(SubmissionError, match="absolute path"):
        check_zip(archive)


def test_zip_with_two_top_level_folders_is_rejected(tmp_path):
    archive = _zip(tmp_path / "two.zip", {"a/__init__.py": b"", "b/__init__.py": b""})
    with pytest.raises(SubmissionError, match="exactly one top-level package folder, found a, b"):
        check_zip(archive)


def test_zip_with_a_link_is_rejected(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("pkg/__init__.py", b"")
        link = zipfile.ZipInfo("pkg/data.json")
        link.external_attr = (0o120777 << 16)
        handle.writestr(link, "/etc/passwd")
    with pytest.raises(SubmissionError, match="is a link"):
        check_zip(archive)


def test_zip_past_the_uncompressed_limit_is_rejected(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("pkg/__init__.py", b"")
        handle.writestr("pkg/zeros.bin", bytes(2_000_000))
    assert archive.stat().st_size < 100_000
    with pytest.raises(SubmissionError, match="uncompressed size passes the limit of 1 MB"):
        check_zip(archive, max_bytes=1_000_000)


def test_folder_without_init_is_rejected(tmp_path):
    (tmp_path / "notapackage").mkdir()
    with pytest.raises(SubmissionError, match=r"not a package folder \(no __init__.py\)"):
        open_submission(tmp_path / "notapackage", tmp_path / "work")


def test_folder_is_copied_without_caches(tmp_path):
    folder = tmp_path / "sub"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "__init__.py").write_text('"""x"""\n')
    (folder / "__pycache__" / "x.pyc").write_bytes(b"0")
    submission = open_submission(folder, tmp_path / "work")
    assert submission.package == "sub"
    assert [p.name for p in submission.files()] == ["__init__.py"]
    assert submission.folder != folder


def test_declared_entry_points_are_read_and_made_absolute():
    declared = read_metadata(FIXTURES / "declared_entry_points")
    assert declared == {"cot": "declared_entry_points.prompting:build_model"}


def test_bad_metadata_names_the_file_and_field(tmp_path):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "grader.toml").write_text('[entry-points]\ncot = "no_colon_here"\n')
    with pytest.raises(SubmissionError, match=r"grader.toml: entry-points.cot = 'no_colon_here'; write"):
        read_metadata(folder)
    (folder / "grader.toml").write_text('[entry-points]\npart9 = "pkg.x:y"\n')
    with pytest.raises(SubmissionError, match="entry-points.part9 is not a known entry point"):
        read_metadata(folder)


# bundles ---------------------------------------------------------------------------------------------
def _training_folder(root: Path) -> Path:
    folder = root / "mysub"
    for relative in ("sft_model/checkpoint-100", "runs/Jan01", "__pycache__"):
        (folder / relative).mkdir(parents=True)
    (folder / "__init__.py").write_text('"""sub"""\n')
    (folder / "sft_model" / "adapter_model.safetensors").write_bytes(b"w" * 1000)
    (folder / "sft_model" / "adapter_config.json").write_text("{}")
    (folder / "sft_model" / "checkpoint-100" / "optimizer.pt").write_bytes(b"o" * 1000)
    (folder / "sft_model" / "trainer_state.json").write_text("{}")
    (folder / "runs" / "Jan01" / "events.out.tfevents.1").write_bytes(b"e")
    (folder / "__pycache__" / "a.pyc").write_bytes(b"c")
    return folder


def test_bundle_leaves_out_caches_checkpoints_trainer_state_and_logs(tmp_path):
    folder = _training_folder(tmp_path)
    target, warnings = make_bundle(folder, tmp_path / "out" / "hand_in")
    assert target.name == "hand_in.zip"
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
    assert names == ["mysub/__init__.py", "mysub/sft_model/adapter_config.json",
                     "mysub/sft_model/adapter_model.safetensors"]
    assert warnings == []
    assert check_zip(target) == "mysub"


def test_bundle_above_the_limit_is_refused_listing_the_largest_files(tmp_path):
    folder = _training_folder(tmp_path)
    (folder / "big.bin").write_bytes(os.urandom(20_000))
    with pytest.raises(BundleError, match=r"above the 0.0 MB limit; largest files: big.bin \(0.0 MB\)"):
        make_bundle(folder, tmp_path / "hand_in", max_bytes=10_000)
    assert not (tmp_path / "hand_in.zip").exists()


def test_bundle_refuses_links(tmp_path):
    folder = _training_folder(tmp_path)
    (folder / "link.py").symlink_to(folder / "__init__.py")
    with pytest.raises(BundleError, match="link.py: is a link"):
        bundle_files(folder)


def test_model_map_entries_are_parsed_from_the_command_line_the_environment_and_ini(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    cli = resolve_settings("x", {"model_map": [f"org/a={folder}", "org/b=embedded"]}, env={})
    assert cli.model_map == (("org/a", str(folder.resolve())), ("org/b", "embedded"))
    env = resolve_settings("x", {}, env={"UNITCONV_GRADE_MODEL_MAP": f"org/a={folder}, org/b=embedded"})
    assert env.model_map == cli.model_map
    ini = resolve_settings("x", {}, env={}, ini={"grade_model_map": [f"org/a={folder}"]})
    assert ini.model_map == (("org/a", str(folder.resolve())),)


@pytest.mark.parametrize(("entry", "message"), [
    ("no-equals-sign", "is not HUB_ID=PATH"),
    ("noslash=embedded", "is not HUB_ID=PATH"),
    ("org/a=/no/such/folder", "is not a model folder (no config.json)"),
])
def test_a_bad_model_map_entry_names_the_option_and_the_fix(entry, message):
    with pytest.raises(SettingsError, match=r"option --grade-model-map=.*" + re.escape(message)):
        resolve_settings("x", {"model_map": [entry]}, env={})


SPEED = {"load_seconds": 5.0, "batched_step_seconds": 0.05, "batch": 8, "single_step_seconds": 0.02,
         "prefill_token_seconds": 0.001}


def test_a_part_time_limit_is_sized_to_the_questions_the_run_asks():
    from grader_plugin.builtin.accuracy import CHECKS as ACCURACY_CHECKS
    from grader_plugin.builtin.generation import GENERATE as generate
    from grader_plugin.launch.time_limits import estimated_seconds, part_work

    sft = next(c for c in ACCURACY_CHECKS if c.name == "sft")
    assert part_work(generate, 4).prompts == 4
    assert part_work(generate, 100).prompts == 32
    assert part_work(sft, 4).prompts == 4
    assert part_work(sft, 4, asked=34).prompts == 34  # the detectors' questions are answered too
    assert estimated_seconds(part_work(sft, 4), SPEED) < estimated_seconds(part_work(sft, 100), SPEED)
    assert estimated_seconds(part_work(generate, 4), SPEED) < estimated_seconds(part_work(generate, 32), SPEED)


def test_the_question_count_of_a_part_is_decided_by_its_declared_work():
    from grader_plugin.builtin.accuracy import CHECKS as ACCURACY_CHECKS
    from grader_plugin.builtin.generation import BATCHED, GENERATE
    from unitconv.course import GENERATION_QUESTIONS

    assert [GENERATE.question_count(n) for n in (4, 100)] == [4, GENERATION_QUESTIONS]
    assert BATCHED.question_count(100) == GENERATION_QUESTIONS
    assert {c.question_count(100) for c in ACCURACY_CHECKS} == {100}


def test_one_rule_decides_a_parts_time_limit():
    from grader_plugin.checks import ANSWERING, Work
    from grader_plugin.launch.time_limits import MULTIPLE, declared_work, estimated_seconds, part_timeout
    from grader_plugin.settings import GradeSettings

    speed = {**SPEED, "measured_at": time.time(), "model": "m"}
    score = lambda c, o: None  # noqa: E731
    plain = Check(name="x", title="x", points=1, score=score, timeout_s=7)
    answering = Check(name="y", title="y", points=1, score=score, timeout_s=7, answers_questions=True)
    declared = Check(name="z", title="z", points=1, score=score, timeout_s=7,
                     work=Work(prompt_tokens=10, new_tokens=5, batched=False, prompts=3))
    settings = GradeSettings(path=Path("x"), questions=10)
    assert declared_work(plain) is None and declared_work(answering) == ANSWERING  # third-party defaults
    assert part_timeout(settings, plain, speed)[0] == 7
    assert part_timeout(settings, declared)[0] == 7  # speed not measured: the check's own
    expected = max(7, MULTIPLE * estimated_seconds(Work(10, 5, False, prompts=3), speed))
    assert part_timeout(settings, declared, speed)[0] == pytest.approx(expected)
    assert part_timeout(settings, answering, speed, asked=40)[0] > part_timeout(settings, answering, speed)[0]
    fixed = GradeSettings(path=Path("x"), timeout=3.0)
    assert part_timeout(fixed, declared, speed) == (3.0, "time limit 3 s (--grade-timeout)")


def test_speed_figures_taken_on_a_busy_machine_are_measured_again_soon(tmp_path, monkeypatch):
    """A figure taken beside another job is kept ten minutes, a quiet machine's a day."""
    from types import SimpleNamespace

    from grader_plugin.launch import time_limits
    from grader_plugin.results import WorkerOutcome
    from grader_plugin.settings import GradeSettings

    monkeypatch.setenv("UNITCONV_CACHE", str(tmp_path))
    taken: list[dict] = []
    spreads = iter([3.0, 1.1, 1.1])

    def run_worker(task, payload, timeout, label):
        assert payload["repeats"] == time_limits.SPEED_REPEATS
        taken.append(payload)
        return WorkerOutcome(status="ok", data={"load_seconds": 5.0, "batched_step_seconds": 0.05, "batch": 8,
                                                "single_step_seconds": 0.02, "prefill_token_seconds": 0.001,
                                                "spread": next(spreads)})

    def context():
        return SimpleNamespace(settings=GradeSettings(path=Path("x"), base_model="some/model", device="cpu"), cache={},
                               model_folder=lambda name: None, run_worker=run_worker,
                               public_questions=lambda n: [SimpleNamespace(text=f"q{i}") for i in range(n)])

    monkeypatch.setattr(time_limits, "_cpu_seconds", lambda: (100.0, 10.0))  # nothing else ran meanwhile
    busy = time_limits.measured_speed(context())
    assert time_limits.keep_seconds(busy) == time_limits.BUSY_KEEP_S
    assert time_limits.measured_speed(context()) == busy and len(taken) == 1  # still fresh
    now = time.time()
    monkeypatch.setattr(time_limits.time, "time", lambda: now + time_limits.BUSY_KEEP_S + 1)
    quiet = time_limits.measured_speed(context())
    assert len(taken) == 2 and time_limits.keep_seconds(quiet) == time_limits.KEEP_S
    monkeypatch.setattr(time_limits.time, "time", lambda: now + time_limits.KEEP_S / 2)
    assert time_limits.measured_speed(context()) == quiet and len(taken) == 2
    assert time_limits.keep_seconds({**quiet, "others_per_cpu": 0.9}) == time_limits.BUSY_KEEP_S


def test_only_other_processes_cpu_time_makes_the_machine_busy(monkeypatch):
    """The grader's own CPU time and its worker's are taken out; what is left over the wall time is others'."""
    from grader_plugin.launch import time_limits

    monkeypatch.setattr(time_limits.os, "cpu_count", lambda: 2)
    assert time_limits.others_share((100.0, 10.0), (120.0, 11.0), 10.0, worker_cpu=19.0) == 0.0  # all the grader's
    assert time_limits.others_share((100.0, 10.0), (135.0, 11.0), 10.0, worker_cpu=19.0) == pytest.approx(0.75)
    monkeypatch.setattr(time_limits.os, "getloadavg", lambda: (1.6, 1.0, 1.0))
    assert time_limits.others_share(None, (1.0, 1.0), 10.0) == pytest.approx(0.8)  # no /proc/stat: load average
    measured = time_limits._cpu_seconds()
    assert measured is None or (measured[0] > 0 and measured[1] > 0)


def test_the_speed_worker_reports_its_own_cpu_time(tiny_model_dir):
    from grader_plugin.worker.trusted_tasks import measure_speed

    figures = measure_speed(None, {"model": str(tiny_model_dir), "device": "cpu", "prompts": ["How many cm in 2 m?"],
                                   "steps": 2, "prefill_tokens": 20, "repeats": 1})
    assert 0 < figures["cpu_seconds"]


def test_speed_measurement_keeps_the_fastest_of_its_repeats(tiny_model_dir):
    from grader_plugin.worker.trusted_tasks import measure_speed

    payload = {"model": str(tiny_model_dir), "device": "cpu", "prompts": ["How many cm in 2 m?", "Convert 3 kg"],
               "steps": 4, "prefill_tokens": 40, "repeats": 3}
    figures = measure_speed(None, payload)
    assert figures["spread"] >= 1.0
    assert 0 < figures["batched_step_seconds"] * payload["steps"] <= figures["worker_seconds"]
    assert figures["single_step_seconds"] > 0 and figures["prefill_token_seconds"] > 0
