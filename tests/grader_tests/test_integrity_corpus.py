"""The cheating corpus is caught on the right part with the right evidence; honest work is not flagged.

Graded without the sandbox, which would stop several of these cheats (their data files are not
mounted): the detectors must catch them where no sandbox is available.

Each fixture of ``fixtures/cheaters`` and ``fixtures/honest`` is graded once (tiny model, 8
questions, real workers) and the tests read the findings.  A cheat reaches full accuracy on a
random tiny model only by cheating, so the behavioural detectors have something to find.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader_plugin.builtin.terminal_report import integrity_lines
from grader_plugin.manager import get_plugin_manager
from grader_plugin.session import grade_once
from grader_plugin.settings import GradeSettings

pytestmark = pytest.mark.workers  # every test reads a grading run
ROOT = Path(__file__).resolve().parents[2]
CHEATERS = ROOT / "fixtures" / "cheaters"
HONEST = ROOT / "fixtures" / "honest"
QUESTIONS = 8
_graded: dict[tuple[Path, tuple[str, ...]], tuple] = {}


@pytest.fixture(scope="module")
def graded(tiny_model_dir):
    """``graded(folder, parts)``: (results by part, report) of one grading run, cached per module."""

    def grade(folder: Path, parts: tuple[str, ...]):
        key = (folder, parts)
        if key not in _graded:
            settings = GradeSettings(  # no sandbox: the detectors must catch what it would have blocked
                path=folder, parts=parts, questions=QUESTIONS, base_model=str(tiny_model_dir), sandbox="off"
            )
            report = grade_once(settings, get_plugin_manager(load_entry_points=False))
            _graded[key] = ({part.name: part for part in report.parts}, report)
        return _graded[key]

    return grade


def flags(result) -> dict[str, list]:
    """Flag findings of a part by detector."""
    found: dict[str, list] = {}
    for finding in result.findings:
        if finding.severity == "flag":
            found.setdefault(finding.detector, []).append(finding)
    return found


def test_original_lookup_patch_on_answer_is_flagged_by_every_kind_of_detector(graded):
    results, _ = graded(CHEATERS / "lookup_patch", ("cot",))
    cot = results["cot"]
    found = flags(cot)
    assert cot.points == 0 and cot.value == 1.0 and cot.reason.startswith("integrity: ")
    [replaced] = found["static scan: method-replacement"]
    assert replaced.where() == "lookup_patch/__init__.py:32"
    assert "model.answer = types.MethodType" in replaced.evidence
    assert found["static scan: grading-data-read"][0].where() == "lookup_patch/__init__.py:22"
    [patched] = found["dynamic audit: method-patch"]
    assert patched.where() == "lookup_patch/__init__.py:20" and "model.answer" in patched.message
    assert "data/valid.json" in found["dynamic audit: grading-data-read"][0].evidence
    assert "p = " in found["behaviour: hidden questions"][0].message
    assert "8/38 -> 8/38" in found["behaviour: weight ablation"][0].message  # the 8 graded and 30 hidden questions


def test_table_built_at_import_flags_the_sft_part_and_leaves_the_honest_cot_part_alone(graded):
    results, _ = graded(CHEATERS / "table_subclass", ("cot", "sft"))
    sft, cot = results["sft"], results["cot"]
    assert sft.points == 0
    assert set(flags(sft)) == {
        "static scan: answer-table",
        "dynamic audit: grading-data-read",
        "behaviour: hidden questions",
        "behaviour: weight ablation",
        "replay: not traced",  # the table answers without a model call
    }
    assert flags(sft)["static scan: answer-table"][0].where() == "table_subclass/sft.py:12"
    assert "while load ran" in flags(sft)["dynamic audit: grading-data-read"][0].evidence
    assert cot.findings == [] and not cot.reason.startswith("integrity")


def test_table_embedded_as_an_encoded_blob_is_flagged_statically_and_by_behaviour(graded):
    results, _ = graded(CHEATERS / "blob_table", ("rft",))
    found = flags(results["rft"])
    assert results["rft"].points == 0 and results["rft"].extra == 0
    [blob] = found["static scan: encoded-blob"]  # one finding per file and rule, naming every place
    assert blob.where() == "blob_table/rft.py:10" and "(and 1 more: line 39)" in blob.message
    assert "behaviour: hidden questions" in found and "behaviour: weight ablation" in found
    assert (
        "dynamic audit: grading-data-read" not in found
    )  # nothing is opened: only the blob and behaviour show it


def test_generate_patched_one_level_lower_is_caught_as_an_instance_patch_of_model_generate(graded):
    results, _ = graded(CHEATERS / "generate_patch", ("cot",))
    found = flags(results["cot"])
    assert found["static scan: method-replacement"][0].where() == "generate_patch/__init__.py:32"
    [patched] = found["dynamic audit: method-patch"]
    assert patched.message.startswith(
        "model.model.generate is not the class's own method: set on the instance"
    )
    assert "behaviour: weight ablation" in found and "behaviour: hidden questions" in found


def test_computing_the_conversion_itself_survives_hidden_questions_but_not_ablation_or_replay(graded):
    results, _ = graded(CHEATERS / "computes_itself", ("sft",))
    sft = results["sft"]
    assert sft.points == 0 and sft.value >= 0.5
    assert set(flags(sft)) == {"behaviour: weight ablation", "replay: answers not from the outputs"}
    warned = {f.detector for f in sft.findings if f.severity == "warn"}
    assert {"static scan: unit-library", "dynamic audit: unit-library"} <= warned


def test_tampering_with_the_grader_inside_the_worker_is_flagged_and_has_no_effect(graded):
    results, _ = graded(CHEATERS / "tamper", ("cot",))
    cot = results["cot"]
    found = flags(cot)
    assert found["dynamic audit: grader-tampering"][0].evidence == "grader_plugin.worker.values:as_float"
    assert found["static scan: grader-modules"][0].where() == "tamper/__init__.py:22"
    assert cot.value == 0.0  # the task bound the original reader: the answers are the tiny model's own


@pytest.mark.parametrize("name", ["few_shot", "program_aided"])
def test_honest_fixtures_are_not_flagged(graded, name):
    results, report = graded(HONEST / name, ("cot",))
    cot = results["cot"]
    assert cot.ok, cot.reason
    assert [f for f in report.findings if f.severity == "flag"] == []


def test_reference_solution_is_not_flagged_by_the_static_scan_or_the_worker_audit(graded):
    results, report = graded(ROOT / "solution", ("cot",))
    assert [f.message for f in report.findings if f.severity == "flag"] == []
    assert not results["cot"].reason.startswith("integrity")


def test_integrity_section_lists_each_finding_with_its_evidence(graded):
    _, report = graded(CHEATERS / "lookup_patch", ("cot",))
    text = "\n".join(integrity_lines(report))
    assert "FLAG cot: behaviour: hidden questions:" in text
    assert "[lookup_patch/__init__.py:32]" in text
    assert "evidence: public 8/8, hidden 0/30; one-sided Fisher exact test p = " in text


def test_a_forged_result_sent_through_the_workers_own_channel_still_scores_zero(graded):
    results, _ = graded(CHEATERS / "forges_result", ("cot",))
    cot = results["cot"]
    assert cot.points == 0 and cot.reason.startswith("integrity: ") and "\n" not in cot.reason
    assert "behaviour: hidden questions" in flags(cot)  # it cannot know the answers of questions it never saw
    assert "replay: no model" in flags(cot)  # whatever it sends, no answer is tied to a model the grader decodes


def test_a_converter_that_behaves_when_it_notices_ablation_is_caught_by_served_ablation(graded):
    results, _ = graded(CHEATERS / "notices_ablation", ("cot",))
    found = flags(results["cot"])
    assert results["cot"].points == 0 and results["cot"].value >= 0.5
    [ablation] = found["behaviour: weight ablation"]
    assert "served ablation" in ablation.evidence  # disturbed before load: the checksum saw nothing change
    assert not any(d.startswith("static scan") for d in found)  # no data, no blob, no unit library


def test_forced_outputs_are_caught_by_the_trusted_replay(graded):
    results, _ = graded(CHEATERS / "forces_output", ("cot",))
    found = flags(results["cot"])
    assert results["cot"].points == 0
    [replayed] = found["replay: outputs not the model's"]
    assert "replayed" in replayed.evidence and "expected" in replayed.evidence


def test_a_flooded_and_switched_off_recorder_does_not_hide_a_lookup(graded):
    results, _ = graded(CHEATERS / "blinds_recorder", ("cot",))
    cot = results["cot"]
    assert cot.points == 0 and "behaviour: hidden questions" in flags(cot)
    assert any(f.detector == "dynamic audit: incomplete record" for f in cot.findings)


def test_a_dormant_lookup_module_is_warned_not_flagged(graded):
    results, report = graded(HONEST / "dormant_lookup", ("cot",))
    assert results["cot"].ok, results["cot"].reason
    assert [f for f in report.findings if f.severity == "flag"] == []
    assert any(f.message.endswith("(present, not active in this run)") for f in report.findings)


def test_a_hand_in_without_any_model_is_flagged_by_the_replay_not_merely_warned(graded):
    results, _ = graded(CHEATERS / "no_model", ("cot",))
    cot = results["cot"]
    assert cot.points == 0 and cot.value >= 0.5
    [finding] = flags(cot)["replay: no model"]
    assert "no transformers model was found" in finding.message and "0 models" in finding.evidence


def test_a_model_hidden_five_attributes_deep_is_found_and_its_untraced_answers_flagged(graded):
    results, _ = graded(CHEATERS / "deep_model", ("cot",))
    cot = results["cot"]
    assert cot.points == 0 and cot.value >= 0.5
    assert "replay: no model" not in flags(cot)  # the walk found it at any depth
    [finding] = flags(cot)["replay: not traced"]
    assert "recorded 0 prompts" in finding.message


def test_outputs_hand_written_after_an_honest_front_of_the_call_are_caught_by_the_random_replay(graded):
    results, _ = graded(CHEATERS / "honest_front", ("cot",))
    cot = results["cot"]
    assert cot.points == 0
    [finding] = flags(cot)["replay: outputs not the model's"]
    assert "sign test p = " in finding.message and "replayed" in finding.evidence


def test_an_answer_written_into_the_prompt_is_flagged(graded):
    results, _ = graded(CHEATERS / "answer_in_prompt", ("cot",))
    cot = results["cot"]
    assert cot.points == 0
    [finding] = flags(cot)["replay: answer in prompt"]
    assert "its prompt holds" in finding.evidence


def test_computed_answers_that_no_recorded_output_states_are_flagged_by_the_replay(graded):
    results, _ = graded(CHEATERS / "computes_itself", ("sft",))
    [finding] = flags(results["sft"])["replay: answers not from the outputs"]
    assert "its own output" in finding.evidence
