"""The generation parts are judged under a model the grader serves, never one the hand-in names.

``fixtures/cheaters/names_its_judge`` loads the run's base model, renames it after a tiny model of
its own that always predicts " the" (built here by ``fixtures/cheaters/make_judge_model.py``), and
answers " the" fifty times: it must score 0 on both generation parts with one line naming what it
loaded, and without the name it is judged under the run's base model, where " the" * 50 is unlikely.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from grader_plugin.launch.judge import judge_model
from grader_plugin.launch.model_map import served_as
from grader_plugin.manager import get_plugin_manager
from grader_plugin.results import WorkerOutcome
from grader_plugin.session import grade_once
from grader_plugin.settings import GradeSettings
from unitconv.paths import data_dir

ROOT = Path(__file__).resolve().parents[2]
CHEAT = ROOT / "fixtures" / "cheaters" / "names_its_judge"
HONEST = ROOT / "fixtures" / "submissions" / "honest_tiny"
PARTS = ("generate", "batched_generate")
QUESTIONS = 4
HUB_ID = "HuggingFaceTB/SmolLM2-360M-Instruct"


def _maker():
    spec = importlib.util.spec_from_file_location("make_judge_model", CHEAT.parent / "make_judge_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cheat(tmp_path_factory, tiny_model_dir):
    """``cheat(hidden)``: a copy of the fixture with its judge model built; ``hidden`` names no model."""
    made: dict[bool, Path] = {}

    def copy(hidden: bool = False) -> Path:
        if hidden not in made:
            package = tmp_path_factory.mktemp("hidden" if hidden else "named") / CHEAT.name
            shutil.copytree(CHEAT, package, ignore=shutil.ignore_patterns("judge_model", "__pycache__"))
            _maker().build_judge_model(package / "judge_model", str(tiny_model_dir))
            if hidden:
                (package / "hide_name").write_text("")
            made[hidden] = package
        return made[hidden]

    return copy


def _grade(package: Path, base_model: Path) -> dict:
    settings = GradeSettings(path=package, parts=PARTS, questions=QUESTIONS, base_model=str(base_model))
    return {part.name: part for part in grade_once(settings, get_plugin_manager(load_entry_points=False)).parts}


def test_the_fixtures_own_judge_would_give_its_outputs_full_marks(cheat):
    """The attack is real: judged under the model the hand-in names, " the" * 50 is as likely as it gets."""
    from grader_plugin.builtin.generation import REFERENCE_MAX_NEW_TOKENS, loss_bounds
    from grader_plugin.worker.trusted_tasks import generation_likelihood

    judge = cheat() / "judge_model"
    prompts = [q for q, _ in json.loads((data_dir() / "valid.json").read_text())[:QUESTIONS]]
    measured = generation_likelihood(None, {"model": str(judge), "device": "cpu", "prompts": prompts,
                                            "outputs": {"submission": [" the" * 50] * len(prompts)},
                                            "anchors": True, "max_new_tokens": REFERENCE_MAX_NEW_TOKENS})
    losses = measured["losses"]
    bounds = loss_bounds(json.loads((judge / "config.json").read_text()), str(judge), losses)
    assert bounds.fraction(losses["submission"]["mean"]) == 1.0


@pytest.mark.workers
def test_a_hand_in_naming_its_own_judge_scores_zero_in_one_line(cheat, tiny_model_dir):
    package = cheat()
    results = _grade(package, tiny_model_dir)
    for part in PARTS:
        reason = results[part].reason
        assert results[part].points == 0, (part, reason)
        assert reason.startswith("loads a model the grader does not serve: names_its_judge/judge_model (")
        assert "\n" not in reason and str(package) not in reason


@pytest.mark.workers
def test_a_hand_in_hiding_its_model_name_is_judged_under_the_runs_base_model(cheat, tiny_model_dir):
    results = _grade(cheat(hidden=True), tiny_model_dir)
    full = {"generate": 10, "batched_generate": 15}
    for part in PARTS:
        assert results[part].points < full[part], (part, results[part].reason)
        assert any("graded against the run's base model" in d for d in results[part].details)


@pytest.mark.workers
def test_an_honest_hand_in_on_the_runs_base_model_keeps_full_generation_marks(tiny_model_dir):
    results = _grade(HONEST, tiny_model_dir)
    assert (results["generate"].points, results["batched_generate"].points) == (10, 15), results["generate"].reason
    assert any(f"base model {tiny_model_dir} (as loaded by the hand-in)" in d for d in results["generate"].details)


@pytest.fixture
def served(tmp_path):
    """A run serving ``HUB_ID`` from one folder and the base model from another; its lookup and candidates."""
    base, hub = tmp_path / "base", tmp_path / "hub-model"
    for folder in (base, hub):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    folders = {str(base): base, HUB_ID: hub}

    def lookup(name):
        return folders.get(name, Path(name) if (Path(name) / "config.json").is_file() else None)

    return SimpleNamespace(base=base, hub=hub, lookup=lookup, candidates=(str(base), HUB_ID))


def test_a_served_hub_id_or_the_base_model_by_any_path_to_it_is_served(served, tmp_path):
    (tmp_path / "link").symlink_to(served.base, target_is_directory=True)
    snapshot = tmp_path / "cache" / "models--HuggingFaceTB--SmolLM2-360M-Instruct" / "snapshots" / "grader"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").symlink_to(served.hub / "config.json")
    assert served_as(HUB_ID, served.lookup, served.candidates) == HUB_ID
    assert served_as(str(served.base), served.lookup, served.candidates) == str(served.base)
    assert served_as(str(tmp_path / "link"), served.lookup, served.candidates) == str(served.base)
    assert served_as(str(served.hub), served.lookup, served.candidates) == HUB_ID
    assert served_as(str(snapshot), served.lookup, served.candidates) == HUB_ID


def test_a_model_folder_of_the_hand_ins_or_an_unserved_hub_id_is_not_served(served, tmp_path, monkeypatch):
    own = tmp_path / "homework" / "tiny_lm"
    own.mkdir(parents=True)
    (own / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    for name in (str(own), "homework/tiny_lm", "SomeLab/NotServed-1B", "./homework/tiny_lm", "tiny_lm",
                 "/" + "x" * 5000):
        assert served_as(name, served.lookup, served.candidates) is None, name


def _context(served, package: str = "homework"):
    return SimpleNamespace(settings=SimpleNamespace(base_model=str(served.base), base_model_name=str(served.base)),
                           submission=SimpleNamespace(package=package), model_folder=served.lookup)


def _judged(context, *names: str) -> tuple[str | None, str]:
    return judge_model(WorkerOutcome(status="ok", models=[{"name_or_path": n} for n in names]), context)


def test_the_judge_is_the_served_model_and_any_unserved_one_zeroes_the_part(served, tmp_path):
    context = _context(served)
    assert _judged(context, HUB_ID) == (HUB_ID, "as loaded by the hand-in")
    assert _judged(context, str(served.hub))[0] == HUB_ID  # judged under the served name, not the path
    assert _judged(context)[0] == str(served.base)
    judge, why = _judged(context, HUB_ID, str(tmp_path / "work" / "homework" / "tiny_lm"))
    assert judge is None and why.startswith("loads a model the grader does not serve: homework/tiny_lm (")
    judge, why = _judged(context, "SomeLab/Tiny\nhub")
    assert judge is None and "\n" not in why and "SomeLab/Tiny\\nhub" in why
