"""Making the hand-in zip: the package folder without caches, checkpoints, trainer state or logs.

``python -m grader_plugin bundle FOLDER NAME`` writes ``NAME.zip`` with ``FOLDER``'s name as its
only top-level folder, the shape the course and :mod:`grader_plugin.submission` expect.  Above
the course's 50 MB it refuses and lists the largest files, which are almost always old trainer
checkpoints.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
import zipfile
from pathlib import Path

from unitconv.course import ADAPTER_WEIGHT_FILES, MAX_ADAPTER_BYTES, MAX_BUNDLE_BYTES

CACHE_FOLDERS = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".ipynb_checkpoints")
"""Tool caches: never bundled, never copied into the grader's copy of a hand-in."""
EXCLUDED_FOLDERS = (
    *CACHE_FOLDERS,
    ".git",
    "checkpoint-*",
    "runs",
    "wandb",
    "logs",
)
EXCLUDED_FILES = (
    "*.pyc",
    ".DS_Store",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "trainer_state.json",
    "training_args.bin",
    "events.out.tfevents.*",
)


class BundleError(ValueError):
    """The bundle could not be made; the message says why and what to remove."""


def _excluded(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def bundle_files(folder: Path) -> list[Path]:
    """Files of ``folder`` that go into the bundle, sorted; links are refused."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"{folder}: no such folder; give the package folder to bundle")
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _excluded(d, EXCLUDED_FOLDERS))
        for name in sorted(names):
            path = Path(root) / name
            if _excluded(name, EXCLUDED_FILES):
                continue
            if path.is_symlink():
                raise BundleError(f"{path}: is a link; replace it with the real file or remove it")
            files.append(path)
    return files


def large_adapters(files: list[Path], limit: int = MAX_ADAPTER_BYTES) -> list[tuple[Path, int]]:
    """Adapter weight files above ``limit`` bytes."""
    return [(p, p.stat().st_size) for p in files if p.name in ADAPTER_WEIGHT_FILES and p.stat().st_size > limit]


def _write_zip(folder: Path, files: list[Path], target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, (Path(folder.name) / path.relative_to(folder)).as_posix())


def bundle_size(folder: Path) -> int:
    """Bytes of the zip that :func:`make_bundle` would write for ``folder``."""
    folder = Path(folder).resolve()
    with tempfile.TemporaryDirectory(prefix="unitconv-bundle-") as scratch:
        target = Path(scratch) / "bundle.zip"
        _write_zip(folder, bundle_files(folder), target)
        return target.stat().st_size


def megabytes(size: int) -> str:
    """``size`` bytes as decimal megabytes, the course's unit (``51.0 MB``)."""
    return f"{size / 1e6:.1f} MB"


def make_bundle(
    folder: Path | str, name: str | Path, max_bytes: int = MAX_BUNDLE_BYTES
) -> tuple[Path, list[str]]:
    """Write ``NAME.zip`` from ``folder``; return its path and warnings (large adapters).

    Raises :class:`BundleError` when the zip would pass ``max_bytes``, listing the largest files.
    """
    folder = Path(folder).resolve()
    if not (folder / "__init__.py").is_file():
        raise BundleError(f"{folder}: not a package folder (no __init__.py); bundle the folder that holds it")
    target = Path(name)
    if target.suffix != ".zip":
        target = target.with_name(target.name + ".zip")
    files = bundle_files(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial")
    _write_zip(folder, files, staging)
    size = staging.stat().st_size
    if size > max_bytes:
        staging.unlink()
        largest = sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:5]
        listing = ", ".join(f"{p.relative_to(folder)} ({megabytes(p.stat().st_size)})" for p in largest)
        raise BundleError(
            f"{folder}: the zip would be {megabytes(size)}, above the {megabytes(max_bytes)} limit; "
            f"largest files: {listing}"
        )
    os.replace(staging, target)
    warnings = [
        f"{p.relative_to(folder)} is {megabytes(s)}, above the {megabytes(MAX_ADAPTER_BYTES)} an adapter should "
        f"stay under (lower the LoRA rank)"
        for p, s in large_adapters(files)
    ]
    return target, warnings
