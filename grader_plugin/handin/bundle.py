"""Making the hand-in zip: the package folder without caches, checkpoints, trainer state or logs.

``python -m grader_plugin bundle FOLDER NAME`` writes ``NAME.zip`` with one top-level folder, the
shape the course and :mod:`grader_plugin.handin.submission` expect, named ``homework`` (the course's
package name; ``--keep-name`` keeps ``FOLDER``'s own name).  The zip is a drop-in hand-in: the
course's grader imports it without this project installed, so the core modules the package
imports travel inside it with relative imports (:mod:`grader_plugin.handin.vendoring`).  Above the
course's 50 MB it refuses and lists the largest files, which are almost always old trainer
checkpoints.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
import zipfile
from pathlib import Path

from grader_plugin.handin.vendoring import VendoringError, check_renamable, parse_sources, vendored_files
from unitconv.course import ADAPTER_WEIGHT_FILES, MAX_ADAPTER_BYTES, MAX_BUNDLE_BYTES

COURSE_PACKAGE = "homework"
"""The course's package name, which the command line gives the bundle's top-level folder."""

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


Entry = tuple[str, Path | str]
"""A zip member: its name and either the file to copy or the text to write."""


def _write_zip(entries: list[Entry], target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, content in entries:
            if isinstance(content, Path):
                archive.write(content, member)
            else:
                archive.writestr(member, content)


def _plain_entries(folder: Path, files: list[Path]) -> list[Entry]:
    return [((Path(folder.name) / path.relative_to(folder)).as_posix(), path) for path in files]


def bundle_entries(folder: Path, files: list[Path], package: str | None = None) -> tuple[list[Entry], list[str]]:
    """The zip members for ``files`` of ``folder`` under the top-level name ``package``, and warnings.

    Refuses a rename the package's own imports would break, and carries the core modules the
    package imports (see :mod:`grader_plugin.handin.vendoring`).
    """
    name = package or folder.name
    if not name.isidentifier():
        raise BundleError(f"{name!r}: not a valid package name; give a Python identifier such as {COURSE_PACKAGE}")
    sources, warnings = parse_sources(folder, files)
    try:
        if name != folder.name:
            check_renamable(sources, folder.name, name)
        changed, carried = vendored_files(sources, folder, {path.relative_to(folder) for path in files})
    except VendoringError as error:
        raise BundleError(str(error)) from None
    entries: list[Entry] = []
    for path in files:
        relative = path.relative_to(folder)
        entries.append(((Path(name) / relative).as_posix(), changed.get(relative, path)))
    entries.extend(((Path(name) / relative).as_posix(), text) for relative, text in sorted(carried.items()))
    return entries, warnings


def bundle_size(folder: Path) -> int:
    """Bytes of the zip that :func:`make_bundle` would write for ``folder``."""
    folder = Path(folder).resolve()
    with tempfile.TemporaryDirectory(prefix="unitconv-bundle-") as scratch:
        target = Path(scratch) / "bundle.zip"
        _write_zip(_plain_entries(folder, bundle_files(folder)), target)
        return target.stat().st_size


def megabytes(size: int) -> str:
    """``size`` bytes as decimal megabytes, the course's unit (``51.0 MB``)."""
    return f"{size / 1e6:.1f} MB"


def make_bundle(
    folder: Path | str, name: str | Path, max_bytes: int = MAX_BUNDLE_BYTES, package: str | None = None
) -> tuple[Path, list[str]]:
    """Write ``NAME.zip`` from ``folder``; return its path and warnings (large adapters, unreadable files).

    The top-level folder is named ``package`` (default: the folder's own name).  Raises
    :class:`BundleError` when the zip would pass ``max_bytes``, listing the largest files, or when
    the package cannot be renamed or made self-contained, naming the line.
    """
    folder = Path(folder).resolve()
    if not (folder / "__init__.py").is_file():
        raise BundleError(f"{folder}: not a package folder (no __init__.py); bundle the folder that holds it")
    target = Path(name)
    if target.suffix != ".zip":
        target = target.with_name(target.name + ".zip")
    files = bundle_files(folder)
    entries, warnings = bundle_entries(folder, files, package)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial")
    _write_zip(entries, staging)
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
    warnings += [
        f"{p.relative_to(folder)} is {megabytes(s)}, above the {megabytes(MAX_ADAPTER_BYTES)} an adapter should "
        f"stay under (lower the LoRA rank)"
        for p, s in large_adapters(files)
    ]
    return target, warnings
