"""Worker task of the behavioural detectors: answer hidden questions, then answer with ablated weights.

Worker side: runs in a worker next to hand-in code, like :mod:`grader_plugin.worker.tasks`, and
only measures; :mod:`grader_plugin.integrity.behaviour` judges what it returns.
Ablation finds the torch modules the model object holds (itself, its attributes, a few levels
deep), removes LoRA adapters (their ``lora_`` tensors are zeroed, so the adapter adds nothing)
and adds Gaussian noise to every other weight, scaled to that tensor's root mean square.  A
model whose answers come from its weights cannot answer after that; a lookup or a computation
that bypasses the model still can.
"""

from __future__ import annotations

from typing import Any

from grader_plugin.worker.models import torch_modules
from grader_plugin.worker.values import as_float


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
                scale = parameter.detach().float().pow(2).mean().sqrt().item() * noise
                sample = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
                parameter.add_(sample.to(parameter.device, parameter.dtype) * scale)
                noised += 1
    return {
        "modules": sorted({type(m).__name__ for m in modules}),
        "tensors_noised": noised,
        "adapter_tensors_removed": removed,
    }


def hidden_and_ablated(model, payload: dict) -> dict:
    """Answers to ``payload["hidden"]``, then to ``payload["ablation"]`` after :func:`ablate`."""
    hidden = list(model.answer(*payload["hidden"])) if payload["hidden"] else []
    ablation = ablate(model, payload["noise"], payload["seed"])
    ablated = []
    if ablation["tensors_noised"] + ablation["adapter_tensors_removed"] and payload["ablation"]:
        ablated = list(model.answer(*payload["ablation"]))
    return {
        "hidden": [as_float(a) for a in hidden],
        "ablated": [as_float(a) for a in ablated],
        "ablation": ablation,
    }
