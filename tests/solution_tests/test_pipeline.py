"""The one-command pipeline's stage logic, training diagnostics, and RFT data sampled from the CoT model.

Stage logic runs on a package folder of its own under ``tmp_path`` with recording stages (each
writes its output from its inputs and settings, as a real stage would) and, once, with real
stages on the tiny model: a few LoRA steps, stubbed sampling, the grader's own bundling.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from solution import cot, datagen
from solution.__main__ import main as solution_main
from solution.pipeline import (
    STAGES,
    PipelineError,
    PipelinePaths,
    PipelineSettings,
    evaluate_bundle_stage,
    fingerprint,
    run_pipeline,
)
from solution.rft import rft_pairs, rft_rows
from solution.training import (
    AdapterLocationError,
    LoraTrainingConfig,
    LossDidNotFallError,
    check_loss_fell,
    probe_loss,
    tokenize_example,
    train_lora,
)

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
    for module in ("__init__", "sft", "rft", "datagen", "cot", "targets", "training", "worked_examples"):
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
        "bundle": evaluate_bundle_stage,
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


# ---- training diagnostics -------------------------------------------------------------------

def _tiny_training(tiny_model_dir, tiny_llm, tmp_path, adapter, package=None, pairs=PAIRS, **config):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    options = {"rank": 4, "alpha": 16, "epochs": 2, "batch_size": 2, "learning_rate": 1e-2, "warmup_steps": 0}
    return train_lora(model, tiny_llm.tokenizer, pairs, LoraTrainingConfig(**{**options, **config}),
                      tmp_path / "run", adapter, package_dir=package)


def test_training_reports_its_diagnostics_and_saves_the_losses(tiny_model_dir, tiny_llm, tmp_path, capsys):
    adapter = _tiny_training(tiny_model_dir, tiny_llm, tmp_path, tmp_path / "pkg" / "sft_model", tmp_path / "pkg")
    printed = capsys.readouterr().out
    for expected in ("trainable parameters", "supervised label positions", "loss: start", "adapter saved to",
                     str(adapter.resolve()), " MB)"):
        assert expected in printed
    saved = json.loads((adapter / "training_config.json").read_text())
    assert saved["end_loss"] < saved["start_loss"]
    assert f"loss: start {saved['start_loss']:.4f}, end {saved['end_loss']:.4f} (on" in printed


def test_a_loss_that_does_not_fall_is_an_error_and_keeps_the_old_adapter(tiny_model_dir, tiny_llm, tmp_path):
    adapter = tmp_path / "pkg" / "sft_model"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_text("the previous adapter")
    with pytest.raises(LossDidNotFallError, match="did not fall") as error:  # the same batch, barely a step
        _tiny_training(tiny_model_dir, tiny_llm, tmp_path, adapter, tmp_path / "pkg", pairs=PAIRS[:1] * 4,
                       epochs=2, learning_rate=1e-9)
    assert "\n" not in str(error.value) and "not saved into the package" in str(error.value)
    assert (adapter / "adapter_model.safetensors").read_text() == "the previous adapter"
    kept = tmp_path / "run" / "adapter-loss-did-not-fall"
    assert str(kept) in str(error.value) and (kept / "adapter_config.json").is_file(), "the run's work is kept"


def test_the_start_and_end_loss_are_the_mean_over_every_supervised_token(tiny_model_dir, tiny_llm):
    import torch
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = tiny_llm.tokenizer
    examples = [tokenize_example(tokenizer, q, c, 64) for q, c in PAIRS]
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)
    total = tokens = 0.0
    with torch.no_grad():
        for example in examples:  # one at a time: the model's own mean loss, weighted by supervised tokens
            batch = collator([example])
            supervised = int((batch["labels"][:, 1:] != -100).sum())
            total += float(model(**batch).loss) * supervised
            tokens += supervised
    assert probe_loss(model, examples, collator, batch_size=3) == pytest.approx(total / tokens, rel=1e-4)
    assert probe_loss(model, examples[:1], collator) != pytest.approx(probe_loss(model, examples[1:], collator))


def test_the_loss_check_needs_the_end_below_the_start():
    assert check_loss_fell([2.0, 1.5, 0.9]) == (2.0, 0.9)
    for losses in ([1.0, 1.0], [1.0, 0.99999], [1.0, 1.2], [1.0, float("nan")], [1.0]):
        with pytest.raises(LossDidNotFallError):
            check_loss_fell(losses)


def test_an_adapter_outside_its_package_is_refused_before_training(tiny_model_dir, tiny_llm, tmp_path):
    with pytest.raises(AdapterLocationError, match="outside the package") as error:
        _tiny_training(tiny_model_dir, tiny_llm, tmp_path, tmp_path / "elsewhere" / "sft_model", tmp_path / "pkg")
    assert "\n" not in str(error.value) and "--output-dir" in str(error.value)
    assert not (tmp_path / "run").exists(), "nothing was trained"


def test_the_command_lines_print_such_errors_in_one_line_without_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        solution_main(["sft", "train", "--output-dir", str(tmp_path / "sft_model")])
    assert str(exit_.value.code).startswith("error: adapter folder") and "\n" not in str(exit_.value.code)
    assert solution_main(["pipeline", "--sft-questions", "0", "--runs", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: --sft-questions 0: ") and error.count("\n") == 1


# ---- RFT data sampled from the chain-of-thought model -----------------------------------------

def test_cot_samples_are_kept_only_when_exact_and_in_the_rft_format_with_their_source(tiny_llm, tmp_path):
    rows = [["How many g in 5 kg?", 5000.0], ["How many g in 6 kg?", 6000.0], ["How many g in 7 kg?", 7000.0],
            ["How many g in 8 kg?", 8000.0]]
    samples = {
        "5": ["<answer>5 * 1010</answer>", "So:\n<answer> 5 *  1000 </answer><|im_end|> more"],  # 1% off, then exact
        "6": ["<answer>6 * 1010</answer>"],  # right by the course's 5%, not within 0.1%: dropped
        "7": ["<answer>7 kg</answer>", "7 * 1000"],  # wrong; no tags
        "8": ["<answer>" + "1 * " * 30 + "8000</answer>"],  # exact, but longer than the RFT model writes
    }

    def sampler(prompts, count, temperature):
        return [samples[prompt.split()[4]] for prompt in prompts]

    kept = datagen.generate_dataset(tmp_path / "rft.json", 2, 0.7, model=tiny_llm, sampler=sampler, questions=rows)
    assert kept == [["How many g in 5 kg?", 5000.0, " So: <answer>5 * 1000</answer>", "cot-units-sample"]]
    assert json.loads((tmp_path / "rft.json").read_text()) == kept
    from solution.rft import RFTModel

    assert RFTModel.parse_answer(None, kept[0][2]) == 5000.0


def test_rft_training_pairs_are_the_bare_question_and_read_rows_with_or_without_a_source(tmp_path):
    data = tmp_path / "rft.json"
    # rows with and without a source; the last is 0.2% off: dropped
    data.write_text(json.dumps([["How many g in 5 kg?", 5000.0, "<answer>5 * 1000</answer>"],
                                ["How many g in 6 kg?", 6000.0, " <answer>6 * 1000</answer>", "cot-sample"],
                                ["How many g in 7 kg?", 7000.0, " <answer>7 * 1002</answer>", "cot-sample"]]))
    assert rft_pairs(data, with_source=True) == [
        ("How many g in 5 kg?", " <answer>5 * 1000</answer>", "unknown"),
        ("How many g in 6 kg?", " <answer>6 * 1000</answer>", "cot-sample")]


def test_the_default_sampler_is_the_cot_prompt_with_worked_examples_written_per_unit(tiny_model_dir, tmp_path):
    prompts = {}

    def recorder(name):
        def sampler(batch, count, temperature):
            prompts[name] = batch[0]
            return [["<answer>2 * 1000 / 1</answer>"] * count for _ in batch]
        return sampler

    question = [["How many grams are in 2 kilograms?", 2000.0]]
    kept = datagen.generate_dataset(tmp_path / "rft.json", 2, 0.7, sampler=recorder("default"),
                                    checkpoint=str(tiny_model_dir), questions=question)
    datagen.generate_dataset(tmp_path / "graded.json", 2, 0.7, sampler=recorder("cot"), sampler_model="cot",
                             checkpoint=str(tiny_model_dir), questions=question)
    per_unit = re.findall(r"<answer>(\d+) \* 1000 / 1</answer>", prompts["default"])
    assert "You convert units" in prompts["default"] and len(per_unit) == cot.EXAMPLE_COUNT, prompts["default"]
    assert "2" not in per_unit, "never the asked quantity"
    # the graded prompt's examples, the same questions, each with its one factor
    assert re.findall(r"<answer>(\d+) \* 1000</answer>", prompts["cot"]) == per_unit
    assert kept[0][3] == "cot-units-sample"
    with pytest.raises(ValueError, match="unknown sampler"):
        datagen.generate_dataset(tmp_path / "x.json", sampler_model="gpt", questions=[])
