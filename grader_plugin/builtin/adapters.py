"""Built-in rule: a part whose adapter folder is broken gets one line naming the folder and the fix.

Course hand-ins keep their LoRA adapters in ``PKG/sft_model/`` and ``PKG/rft_model/`` and load
them with peft in ``load()``.  What goes wrong in real hand-ins: the folder holds only
``checkpoint-N/`` subfolders, only a README or logs, an ``adapter_config.json`` without weights,
or an adapter trained on another base model (the course's 360M model, hidden size 960, while a
smaller model serves that id here).  peft's own errors name temporary paths and tensor shapes;
this plugin (``grader_adjust_result``, grader side, reading files only) replaces them with the
cause, and notes a broken folder even when ``load()`` worked around it.  The folder is the
hand-in's: its ``adapter_config.json`` and its safetensors header are read within the bounds of
:mod:`grader_plugin.handin.bounded`.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.handin import bounded
from unitconv.course import ADAPTER_WEIGHT_FILES

ADAPTER_FOLDERS = {"sft": "sft_model", "rft": "rft_model"}
ADAPTER_ERRORS = re.compile(r"adapter|peft|lora|state_dict|size mismatch|repo id|config\.json", re.IGNORECASE)
"""What a failed ``load()`` says when its adapter folder is the cause (peft's and the hub library's words)."""
INPUT_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj")
"""Layers whose input is the hidden state (``down_proj``'s is the wider intermediate state)."""


def _listing(folder: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "") if names else "nothing"


def adapter_width(weights: Path) -> int | None:
    """The input width of the adapter's first LoRA ``A`` matrix (the base model's hidden size), or None.

    Raises :class:`grader_plugin.handin.bounded.Refused` when the file's header is longer than a header may be.
    """
    if weights.suffix != ".safetensors":
        return None
    from safetensors import safe_open

    try:
        bounded.check_safetensors_header(weights)
    except OSError:
        return None
    try:
        with safe_open(str(weights), framework="np") as handle:
            for key in sorted(handle.keys()):
                if "lora_A" in key and any(p in key for p in INPUT_PROJECTIONS):
                    return int(handle.get_slice(key).get_shape()[-1])
    except Exception:  # noqa: BLE001 - a corrupt file: peft's own error says so
        return None
    return None


def diagnose(folder: Path, shown: str, served_config) -> str | None:
    """What is wrong with the adapter folder ``folder`` (shown as ``shown``), or None.

    ``served_config(name)`` is the ``config.json`` of the model serving ``name`` in this run, or {}.
    """
    if not folder.is_dir():
        return f"{shown}: no such folder; save the trained adapter there (model.save_pretrained('{shown}'))"
    config_file = folder / "adapter_config.json"
    if not config_file.is_file():
        checkpoints = sorted(folder.glob("checkpoint-*/adapter_config.json"), key=lambda p: p.stat().st_mtime)
        if checkpoints:
            latest = checkpoints[-1].parent.name
            return (f"{shown} holds an adapter only in {latest}/; copy its adapter_config.json and "
                    f"adapter_model.safetensors into {shown} (trainer.save_model('{shown}') writes them there)")
        return (f"{shown} has no adapter_config.json (it holds {_listing(folder)}); save the trained adapter "
                f"there with model.save_pretrained('{shown}')")
    weights = [folder / name for name in ADAPTER_WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        return (f"{shown}/adapter_config.json has no adapter weights beside it (no adapter_model.safetensors); "
                f"model.save_pretrained('{shown}') writes both")
    again = f"save the adapter again with model.save_pretrained('{shown}')"
    try:
        config = bounded.read_json(config_file)
    except bounded.Refused as error:
        return f"{shown}/adapter_config.json {error}; {again}"
    if not isinstance(config, dict):
        return f"{shown}/adapter_config.json is not a JSON object; {again}"
    try:
        width = adapter_width(weights[0])
    except bounded.Refused as error:
        return f"{shown}/{weights[0].name} {error}; {again}"
    base = config.get("base_model_name_or_path")
    base = base if isinstance(base, str) else ""
    served = served_config(base) if base else {}
    hidden = served.get("hidden_size")
    if width and hidden and width != hidden:
        return (f"{shown} was trained for {base} with hidden size {width}, but the model serving {base} here "
                f"has hidden size {hidden}; grade with the model it was trained on (--grade-model-map {base}=PATH) "
                f"or retrain the adapter on this one")
    return None


@hookimpl
def grader_adjust_result(check, result, outcome, context):
    folder_name = ADAPTER_FOLDERS.get(check.entry_point or "")
    if folder_name is None or outcome is None or outcome.status == "missing":
        return
    submission = context.submission
    from grader_plugin.launch.model_map import model_config

    folder = submission.folder / folder_name
    problem = diagnose(folder, f"{submission.package}/{folder_name}",
                       lambda name: model_config(context.model_folder(name)))
    if problem is None:
        return
    if outcome.ok:
        if folder.is_dir():  # a hand-in without adapters is not this rule's business
            result.details.append(f"warning: {problem} (load() worked around it; the graded model may not be "
                                  f"the trained one)")
        return
    if ADAPTER_ERRORS.search(outcome.reason) or folder_name in outcome.reason:
        result.details.insert(0, f"the worker's error: {result.reason}")
        result.reason = problem
        result.facts["cause"] = "adapter"
