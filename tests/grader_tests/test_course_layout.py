"""Real-layout course hand-ins (``fixtures/course_layout/``) graded on the tiny model as the course grades them.

The hub id the hand-ins load (``HuggingFaceTB/SmolLM2-360M-Instruct``) is served offline by the
tiny model through ``--grade-model-map``; every part gets a result and a one-line reason.
"""

from __future__ import annotations

import pytest
from course_fixtures import HUB_ID, build

from grader_plugin.manager import get_plugin_manager
from grader_plugin.session import grade_once
from grader_plugin.settings import GradeSettings
from unitconv.paths import data_dir

pytestmark = pytest.mark.workers  # every test reads a grading run
QUESTIONS = 4
_graded: dict = {}


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory, tiny_model_dir):
    return tmp_path_factory.mktemp("course-layout"), tiny_model_dir


@pytest.fixture(scope="module")
def graded(checkouts):
    """``graded(fixture, parts, profile="course")``: results by part and the report, cached per module."""
    root, tiny = checkouts

    def grade(name: str, parts: tuple[str, ...], profile: str = "course"):
        key = (name, parts, profile)
        if key not in _graded:
            package = root / name / "homework"
            if not package.is_dir():
                build(name, root, tiny, data_dir())
            settings = GradeSettings(path=package, parts=parts, questions=QUESTIONS, profile=profile,
                                     model_map=((HUB_ID, str(tiny)),))
            report = grade_once(settings, get_plugin_manager(load_entry_points=False))
            _graded[key] = ({part.name: part for part in report.parts}, report, package)
        return _graded[key]

    return grade


def test_a_hand_in_loading_the_course_model_by_hub_id_is_graded_on_the_model_served_for_it(graded):
    results, report, _ = graded("hub_checkpoint", ("generate", "batched_generate", "sft", "rft"))
    assert (results["generate"].points, results["batched_generate"].points) == (10, 15)
    assert results["generate"].reason.startswith("full marks: loss")
    served = f"base model {HUB_ID} (as loaded by the hand-in, served here by"
    assert any(served in detail for detail in results["generate"].details)
    for part in ("sft", "rft"):  # the adapters load; a random tiny model answers nothing right
        assert results[part].ok and results[part].value == 0.0, results[part].reason
        assert results[part].reason.startswith("accuracy 0.00 below")
    assert [f for f in report.findings if f.severity == "flag"] == []
    assert f"hub model {HUB_ID}: served by" in "\n".join(f"hub model {m}" for m in report.graded_by["models_served"])


def test_numpy_returns_of_num_return_sequences_cost_nothing_under_course_and_everything_under_strict(graded):
    course, _, _ = graded("numpy_returns", ("batched_generate",))
    strict, _, _ = graded("numpy_returns", ("batched_generate",), "strict")
    assert course["batched_generate"].points == 15
    assert any("warning (not graded under profile course)" in d and "returned a ndarray" in d
               for d in course["batched_generate"].details)
    assert strict["batched_generate"].points == 0
    assert strict["batched_generate"].reason.startswith(
        "batched_generate(3 prompts, num_return_sequences=3) returned a ndarray")


def test_an_adapter_trained_for_another_base_model_names_both_sizes_and_the_fix(graded):
    results, _, _ = graded("other_base_adapter", ("sft",))
    assert results["sft"].points == 0
    assert results["sft"].reason == (
        f"homework/sft_model was trained for {HUB_ID} with hidden size 960, but the model serving {HUB_ID} "
        f"here has hidden size 64; grade with the model it was trained on (--grade-model-map {HUB_ID}=PATH) "
        f"or retrain the adapter on this one")
    assert "/tmp" not in results["sft"].reason + "".join(results["sft"].details)


def test_an_adapter_kept_only_in_a_checkpoint_folder_is_named_with_the_fix(graded):
    results, _, _ = graded("checkpoint_only", ("sft",))
    assert results["sft"].points == 0
    assert results["sft"].reason.startswith("homework/sft_model holds an adapter only in checkpoint-12/; copy its")
    assert results["sft"].details[0].startswith("the worker's error: ValueError: Can't find 'adapter_config.json' "
                                                "at 'homework/sft_model'")


def test_an_adapter_config_without_weights_is_named_with_the_fix(graded):
    results, _, _ = graded("config_only", ("rft",))
    assert results["rft"].reason.startswith("homework/rft_model/adapter_config.json has no adapter weights beside it")


def test_a_dormant_lookup_module_is_warned_as_present_but_not_active_and_zeroes_nothing(graded):
    results, report, _ = graded("dormant_lookup", ("cot", "sft"))
    for part in ("cot", "sft"):
        assert results[part].ok and not results[part].reason.startswith("integrity"), results[part].reason
    warned = [f.message for f in report.findings if f.detector == "static scan: method-replacement"]
    assert warned and all(m.endswith("(present, not active in this run)") for m in warned)
    assert [f for f in report.findings if f.severity == "flag"] == []


def test_a_load_that_writes_a_fresh_adapter_into_its_package_is_reported_and_undone(graded):
    results, _, package = graded("writes_own_package", ("sft", "rft"))
    sft = results["sft"]
    assert sft.ok and sft.value == 0.0, "\n".join(sft.details)
    [changed] = [f for f in sft.findings if f.detector == "hand-in files"]
    assert changed.severity == "warn" and "homework/sft_model/adapter_config.json" in changed.evidence
    assert not (package / "sft_model").exists()  # the grader's copy is put back as handed in
    assert results["rft"].ok and not any(f.detector == "hand-in files" for f in results["rft"].findings)


def test_a_bfloat16_model_earns_full_generation_marks(graded):
    results, _, _ = graded("bf16", ("generate", "batched_generate"))
    assert (results["generate"].points, results["batched_generate"].points) == (10, 15)


def test_an_unserved_hub_id_scores_zero_with_the_option_that_fixes_it(graded):
    results, _, _ = graded("unserved_hub_id", ("generate",))
    assert results["generate"].points == 0
    assert results["generate"].reason.startswith(
        "loads 'SomeLab/NotServed-1B-Instruct' from the model hub, which workers never reach, and this grader does "
        "not serve it; serve a local copy with --grade-model-map SomeLab/NotServed-1B-Instruct=PATH")


def test_every_graded_part_has_a_one_line_reason(graded):
    for key, (results, _, _) in list(_graded.items()):
        for result in results.values():
            assert result.reason and "\n" not in result.reason, (key, result.name)


def test_a_larger_token_budget_keeps_full_generation_marks(graded):
    results, _, _ = graded("long_budget", ("generate", "batched_generate"))
    assert (results["generate"].points, results["batched_generate"].points) == (10, 15)


def test_right_padding_without_a_mask_costs_batched_points_but_not_single_prompt_ones(graded):
    results, _, _ = graded("right_padded", ("generate", "batched_generate"))
    batched = results["batched_generate"]
    assert results["generate"].points == 10  # one prompt: nothing to pad
    assert 0 < batched.points < 15 and batched.reason.startswith("loss ") and "above full marks" in batched.reason


def test_empty_outputs_score_nothing_and_the_bounds_are_stated(graded):
    results, _, _ = graded("empty_outputs", ("generate", "batched_generate"))
    for part in ("generate", "batched_generate"):
        assert results[part].points == 0
        assert results[part].bounds.startswith("loss ") and any("calibrated on" in d for d in results[part].details)
        assert any("outputs are empty or repeat the prompt" in d for d in results[part].details)
