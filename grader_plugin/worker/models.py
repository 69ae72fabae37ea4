"""The models a loaded hand-in object holds, and what they are (worker side).

A hand-in's ``BaseLLM`` keeps its transformers model in ``.model``, but nothing forces that:
:func:`torch_modules` finds every ``torch.nn.Module`` reachable through attributes, lists and
dicts.  :func:`describe_models` says what each causal LM is (name or path it was loaded from,
architecture sizes, dtype, device, a LoRA adapter on it), so the grader can tell which base model
the hand-in actually loaded and grade its generation against that model.  Measurements only: the
grader judges them, and checks what it can against the weights it serves itself.
"""

from __future__ import annotations

from typing import Any

SEARCH_DEPTH = 3


def torch_modules(model: Any, depth: int = SEARCH_DEPTH) -> list:
    """The ``torch.nn.Module`` objects reachable from ``model`` through attributes, lists and dicts."""
    import torch

    found, seen, stack = [], set(), [(model, 0)]
    while stack:
        value, level = stack.pop()
        if id(value) in seen or value is None or isinstance(value, str | bytes | int | float):
            continue
        seen.add(id(value))
        if isinstance(value, torch.nn.Module):
            found.append(value)
            continue
        if level >= depth:
            continue
        if isinstance(value, list | tuple | set):
            children = list(value)
        elif isinstance(value, dict):
            children = list(value.values())
        else:
            children = list(getattr(value, "__dict__", {}).values())
        stack.extend((child, level + 1) for child in children)
    return found


def _adapter(module) -> dict | None:
    configs = getattr(module, "peft_config", None)
    if not isinstance(configs, dict) or not configs:
        return None
    config = next(iter(configs.values()))
    return {
        "base_model_name_or_path": getattr(config, "base_model_name_or_path", None),
        "r": getattr(config, "r", None),
        "target_modules": sorted(getattr(config, "target_modules", None) or []),
    }


def describe_models(model: Any) -> list[dict]:
    """What each transformers model held by ``model`` is, as JSON data (an adapter's base is reported)."""
    described = []
    for module in torch_modules(model):
        base = module.get_base_model() if callable(getattr(module, "get_base_model", None)) else module
        config = getattr(base, "config", None)
        if config is None or not hasattr(config, "model_type"):
            continue
        try:
            parameter = next(base.parameters())
            dtype, device = str(parameter.dtype).removeprefix("torch."), str(parameter.device)
        except (StopIteration, TypeError):
            dtype = device = None
        described.append({
            "name_or_path": str(getattr(config, "_name_or_path", "") or ""),
            "model_type": config.model_type,
            "hidden_size": getattr(config, "hidden_size", None),
            "num_hidden_layers": getattr(config, "num_hidden_layers", None),
            "vocab_size": getattr(config, "vocab_size", None),
            "dtype": dtype,
            "device": device,
            "adapter": _adapter(module),
        })
    return described
