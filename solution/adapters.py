"""Loading a trained LoRA adapter from the package onto the base model, with clear errors."""

from __future__ import annotations

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
