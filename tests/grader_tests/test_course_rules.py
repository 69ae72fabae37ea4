"""The course's grading rules (``tools/course_rules.py``, run the course's way, without this project) and
ours give the same points per part on the course-layout fixtures, wherever the course's rules give points.

On the tiny model the course's loss bounds (set for SmolLM2-360M) give the generation parts no
points whatever the implementation, so the comparison here is of the accuracy parts, where the
fixtures differ in how their adapters load; ``benchmarks/course_layout.py`` compares all five
parts on the real model.
"""

from __future__ import annotations

import json

import pytest
from course_fixtures import FIXTURES, HUB_ID, build
from test_course_bundle import project_free

from grader_plugin.launch import model_map
from grader_plugin.manager import get_plugin_manager
from grader_plugin.session import grade_once
from grader_plugin.settings import GradeSettings
from unitconv.paths import data_dir

QUESTIONS = 4
PARTS = ("cot", "sft", "rft")


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_dir):
    """A private offline hub cache that serves the tiny model for the course's hub id."""
    hub = tmp_path_factory.mktemp("course-hub") / "hub"
    model_map.build_hub_cache(hub, [model_map.ServedModel(HUB_ID, tiny_model_dir, "mapped")])
    return hub


def course_points(package, hub, tmp_path) -> dict[str, int]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "course.json"
    done = project_free(str(package), "--data", str(package.parent / "data"), "--questions", str(QUESTIONS),
                        "--parts", ",".join(PARTS), "--json", str(out), cwd=tmp_path, timeout=600,
                        env={"HF_HUB_CACHE": str(hub), **model_map.OFFLINE_ENV})
    assert out.is_file(), done.stderr[-2000:]
    return {part["name"]: part["points"] for part in json.loads(out.read_text())["parts"]}


def our_points(package, tiny) -> dict[str, tuple[int, str]]:
    settings = GradeSettings(path=package, parts=PARTS, questions=QUESTIONS, model_map=((HUB_ID, str(tiny)),))
    report = grade_once(settings, get_plugin_manager(load_entry_points=False))
    return {part.name: (part.points + part.extra, part.reason) for part in report.parts}


GENERATION_ONLY = ("bf16", "long_budget", "right_padded", "empty_outputs")
IN_CI = ("config_only", "other_base_adapter", "unserved_hub_id")
"""One fixture of each way an adapter or model fails to load runs in CI; the others, which load the
way these do and differ in answering, run under ``-m slow`` and in ``benchmarks/course_layout.py``."""


@pytest.mark.workers
@pytest.mark.parametrize("name", [name if name in IN_CI else pytest.param(name, marks=pytest.mark.slow)
                                  for name in FIXTURES if name not in GENERATION_ONLY])
def test_course_rules_and_ours_agree_on_every_accuracy_part(name, tmp_path, tiny_model_dir, served):
    package = build(name, tmp_path, tiny_model_dir, data_dir())
    course = course_points(package, served, tmp_path / "course")
    ours = our_points(package, tiny_model_dir)
    for part in PARTS:
        points, reason = ours[part]
        assert points == course[part], f"{name} {part}: ours {points} ({reason}), course {course[part]}"
