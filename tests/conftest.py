"""Shared fixtures: a tiny random Llama with the real tokenizer, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Two cores: keep torch from oversubscribing them when several tests or workers run.
os.environ.setdefault("OMP_NUM_THREADS", "2")

# pytester runs give pytest a fresh HOME; name the grader's cache folder here so that those runs
# share the converted embedded model and the measured speed figures instead of making them again.
os.environ.setdefault("UNITCONV_CACHE", str(Path.home() / ".cache" / "unitconv-grader"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Folder with a tiny randomly initialised Llama and the embedded model's tokenizer."""
    from unitconv.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_llm(tiny_model_dir):
    """A ``BaseLLM`` on the tiny model, with a short generation budget."""
    from solution.base_llm import BaseLLM

    return BaseLLM(str(tiny_model_dir), device="cpu", max_new_tokens=12)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need a CUDA device; skip them (with the reason) where none exists."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run `tox -e gpu` on a GPU machine)")
    for item in gpu_items:
        item.add_marker(skip)
