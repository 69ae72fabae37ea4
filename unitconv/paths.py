"""Where the project's data and caches are: one function each, called by every module that needs them.

:func:`data_dir` is the folder holding the question splits (``train.json``, ``valid.json``, and the
reference's ``rft.json``), found in this order:

1. ``$UNITCONV_DATA_DIR`` when it is set;
2. the ``data/`` folder beside the top-level package that holds this module, as in the course's
   layout (in this project's checkout: the repository's ``data/``; in a bundled hand-in that carries
   this module: the ``data/`` folder beside the hand-in's package);
3. otherwise (an installed copy without a checkout): the stored splits made again from their seed
   into the cache folder; the generator reproduces them exactly (a test compares them).

:func:`cache_dir` holds converted models and generated data: ``$UNITCONV_CACHE``, default
``~/.cache/unitconv-grader``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

ENV_DATA = "UNITCONV_DATA_DIR"
ENV_CACHE = "UNITCONV_CACHE"


def cache_dir() -> Path:
    """Folder for converted models and generated data (``$UNITCONV_CACHE``, default ``~/.cache/unitconv-grader``)."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "unitconv-grader")


def _beside_top_package() -> Path:
    """The ``data/`` folder next to the top-level package that holds this module."""
    depth = __name__.count(".")  # unitconv.paths -> 1; homework._unitconv.paths -> 2
    return Path(__file__).resolve().parents[depth] / "data"


def make_readable(folder: Path) -> Path:
    """Let everyone read ``folder`` (libraries save weights owner-only; sandboxed workers run as another user)."""
    for path in [Path(folder), *Path(folder).rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        wanted = mode | (0o555 if path.is_dir() else 0o444)
        if mode != wanted:
            path.chmod(wanted)
    return Path(folder)


def build_once(target: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """``target`` made by ``build(staging_folder)`` unless it already holds ``marker``; returns ``target``.

    The folder is built under a temporary name beside it and renamed when complete, so readers
    never see half of it and concurrent builders (parallel workers) do not corrupt each other.
    Its files are readable by everyone.
    """
    if (target / marker).is_file():
        return make_readable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        make_readable(staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / marker).is_file():  # another process did not win the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _generated() -> Path:
    """The stored splits made again from their seed, once, into the cache folder."""
    from unitconv.questions import SPLIT_SEED, TRAIN_SIZE, VALID_SIZE, write_splits

    return build_once(cache_dir() / f"data-{SPLIT_SEED}", "valid.json",
                      lambda staging: write_splits(staging, TRAIN_SIZE, VALID_SIZE, SPLIT_SEED, quiet=True))


def data_dir() -> Path:
    """The folder holding the question splits (see the module docstring for the order)."""
    configured = os.environ.get(ENV_DATA)
    if configured:
        return Path(configured)
    beside = _beside_top_package()
    if (beside / "valid.json").is_file():
        return beside
    return _generated()
