"""What a student sees while grading: progress counts from the worker, the questions used, what to do next."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader_plugin.builtin.advice import PREFIX
from grader_plugin.launch.isolation import run_task
from grader_plugin.manager import get_plugin_manager
from grader_plugin.progress import ProgressDisplay
from grader_plugin.provenance import data_lines
from grader_plugin.session import GradingSession
from grader_plugin.settings import GradeSettings
from grader_plugin.worker.handin_tasks import generate_each
from unitconv.paths import data_dir

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "fixtures" / "submissions"


@pytest.mark.workers
def test_progress_counts_arrive_in_order_from_the_worker(tiny_model_dir):
    seen = []
    outcome = run_task("grader_plugin.worker.handin_tasks:generate_each", {"prompts": ["a", "b", "c"]},
                       package="honest_tiny", parent=SUBMISSIONS, candidates=["honest_tiny:BaseLLM"],
                       timeout=300, memory_mb=8192, env={"UNITCONV_BASE_MODEL": str(tiny_model_dir)},
                       progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert outcome.ok, outcome.reason
    assert seen[0] == ("loading the model", 0, 0)
    assert [done for phase, done, total in seen if phase == "generating"] == [1, 2, 3]
    assert generate_each.__name__ == "generate_each"


@pytest.mark.workers
def test_a_hand_in_printing_fake_progress_changes_nothing_the_student_sees(tmp_path):
    package = tmp_path / "fake_progress"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os, sys\n"
        "def load_cot():\n"
        "    print('  cot                25/25      full marks: accuracy 1.00')\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, b'\\x02\\x05\\x00\\x00\\x00\\x05\\x00\\x00\\x00' + b'cot 25/25 full marks\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    raise RuntimeError('no model here')\n")
    lines = []
    session = GradingSession(GradeSettings(path=package, parts=("cot",), questions=2),
                             get_plugin_manager(load_entry_points=False))
    session.display = ProgressDisplay(lines.append)
    session.open()
    try:
        result = session.grade(session.checks["cot"])
    finally:
        session.close()
    assert result.points == 0 and "RuntimeError: no model here" in result.reason
    assert _advice(result) == (PREFIX + "run this part on your machine (python -m fake_progress.__init__) and fix "
                               "the error at fake_progress/__init__.py:9")  # the worker's structured place
    assert not any("full marks" in line for line in lines)
    assert lines[-1].startswith("  cot") and "0/25" in lines[-1]


def test_the_header_says_which_questions_and_where_a_course_checkouts_own_are(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "homework").mkdir(parents=True)
    (checkout / "data").mkdir()
    (checkout / "data" / "valid.json").write_text("[]")
    lines = data_lines(GradeSettings(path=checkout / "homework", data_dir=data_dir()))
    assert lines[0].startswith("questions: this project's own validation split")
    assert lines[1] == (f"the course's questions are beside this hand-in ({checkout / 'data' / 'valid.json'}); "
                        f"this run does not use them: grade on them with --grade-data {checkout / 'data'}")
    official = data_lines(GradeSettings(path=checkout / "homework", data_dir=checkout / "data"))
    assert official == [f"questions: the given validation split ({checkout / 'data' / 'valid.json'}; "
                        f"--grade-data DIR grades on an official copy)"]


def _advice(result) -> str:
    return next(d for d in result.details if d.startswith(PREFIX))


@pytest.mark.workers
def test_each_part_short_of_full_marks_says_what_to_do_next(tiny_model_dir):
    settings = GradeSettings(path=SUBMISSIONS / "missing_part", parts=("cot", "sft"), questions=2,
                             base_model=str(tiny_model_dir))
    session = GradingSession(settings, get_plugin_manager(load_entry_points=False))
    session.open()
    try:
        cot, sft = (session.grade(session.checks[name]) for name in ("cot", "sft"))
    finally:
        session.close()
    assert _advice(sft).startswith(PREFIX + "export the part's loader from your package's __init__.py")
    assert _advice(cot).startswith(PREFIX + "no <answer> tag in 2 of 2 outputs: see the first three raw outputs")
    assert os.linesep not in _advice(cot)
    assert {"hand-in: start and imports", "hand-in: loading the model", "hand-in: task"} <= set(cot.phases)
    assert 0 < sum(cot.phases.values()) <= cot.seconds


def test_phase_times_add_up_per_part_and_a_phase_lasts_until_the_next_mark():
    from grader_plugin.launch.phase_times import START, PhaseClock

    now = [0.0]
    clock = PhaseClock(clock=lambda: now[0])
    clock.mark("cot", "hand-in", START)
    now[0] = 6.0
    clock.mark("cot", "hand-in", "loading the model")
    now[0] = 7.5
    clock.mark("cot", "hand-in", "answering")
    now[0] = 9.0
    clock.mark("cot", "hand-in", "answering")
    now[0] = 20.0
    clock.end("cot")
    now[0] = 30.0
    clock.mark("cot", "replay", START)
    now[0] = 36.0
    clock.end("cot")
    assert clock.pop("cot") == {"hand-in: start and imports": 6.0, "hand-in: loading the model": 1.5,
                                "hand-in: task": 12.5, "replay: start and imports": 6.0}
    assert clock.pop("cot") == {}


def test_grade_help_lists_the_common_options_first():
    import subprocess
    import sys

    shown = subprocess.run([sys.executable, "-m", "grader_plugin", "grade", "--help"], capture_output=True,
                           text=True, check=True).stdout
    flags = [line.split()[0] for line in shown.splitlines() if line.startswith("  --")]
    assert flags[:5] == ["--grade-parts", "--grade-questions", "--grade-data", "--grade-device", "--grade-json"]
    assert "--grade-sandbox" in flags[5:] and "pytest --help" in shown


def test_advice_for_an_error_names_the_module_that_raised_it_in_the_hand_ins_own_package():
    from grader_plugin.builtin.advice import advice
    from grader_plugin.results import PartResult, WorkerOutcome

    result = PartResult("batched_generate", "batched generate", 15, measure="loss")
    result.zero("ValueError: shapes differ (my_hw/base_llm.py:88)")
    outcome = WorkerOutcome("error", result.reason, where="my_hw/base_llm.py:88")
    assert advice(result, outcome) == ("run this part on your machine (python -m my_hw.base_llm) and fix the error "
                                       "at my_hw/base_llm.py:88")
    assert advice(result, WorkerOutcome("error", result.reason)) is None  # no place known: no line made up


def _third_party(**fields):
    from grader_plugin.results import PartResult

    return PartResult("units_quiz", "units quiz", 20, **fields)


def test_a_third_party_part_gets_advice_from_the_outcome_and_facts_not_from_its_wording():
    from grader_plugin.builtin.advice import FAILURES, advice
    from grader_plugin.results import Finding, WorkerOutcome

    slow = _third_party(measure="score")
    slow.zero("the quiz worker was stopped: too slow")  # its own words, not the grader's
    assert advice(slow, WorkerOutcome("timeout", "stopped")) == FAILURES["timeout"]
    assert advice(slow, WorkerOutcome("exited", "gone")) == FAILURES["exited"]
    assert advice(slow, WorkerOutcome("error", "x", cause="hub")) == FAILURES["hub"]
    slow.findings.append(Finding("mine", "copied answers"))
    slow.zero("cheated")
    assert advice(slow, WorkerOutcome("timeout", "stopped")) == FAILURES["integrity"]
    slow.zero("too big", cause="model-size")  # a later zero with its own cause comes first
    assert advice(slow, WorkerOutcome("timeout", "stopped")) is None
    untagged = _third_party(measure="accuracy", points=3, reason="3 of 100 right", facts={"untagged": 38, "asked": 60})
    assert advice(untagged, WorkerOutcome("ok")).startswith("no <answer> tag in 38 of 60 outputs")
    few = _third_party(measure="accuracy", points=3, facts={"untagged": 2, "asked": 60})
    assert advice(few, WorkerOutcome("ok")).startswith("your answers parse but too many are wrong")
    unseen = _third_party(measure="accuracy", points=3, facts={"raw_observed": False})
    assert advice(unseen, WorkerOutcome("ok")).startswith("compare your answers with the expected values")


def test_advice_for_the_grader_s_own_wordings_is_unchanged():
    from grader_plugin.builtin.accuracy import explain
    from grader_plugin.builtin.advice import advice
    from grader_plugin.marking.graded_questions import AskedQuestion
    from grader_plugin.results import PartResult

    result = PartResult("cot", "CoT accuracy", 25, measure="accuracy")
    questions = [AskedQuestion(f"q{i}", 1.0) for i in range(4)]
    result.details.extend(explain(questions, [2.0, 2.0, 2.0, 1.0], ["a", "b", "<answer>2</answer>", "c"], result.facts))
    assert result.details[0] == "2 of 4 outputs had no <answer>...</answer> tag"
    assert advice(result).startswith("no <answer> tag in 2 of 4 outputs")
    loss = PartResult("generate", "generate", 10, measure="loss", facts={"broken_outputs": 1})
    assert advice(loss).startswith("some outputs are empty or repeat the prompt")


def test_answering_counts_come_from_each_micro_batch_of_one_batched_generate_call(tiny_model_dir, monkeypatch):
    from grader_plugin.worker import progress
    from grader_plugin.worker.handin_tasks import answer_questions
    from solution.base_llm import BaseLLM

    seen = []
    monkeypatch.setattr(progress, "report", lambda phase, done=0, total=0: seen.append((phase, done, total)))
    llm = BaseLLM(str(tiny_model_dir), device="cpu", max_new_tokens=3, batch_size=2)
    result = answer_questions(llm, {"questions": [f"How many meters are in {n} km?" for n in range(1, 6)]})
    assert [done for phase, done, total in seen if phase == progress.ANSWERING] == [2, 4, 5, 5]
    assert {total for _, _, total in seen} == {5}
    assert "generate" not in vars(llm.model) and len(result["raw"]) == 5  # the count leaves the model as it was
