"""LoRA adapter folders: loading one from the package onto the base model (clear errors), saving one whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors")


class AdapterError(RuntimeError):
    """A packaged adapter folder is missing, incomplete or does not fit the base model."""


def load_with_adapter(adapter_dir: Path, llm_class, train_command: str, checkpoint: str | None = None,
                      **kwargs):
    """An ``llm_class`` instance whose model is the base model plus the adapter in ``adapter_dir``."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    missing = [name for name in REQUIRED_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise AdapterError(f"{adapter_dir}: no trained adapter ({', '.join(missing)} missing); "
                           f"train one with `{train_command}`")
    llm = llm_class(checkpoint, **kwargs)
    try:
        model = PeftModel.from_pretrained(llm.model, str(adapter_dir))
    except Exception as error:  # peft raises several types for corrupt or mismatched adapters
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AdapterError(f"{adapter_dir}: adapter does not load onto base model "
                           f"{llm.model.config.name_or_path!r} ({first_line}); retrain it with "
                           f"`{train_command}` for this base model") from None
    llm.model = model.eval()
    return llm


def folder_megabytes(folder: Path) -> float:
    """Size of the files in ``folder`` in MB (10**6 bytes)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 1e6


def save_adapter(model, adapter_dir: Path, metadata: dict, files: dict[str, dict] | None = None) -> None:
    """Replace ``adapter_dir`` with the adapter weights, its config, the training config and ``files``.

    The new adapter is written beside the old one (``NAME.saving``) and swapped in with two
    renames, so an interruption never leaves half an adapter: at worst the old one waits as
    ``NAME.old`` during the instant between the renames.
    """
    adapter_dir = Path(adapter_dir)
    staging = adapter_dir.with_name(adapter_dir.name + ".saving")
    retired = adapter_dir.with_name(adapter_dir.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)
    model.save_pretrained(staging)
    for name, content in {"training_config.json": metadata, **(files or {})}.items():
        (staging / name).write_text(json.dumps(content, indent=2) + "\n")
    (staging / "README.md").unlink(missing_ok=True)
    if adapter_dir.exists():
        adapter_dir.rename(retired)
    staging.rename(adapter_dir)
    shutil.rmtree(retired, ignore_errors=True)
