"""The one-command pipeline (``tools/pipeline.py``): its stage logic, and its command line's errors.

Stage logic runs on a package folder of its own under ``tmp_path`` with recording stages (each
writes its output from its inputs and settings, as a real stage would) and, once, with real
stages on the tiny model: a few LoRA steps, stubbed sampling, the grader's own bundling.
"""

from __future__ import annotations

import ast
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from solution import datagen
from solution.rft import rft_pairs, rft_rows
from solution.training import LoraTrainingConfig, train_lora
from tools.pipeline import (
    STAGES,
    PipelineError,
    PipelinePaths,
    PipelineSettings,
    bundle_stage,
    fingerprint,
    run_pipeline,
)
from tools.pipeline import main as pipeline_main

SETTINGS = PipelineSettings(base_model="tiny", sft_questions=8, shared_spelling_questions=2, rft_questions=4,
                            direct_questions=2)
PAIRS = [("How many meters in 5 km?", " <answer>5 * 1000</answer>"),
         ("Convert 2 kg to g.", " <answer>2 * 1000</answer>"),
         ("What is 3 ft in m?", " <answer>3 * 0.3048</answer>"),
         ("7 MB to kB?", " <answer>7 * 1000</answer>")]


@pytest.fixture()
def paths(tmp_path) -> PipelinePaths:
    """A package with the modules the stages read, a data folder and a run folder, all under tmp_path."""
    package, data = tmp_path / "pkg", tmp_path / "data"
    package.mkdir()
    data.mkdir()
    for module in ("__init__", "sft", "rft", "datagen", "cot", "targets", "training", "worked_examples",
                   "unit_reader"):
        (package / f"{module}.py").write_text(f"# {module}\n")
    (data / "train.json").write_text(json.dumps([["How many g in 2 kg?", 2000.0]]))
    (data / "valid.json").write_text(json.dumps([["How many m in 1 km?", 1000.0]]))
    return PipelinePaths(package_dir=package, data_dir=data, runs_dir=tmp_path / "runs")


class Recorder:
    """Stages that record their calls and write outputs made from their inputs and settings."""

    def __init__(self, interrupt: str | None = None, grade_status: int = 0):
        self.calls: list[str] = []
        self.interrupt = interrupt
        self.grade_status = grade_status

    def runners(self) -> dict:
        def stage(name, make):
            def run(settings, paths):
                self.calls.append(name)
                if name == self.interrupt:
                    self.interrupt = None
                    raise KeyboardInterrupt
                return make(settings, paths)
            return run

        def adapter(folder: Path, text: str) -> None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "adapter_model.safetensors").write_text(text)

        def zipped(paths: PipelinePaths) -> None:
            paths.state_dir.mkdir(parents=True, exist_ok=True)
            paths.bundle_zip.write_text(fingerprint(paths.package_dir))

        return {
            "sft": stage("sft", lambda s, p: adapter(p.sft_adapter,
                                                      f"sft {s.sft_questions} {s.shared_spelling_questions}")),
            "rft-data": stage("rft-data", lambda s, p: p.rft_json.write_text(
                (Path(p.data_dir) / "train.json").read_text() + str(s.rft_questions))),
            "rft": stage("rft", lambda s, p: adapter(p.rft_adapter, p.rft_json.read_text() + str(s.direct_questions))),
            "bundle": stage("bundle", lambda s, p: zipped(p)),
            "grade": stage("grade", lambda s, p: (p.grade_json.write_text(json.dumps({"score": 95})),
                                                  self.grade_status)[1]),
        }

    def run(self, paths, settings=SETTINGS, **options) -> tuple[int, list[str], list[str]]:
        """Run the pipeline; return its status, the stages that ran, and the progress lines."""
        self.calls.clear()
        lines: list[str] = []
        status = run_pipeline(settings, paths, runners=self.runners(), echo=lines.append, **options)
        return status, list(self.calls), lines


def test_a_first_run_runs_every_stage_in_order_and_a_second_run_skips_them_all(paths):
    recorder = Recorder()
    status, ran, lines = recorder.run(paths)
    assert status == 0 and ran == list(STAGES)
    assert len(lines) == 2 * len(STAGES)  # one line at the start and one at the end of each stage
    assert "runs because not run yet" in lines[0] and "done in" in lines[1]
    assert all(paths.stamp(stage).is_file() for stage in STAGES)

    status, ran, lines = recorder.run(paths)
    assert ran == [] and len(lines) == len(STAGES)
    assert all("skipped, up to date" in line for line in lines)


def test_a_changed_input_reruns_its_stage_and_those_whose_inputs_then_change(paths):
    recorder = Recorder()
    recorder.run(paths)
    (Path(paths.data_dir) / "train.json").write_text(json.dumps([["How many g in 3 kg?", 3000.0]]))
    _, ran, lines = recorder.run(paths)
    assert ran == ["rft-data", "rft", "bundle", "grade"]
    assert "input changed since it ran" in lines[1] and "train.json" in lines[1]

    (Path(paths.package_dir) / "sft.py").write_text("# sft, edited\n")  # code is an input too
    _, ran, _ = recorder.run(paths)
    assert ran == ["sft", "rft", "bundle", "grade"]  # sft.py is an input of rft too; rft-data reads neither


def test_a_changed_setting_reruns_the_stages_that_depend_on_it_and_the_device_does_not(paths):
    recorder = Recorder()
    recorder.run(paths)
    _, ran, lines = recorder.run(paths, replace(SETTINGS, direct_questions=3))
    assert ran == ["rft", "bundle", "grade"]
    assert any("settings changed: direct_questions 2 -> 3" in line for line in lines)
    _, ran, _ = recorder.run(paths, replace(SETTINGS, direct_questions=3, device="cuda"))
    assert ran == []
    _, ran, lines = recorder.run(paths, replace(SETTINGS, direct_questions=3, shared_spelling_questions=3))
    assert ran == ["sft", "rft", "bundle", "grade"]  # the CoT sampler's rft-data does not read the SFT adapter
    assert any("settings changed: shared_spelling_questions 2 -> 3" in line for line in lines)


def test_force_reruns_one_stage_or_all_of_them(paths):
    recorder = Recorder()
    recorder.run(paths)
    _, ran, lines = recorder.run(paths, force=["bundle"])
    assert ran == ["bundle"], "the same zip again: grading it again is not needed"
    assert any("runs because forced" in line for line in lines)
    _, ran, _ = recorder.run(paths, force=["sft", "grade"])
    assert ran == ["sft", "grade"]
    _, ran, _ = recorder.run(paths, force=["all"])
    assert ran == list(STAGES)
    with pytest.raises(PipelineError, match="no such stage"):
        recorder.run(paths, force=["sfd"])


def test_an_interrupted_run_resumes_without_redoing_finished_stages(paths):
    recorder = Recorder(interrupt="rft")
    with pytest.raises(KeyboardInterrupt):
        recorder.run(paths)
    assert recorder.calls == ["sft", "rft-data", "rft"]
    assert not paths.stamp("rft").exists(), "an unfinished stage leaves no stamp"
    _, ran, _ = recorder.run(paths)
    assert ran == ["rft", "bundle", "grade"]


def test_an_output_removed_or_changed_by_hand_is_made_again(paths):
    recorder = Recorder()
    recorder.run(paths)
    (paths.rft_adapter / "adapter_model.safetensors").unlink()
    _, ran, lines = recorder.run(paths)
    assert ran == ["rft"], "made again the same: the zip made from it is still up to date"
    assert "output changed since this stage made it" in lines[2]
    paths.grade_json.unlink()
    _, ran, lines = recorder.run(paths)
    assert ran == ["grade"] and "output missing" in lines[-2]


def test_the_grade_status_is_returned_and_kept_when_grading_is_skipped(paths):
    recorder = Recorder(grade_status=1)
    assert recorder.run(paths)[0] == 1
    status, ran, _ = recorder.run(paths)
    assert ran == [] and status == 1


def test_the_real_stages_on_the_tiny_model_run_once_and_then_skip(paths, tiny_model_dir, tiny_llm, capsys):
    """A few LoRA steps for SFT and RFT, stubbed sampling, the grader's own bundling, recorded grading."""
    from transformers import AutoModelForCausalLM

    config = LoraTrainingConfig(rank=4, alpha=16, epochs=3, batch_size=2, learning_rate=1e-2, warmup_steps=0)
    tokenizer = tiny_llm.tokenizer

    def train(adapter, pairs, init=None):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        train_lora(model, tokenizer, pairs, config, Path(paths.runs_dir) / "train", adapter,
                   init_adapter=init, package_dir=paths.package_dir)

    def sample(prompts, count, temperature):
        return [[f"<answer>{prompt.split()[4]} * 1000</answer> and more"] * count for prompt in prompts]

    questions = [[f"How many g in {n} kg?", n * 1000.0] for n in range(2, 6)]
    graded = []
    runners = {
        "sft": lambda s, p: train(p.sft_adapter, PAIRS),
        "rft-data": lambda s, p: datagen.generate_dataset(p.rft_json, 2, 0.7, model=tiny_llm, sampler=sample,
                                                          questions=questions, sampler_model="cot"),
        "rft": lambda s, p: train(p.rft_adapter, [(q, c) for q, c in rft_pairs(p.rft_json)], p.sft_adapter),
        "bundle": bundle_stage,
        "grade": lambda s, p: (graded.append(p.bundle_zip), p.grade_json.write_text("{}"), 0)[2],
    }
    assert run_pipeline(SETTINGS, paths, runners=runners) == 0
    printed = capsys.readouterr().out
    assert graded == [paths.bundle_zip] and paths.bundle_zip.stat().st_size > 1000
    assert [row[3] for row in rft_rows(paths.rft_json)] == ["cot-sample"] * 4
    assert json.loads((paths.rft_adapter / "training_config.json").read_text())["init_adapter"] == "sft_model"
    assert printed.count("[1/5] sft") == 2 and "adapter saved to" in printed

    graded.clear()
    assert run_pipeline(SETTINGS, paths, runners=runners) == 0
    assert graded == [] and capsys.readouterr().out.count("skipped, up to date") == len(STAGES)


def test_the_command_line_prints_a_wrong_setting_in_one_line_without_a_traceback(tmp_path, capsys):
    assert pipeline_main(["--sft-questions", "0", "--runs", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: --sft-questions 0: ") and error.count("\n") == 1


def test_the_bundled_reference_carries_no_pipeline_and_no_import_of_the_grader(tmp_path):
    paths = PipelinePaths(runs_dir=tmp_path / "runs")
    bundle_stage(SETTINGS, paths)
    with zipfile.ZipFile(paths.bundle_zip) as archive:
        names = archive.namelist()
        sources = {name: archive.read(name).decode() for name in names if name.endswith(".py")}
    assert "homework/sft.py" in names and not [name for name in names if "pipeline" in name]
    imported = {name: {node.module if isinstance(node, ast.ImportFrom) else alias.name
                       for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Import | ast.ImportFrom)
                       for alias in node.names} for name, text in sources.items()}
    assert imported["homework/sft.py"], "the imports are read"
    assert [name for name, modules in imported.items()
            if any((module or "").split(".")[0] == "grader_plugin" for module in modules)] == []
