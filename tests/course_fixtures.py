"""Builds the course-layout fixture hand-ins (``fixtures/course_layout/``) into a folder, on the tiny model.

Each fixture is the template hand-in (``template/homework``, the starter code's layout: the base
model loaded by hub id, adapters in ``sft_model/`` and ``rft_model/``) changed as its
``fixture.toml`` says (text edits, extra files), with LoRA adapters made for the tiny model, and
the course's ``data/`` folder beside the package.  Adapters are made here rather than stored, so
the repository holds no binary weights and they always fit the tiny model the tests build.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE_LAYOUT = ROOT / "fixtures" / "course_layout"
HUB_ID = "HuggingFaceTB/SmolLM2-360M-Instruct"
FIXTURES = sorted(p.name for p in COURSE_LAYOUT.iterdir() if (p / "fixture.toml").is_file())


def _lora(model, hub_id: str, folder: Path, modules="all-linear") -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=16, target_modules=modules, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:  # a trained adapter changes the model; a fresh one (B = 0) would not
                parameter.normal_(0, 0.02)
    peft_model.save_pretrained(folder)
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = hub_id
    config_path.write_text(json.dumps(config, indent=2))
    (folder / "README.md").unlink(missing_ok=True)
    peft_model.unload()


def make_adapter(kind: str, folder: Path, tiny_model_dir: Path) -> None:
    """An adapter folder of ``kind``: trained, checkpoint-only, config-only, other-base or none."""
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    if kind == "none":
        return
    folder.mkdir(parents=True)
    if kind == "other-base":  # shaped like an adapter of SmolLM2-360M: hidden size 960
        wide = LlamaConfig(vocab_size=256, hidden_size=960, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=15, num_key_value_heads=5)
        _lora(LlamaForCausalLM(wide), HUB_ID, folder, modules=["q_proj", "v_proj"])
        return
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    if kind == "checkpoint-only":
        _lora(model, HUB_ID, folder / "checkpoint-12")
        (folder / "checkpoint-12" / "trainer_state.json").write_text('{"global_step": 12}\n')
        (folder / "events.out.tfevents.1700000000.host.1.0").write_bytes(b"\0" * 64)
        return
    _lora(model, HUB_ID, folder)
    if kind == "config-only":
        for weights in folder.glob("adapter_model.*"):
            weights.unlink()
    elif kind != "trained":
        raise ValueError(f"unknown adapter kind {kind!r} in a fixture.toml")


def build(name: str, target: Path, tiny_model_dir: Path, data_dir: Path) -> Path:
    """The fixture ``name`` as a course checkout under ``target``; returns its ``homework`` folder."""
    spec = tomllib.loads((COURSE_LAYOUT / name / "fixture.toml").read_text())
    checkout = target / name
    package = checkout / "homework"
    shutil.copytree(COURSE_LAYOUT / "template" / "homework", package)
    extra = COURSE_LAYOUT / name / "homework"
    if extra.is_dir():
        shutil.copytree(extra, package, dirs_exist_ok=True)
    for edit in spec.get("edit", []):
        path = package / edit["file"]
        text = path.read_text()
        if edit["old"] not in text:
            raise ValueError(f"fixtures/course_layout/{name}/fixture.toml: {edit['file']} has no {edit['old'][:40]!r}")
        path.write_text(text.replace(edit["old"], edit["new"]))
    for folder, kind in spec.get("adapters", {}).items():
        make_adapter(kind, package / folder, tiny_model_dir)
    (checkout / "data").mkdir()
    for split in ("train.json", "valid.json"):
        shutil.copyfile(data_dir / split, checkout / "data" / split)
    return package
