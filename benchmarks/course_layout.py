"""Course-layout hand-ins graded by our grader and by the course's rules, part by part.

The fixtures of ``fixtures/course_layout/`` (built on the tiny model, their hub id served by it)
and, with ``--reference``, the bundled reference on the embedded model (its hub id,
``HuggingFaceTB/SmolLM2-135M-Instruct``, served by the embedded model for the course's rules,
which run in a Python that cannot import this project: ``tools/course_rules.py``).  Prints one
row per hand-in and part: our points and reason, the course's points and error.

Usage: python benchmarks/course_layout.py [--fixtures] [--reference] [--questions 4]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

PARTS = ("generate", "batched_generate", "cot", "sft", "rft")


def ours(package: Path, model_map, questions: int) -> dict:
    from grader_plugin.manager import get_plugin_manager
    from grader_plugin.session import grade_once
    from grader_plugin.settings import GradeSettings

    report = grade_once(GradeSettings(path=package, parts=PARTS, questions=questions, model_map=model_map),
                        get_plugin_manager(load_entry_points=False))
    return {part.name: part for part in report.parts}


def course(package: Path, hub: Path, questions: int, work: Path, generate_questions: int) -> dict:
    from test_course_bundle import project_free

    from grader_plugin.launch import model_map

    out = work / "course.json"
    project_free(str(package), "--data", str(package.parent / "data"), "--questions", str(questions),
                 "--generate-questions", str(generate_questions), "--json", str(out), cwd=work, timeout=3600,
                 env={"HF_HUB_CACHE": str(hub), **model_map.OFFLINE_ENV})
    return {p["name"]: p for p in json.loads(out.read_text())["parts"]} if out.is_file() else {}


def rows(label: str, mine: dict, theirs: dict) -> list[str]:
    lines = []
    for part in PARTS:
        result, other = mine.get(part), theirs.get(part, {})
        ours_text = f"{result.points + result.extra:g}" if result else "-"
        reason = (result.reason[:70] if result else "").replace("|", "/")
        course_text = f"{other.get('points', '-')}" + (f" ({other['error']})" if other.get("error") else "")
        lines.append(f"| {label} | {part} | {ours_text} | {course_text} | {reason} |")
    return lines


def main() -> None:
    from course_fixtures import FIXTURES, HUB_ID, build

    from grader_plugin.launch import model_map
    from unitconv.course import EMBEDDED_HUB_ID
    from unitconv.paths import data_dir
    from unitconv.tiny_model import build_tiny_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", action="store_true")
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--questions", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, {args.questions} questions a part")
    print("| hand-in | part | ours | course's rules | our reason |\n|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="course-layout-"))
    if args.fixtures:
        tiny = build_tiny_model(Path(tempfile.gettempdir()) / "unitconv-tiny-llama")
        hub = model_map.build_hub_cache(work / "hub", [model_map.ServedModel(HUB_ID, tiny, "mapped")])
        for name in FIXTURES:
            package = build(name, work, tiny, data_dir())
            (work / name / "course").mkdir()
            mine = ours(package, ((HUB_ID, str(tiny)),), args.questions)
            print("\n".join(rows(name, mine, course(package, hub, args.questions, work / name / "course",
                                                   args.questions))), flush=True)
    if args.reference:
        from grader_plugin.handin.bundle import make_bundle

        archive, _ = make_bundle(ROOT / "solution", work / "reference", package="homework")
        (work / "data").mkdir(exist_ok=True)
        for split in ("train.json", "valid.json"):
            (work / "data" / split).write_text((data_dir() / split).read_text())
        hub = model_map.build_hub_cache(work / "hub-embedded",
                                        [model_map.ServedModel(EMBEDDED_HUB_ID, model_map.embedded_folder(), "mapped")])
        (work / "reference-course").mkdir()
        mine = ours(archive, (), args.questions)
        theirs = course(archive, hub, args.questions, work / "reference-course", min(args.questions, 32))
        print("\n".join(rows("reference bundle", mine, theirs)), flush=True)


if __name__ == "__main__":
    main()
