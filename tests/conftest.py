"""Shared fixtures (a tiny random Llama with the real tokenizer, built once per session), and the guard
that keeps the ``workers`` marker truthful."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from no_workers.no_workers_guard import STATE_VARIABLE, guarded_init, set_running

NO_WORKERS_SITE = Path(__file__).resolve().parent / "no_workers"
"""Holds the ``sitecustomize`` that puts the no-workers guard into a test's child Python processes."""
_refusal_numbers = itertools.count()

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


_REFUSALS = pytest.StashKey[Path]()
_guard = pytest.MonkeyPatch()


def pytest_configure(config):
    """For the whole session: the guard in this process and, through ``PYTHONPATH``, in child Pythons."""
    folder = Path(tempfile.mkdtemp(prefix="unitconv-no-workers-"))
    config.stash[_REFUSALS] = folder
    set_running(folder / "state", None)
    _guard.setenv(STATE_VARIABLE, str(folder / "state"))
    _guard.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(NO_WORKERS_SITE), os.environ.get("PYTHONPATH")])))
    _guard.setattr(subprocess.Popen, "__init__", guarded_init(subprocess.Popen.__init__))


def pytest_unconfigure(config):
    _guard.undo()
    shutil.rmtree(config.stash.get(_REFUSALS, ""), ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """While a test not marked ``workers`` runs (its fixtures too, of any scope), refuse worker starts.

    This keeps the marker truthful, so ``-m "not workers"`` is the fast layer by construction.  A
    refused start raises, in this process or a child Python process, and is noted in the test's
    refusal file, which :func:`pytest_runtest_makereport` turns into a teardown failure even when
    the grader caught the error and went on.
    """
    folder = item.config.stash[_REFUSALS]
    if not isinstance(item, pytest.Function):  # a grading run's parts (``pytest --grade``) are no tests
        set_running(folder / "state", None)
        yield
        return
    refusals = None if item.get_closest_marker("workers") else folder / f"{next(_refusal_numbers)}.txt"
    if refusals:
        item.stash[_REFUSALS] = refusals
    set_running(folder / "state", refusals)
    try:
        yield
    finally:
        set_running(folder / "state", None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail the teardown of a test not marked ``workers`` that started a grader worker."""
    outcome = yield
    refusals = item.stash.get(_REFUSALS, None)
    if call.when != "teardown" or refusals is None or not refusals.exists():
        return
    noted = refusals.read_text(encoding="utf-8").strip()
    if noted:
        report = outcome.get_result()
        report.outcome = "failed"
        report.longrepr = f"this test starts grader workers but is not marked `workers`:\n{noted}"


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
