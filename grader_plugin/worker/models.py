"""The models a loaded hand-in object holds, and what they are (worker side).

A hand-in's ``BaseLLM`` keeps its transformers model in ``.model``, but nothing forces that:
:func:`torch_modules` finds every ``torch.nn.Module`` reachable through attributes, lists,
dicts and class attributes at any depth, and from the globals of the hand-in's own modules.
:func:`describe_models` says what each causal LM is (name or path it was loaded from, architecture
sizes, dtype, device, a LoRA adapter on it), so the grader can tell which base model the hand-in
actually loaded and replay its answers with that model.  Measurements only: the
grader judges them, and checks what it can against the weights it serves itself.
"""

from __future__ import annotations

from typing import Any

MAX_VISITED = 200_000
"""Objects :func:`torch_modules` looks at before it stops: a bound on the walk, not on its depth."""


def _children(value) -> list:
    import types

    if isinstance(value, types.MethodType):
        return [value.__self__, value.__func__]
    if isinstance(value, types.FunctionType):  # closures and defaults, not the globals of its module
        cells = [cell.cell_contents for cell in value.__closure__ or () if _filled(cell)]
        return cells + list(value.__defaults__ or ()) + list((value.__kwdefaults__ or {}).values())
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, type):  # class attributes (``class Model: llm = ...``), not its bases
        return [v for k, v in vars(value).items() if not k.startswith("__")]
    attributes = getattr(value, "__dict__", None)
    children = list(attributes.values()) if isinstance(attributes, dict) else []
    slots = getattr(type(value), "__slots__", ())
    children += [getattr(value, name, None) for name in ([slots] if isinstance(slots, str) else slots)]
    return children


def _filled(cell) -> bool:
    try:
        return cell.cell_contents is not cell  # raises ValueError for an empty cell
    except ValueError:
        return False


def handin_roots(package: str | None) -> list:
    """The globals of every imported module of the hand-in's ``package``, and its classes.

    A model kept in a module-level variable or a class attribute is found from here even when the
    loaded object holds no reference to it.
    """
    import sys

    if not package:
        return []
    roots = []
    for name, module in list(sys.modules.items()):
        if module is not None and (name == package or name.startswith(package + ".")):
            roots += [v for k, v in list(vars(module).items()) if not k.startswith("__")]
    return roots


def torch_modules(model: Any, package: str | None = None) -> list:
    """Every ``torch.nn.Module`` reachable from ``model`` (and the hand-in's module globals), at any depth.

    The walk goes through attributes, slots, lists, dicts and class attributes; modules are not
    entered (their own submodules belong to them), functions give their closures and defaults but
    not their module's globals (only the hand-in's own modules' globals are roots), and at most
    :data:`MAX_VISITED` objects are looked at.
    """
    import types

    import torch

    found, seen = [], set()
    stack = [*reversed(handin_roots(package)), model]  # the loaded object's own models come first
    skipped = (str, bytes, int, float, complex, bool, types.ModuleType, types.BuiltinFunctionType)
    while stack and len(seen) < MAX_VISITED:
        value = stack.pop()
        if value is None or id(value) in seen or isinstance(value, skipped):
            continue
        seen.add(id(value))
        if isinstance(value, torch.nn.Module):
            found.append(value)
            continue
        try:
            stack.extend(_children(value))
        except Exception:  # noqa: BLE001 - an object that refuses inspection holds nothing we can see
            continue
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


def describe_models(model: Any, package: str | None = None) -> list[dict]:
    """What each transformers model held by ``model`` (or the hand-in's globals) is, as JSON data.

    An adapter's base is reported with the adapter.  Models the loaded object holds come first.
    """
    described = []
    for module in torch_modules(model, package):
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
