"""SFT and RFT train in five visible steps from a config dataclass that is saved beside the adapter,
and their command lines take one option per config field."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import pytest

from solution import commands, rft, sft, training
from solution.adapters import save_adapter


class Recorded:
    """Stand-ins for the expensive steps that record what each step was given."""

    def __init__(self, monkeypatch):
        from unitconv import model_loader

        self.calls: dict = {}
        monkeypatch.setattr(model_loader, "load_model", lambda checkpoint=None: "model")
        monkeypatch.setattr(model_loader, "load_tokenizer", lambda checkpoint=None: "tokenizer")
        monkeypatch.setattr(training, "lora_model", self.lora_model)
        monkeypatch.setattr(training, "lora_trainer", self.lora_trainer)
        monkeypatch.setattr(training, "save_trained", self.save_trained)

    def lora_model(self, model, config, init_adapter=None):
        self.calls["lora"] = (config, init_adapter)
        return model

    def lora_trainer(self, model, tokenizer, pairs, config, run_dir):
        self.calls["pairs"] = pairs
        trainer = type("Trainer", (), {"train": lambda _: self.calls.setdefault("trained", True)})()
        return training.LoraRun(trainer, tokenizer, [], None, config, run_dir, 1.0, None)

    def save_trained(self, run, adapter_dir, metadata=None, files=None):
        self.calls["saved"] = (adapter_dir, metadata, files)
        return adapter_dir


def test_sft_trains_on_its_config_and_saves_it_beside_the_adapter(monkeypatch):
    recorded = Recorded(monkeypatch)
    config = sft.SFTConfig(questions=5, shared_spelling_questions=0)
    assert sft.train_model(config) == sft.MODEL_DIR
    adapter_dir, metadata, files = recorded.calls["saved"]
    assert recorded.calls["trained"] and len(recorded.calls["pairs"]) == 5
    assert files == {"sft_config.json": asdict(config)} and metadata["init_adapter"] is None
    assert recorded.calls["lora"][0] == training.LoraTrainingConfig()


def test_rft_continues_the_sft_adapter_at_its_own_learning_rate_and_saves_its_config(monkeypatch):
    from unitconv.paths import data_dir

    recorded = Recorded(monkeypatch)
    rft.train_model(rft.RFTConfig(direct_questions=2), rft_json=data_dir() / "rft.json")
    lora, init_adapter = recorded.calls["lora"]
    assert lora.learning_rate == rft.LEARNING_RATE and init_adapter == sft.MODEL_DIR
    _, metadata, files = recorded.calls["saved"]
    assert files == {"rft_config.json": {"direct_questions": 2, "shared_spelling_questions": 0}}
    assert metadata["sources"]["direct"] == 2 and metadata["init_adapter"] == "sft_model"


def test_a_training_run_outside_the_package_is_refused_before_anything_loads(monkeypatch, tmp_path):
    recorded = Recorded(monkeypatch)
    with pytest.raises(training.AdapterLocationError):
        sft.train_model(sft.SFTConfig(questions=1), output_dir=tmp_path / "sft_model")
    assert recorded.calls == {}


def test_the_command_line_has_one_option_per_config_field_with_its_help(monkeypatch, capsys):
    got = {}
    monkeypatch.setattr(sft, "train_model", lambda config, lora, output_dir: got.update(config=config, lora=lora))
    sft.main(["train", "--questions", "7", "--reworded-share", "0.25", "--rank", "4", "--no-gradient-checkpointing"])
    assert got["config"] == sft.SFTConfig(questions=7, reworded_share=0.25)
    assert got["lora"] == training.LoraTrainingConfig(rank=4)
    with pytest.raises(SystemExit):
        commands.part_command_line(["train", "--help"], "d", sft.MODEL_DIR, sft.train_model, sft.load, rft.RFTConfig)
    shown = capsys.readouterr().out
    for item in fields(rft.RFTConfig):
        assert f"--{item.name.replace('_', '-')}" in shown and item.metadata["help"][:20] in shown.replace("\n", " ")


def test_saving_an_adapter_writes_the_part_config_beside_it(tmp_path):
    class Model:
        def save_pretrained(self, folder):
            folder.mkdir()
            (folder / "adapter_model.safetensors").write_text("weights")

    save_adapter(Model(), tmp_path / "sft_model", {"rank": 8}, {"sft_config.json": {"questions": 3}})
    assert json.loads((tmp_path / "sft_model" / "sft_config.json").read_text()) == {"questions": 3}
    assert json.loads((tmp_path / "sft_model" / "training_config.json").read_text()) == {"rank": 8}
