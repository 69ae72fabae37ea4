"""What the trusted replay decodes with: a base model the grader serves and the hand-in's adapter folder.

Grader side, used by :mod:`grader_plugin.integrity.replay`.  The worker reported what the loaded
object holds (:func:`grader_plugin.worker.models.describe_models`): hand-in side, so it only
narrows the choice.  The base model must be one the grader serves, by the same rule as the
generation parts' judge (:func:`grader_plugin.launch.judge.served_name`): a path the hand-in names
elsewhere, its own package included, is never decoded as the judge of its own answers.  The
adapter is looked for among the hand-in's adapter folders (the part's own first), by the rank
and target modules reported.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader_plugin.builtin.adapters import ADAPTER_FOLDERS
from grader_plugin.launch.judge import served_folder, served_name
from grader_plugin.text import one_line

MAX_CONFIG_BYTES = 64_000
"""An ``adapter_config.json`` larger than this is not read (a real one is about 1 KB)."""
MAX_FOLDERS = 32
"""Adapter folders of a hand-in looked at, at most."""


def _config(folder: Path) -> dict | None:
    path = folder / "adapter_config.json"
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return config if isinstance(config, dict) else None


def _adapter_folders(package: Path, part: str | None) -> list[Path]:
    own = package / ADAPTER_FOLDERS.get(part or "", "")
    found = [own] if own != package else []
    for config in sorted(package.rglob("adapter_config.json"))[:MAX_FOLDERS]:
        if config.parent not in found and not config.is_symlink():
            found.append(config.parent)
    return found


def _matches(config: dict, reported: dict) -> bool:
    rank, modules = reported.get("r"), reported.get("target_modules") or []
    targets = config.get("target_modules")
    targets = sorted(targets) if isinstance(targets, list) else [targets] if isinstance(targets, str) else []
    return config.get("r") == rank and (not modules or sorted(map(str, modules)) == sorted(map(str, targets)))


def choose(check, outcome, context) -> tuple[dict | None, str]:
    """``({"model", "dtype", "adapter"}, "")`` to replay with, or ``(None, why the grader cannot)``."""
    model = next(m for m in outcome.models if isinstance(m, dict))
    name = str(model.get("name_or_path") or "")
    served = served_name(context, name) if name else None
    folder = served_folder(context, served) if served else None
    if folder is None:
        return None, (f"the model it answers with, {one_line(name or 'a model without a name', 120)}, is not one "
                      f"the grader serves (a hub id it maps, or the run's base model), so its outputs cannot be "
                      f"replayed; load the course's base model by its hub id")
    adapter = None
    if isinstance(model.get("adapter"), dict):
        package = Path(context.submission.folder)
        candidates = [f for f in _adapter_folders(package, check.entry_point) if (c := _config(f)) and _matches(
            c, model["adapter"])]
        if not candidates:
            return None, (f"the model carries a LoRA adapter (rank {model['adapter'].get('r')!s}) that matches no "
                          f"adapter folder of the hand-in; save the adapter the part loads inside the package "
                          f"(e.g. {package.name}/{ADAPTER_FOLDERS.get(check.entry_point or '', 'sft_model')}/)")
        adapter = str(candidates[0])
    return {"model": str(folder), "dtype": model.get("dtype"), "adapter": adapter}, ""
