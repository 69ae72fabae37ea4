"""Worker halves of the ablation probe: disturbed copies of the weights, and disturbing them in memory.

Worker side.  The grader's preferred ablation never lets hand-in code see the undisturbed weights:
a trusted worker (no hand-in code, :func:`disturbed_copy`) writes a copy of the base model with
Gaussian noise added to every weight (scaled to that tensor's root mean square) and zeroes the
LoRA matrices of the hand-in's adapter files in a copy of the hand-in; the probe worker then
answers through the ordinary task with those files served in place of the real ones.  Where the
hand-in loads a model the grader cannot serve (weights it ships, a path of its own), the fallback
:func:`ablated_answers` disturbs the weights in memory after ``load()``.  Either way, a model
whose answers come from its weights cannot answer after that; a lookup or a computation that
bypasses the model still can.  :mod:`grader_plugin.integrity.behaviour` judges what comes back.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from grader_plugin.worker.models import torch_modules
from grader_plugin.worker.values import as_float

WEIGHT_FILES = (".safetensors", ".bin", ".pt", ".gguf")


def _noise(parameter, generator, noise: float) -> None:
    import torch

    scale = parameter.detach().float().pow(2).mean().sqrt().item() * noise
    sample = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
    parameter.add_(sample.to(parameter.device, parameter.dtype) * scale)


def disturbed_copy(model, payload: dict) -> dict:
    """Trusted: write the base model at ``payload["model"]`` with noised weights into ``payload["target"]``,
    and zero the LoRA matrices of every adapter file under ``payload["adapters_under"]``."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    source, target = Path(payload["model"]), Path(payload["target"])
    base = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    generator = torch.Generator().manual_seed(int(payload["seed"]))
    noised = 0
    with torch.no_grad():
        for parameter in base.parameters():
            if parameter.is_floating_point():
                _noise(parameter, generator, float(payload["noise"]))
                noised += 1
    base.save_pretrained(target)
    for item in source.iterdir():  # tokenizer, chat template, generation settings
        if item.is_file() and not item.name.endswith(WEIGHT_FILES) and not (target / item.name).exists():
            shutil.copyfile(item, target / item.name)
    zeroed = 0
    for weights in sorted(Path(payload["adapters_under"]).rglob("adapter_model.safetensors")):
        tensors = load_file(weights)
        for name in tensors:
            if "lora_" in name:
                tensors[name] = torch.zeros_like(tensors[name])
                zeroed += 1
        save_file(tensors, weights, metadata={"format": "pt"})
    return {"tensors_noised": noised, "adapter_tensors_removed": zeroed}


def ablate(model: Any, noise: float, seed: int) -> dict:
    """Remove adapters and noise the weights of every module ``model`` holds; what was changed."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    modules = torch_modules(model)
    done, removed, noised = set(), 0, 0
    with torch.no_grad():
        for module in modules:
            for name, parameter in module.named_parameters():
                if id(parameter) in done or not parameter.is_floating_point():
                    continue
                done.add(id(parameter))
                if "lora_" in name:
                    parameter.zero_()
                    removed += 1
                    continue
                _noise(parameter, generator, noise)
                noised += 1
    return {
        "modules": sorted({type(m).__name__ for m in modules}),
        "tensors_noised": noised,
        "adapter_tensors_removed": removed,
    }


def ablated_answers(model, payload: dict) -> dict:
    """Fallback: answers to ``payload["questions"]`` after :func:`ablate` in memory."""
    ablation = ablate(model, payload["noise"], payload["seed"])
    ablated = []
    if ablation["tensors_noised"] + ablation["adapter_tensors_removed"] and payload["questions"]:
        ablated = list(model.answer(*payload["questions"]))
    return {"answers": [as_float(a) for a in ablated], "ablation": ablation}
