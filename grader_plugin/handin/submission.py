"""Opening a hand-in safely: a package folder or a zip with exactly one top-level package folder.

Nothing here runs submission code.  A zip is checked member by member before anything is
extracted (absolute paths, ``..``, links, several top-level entries, total size, member count);
a folder is checked the same way.  Either is copied (a link as a link, never followed, and refused)
into a fresh folder owned by the grader, so
workers import the submission from a parent folder that holds nothing else, and the grader's
data folder can never be inside it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tomllib
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader_plugin.handin import bounded
from grader_plugin.handin.bundle import CACHE_FOLDERS, bundle_size
from grader_plugin.handin.contract import ENTRY_POINTS
from grader_plugin.text import one_line

MAX_UNCOMPRESSED_BYTES = 300_000_000
MAX_MEMBERS = 5_000
METADATA_FILE = "grader.toml"
IGNORED_TOP_LEVEL = {"__MACOSX"}
CACHE_NAMES = set(CACHE_FOLDERS)


class SubmissionError(ValueError):
    """The hand-in was refused before any of its code ran; the message says why and what to do."""


@dataclass(frozen=True)
class Submission:
    """An opened hand-in.

    :param source: the path that was handed in (folder or zip).
    :param package: the package name (the top-level folder).
    :param folder: the grader's private copy of the package folder.
    :param bundle_bytes: the zip's size, or for a folder the size its bundle would have.
    :param entry_points: entry points declared in the package's ``grader.toml``.
    """

    source: Path
    package: str
    folder: Path
    bundle_bytes: int
    entry_points: dict[str, str] = field(default_factory=dict)

    @property
    def parent(self) -> Path:
        return self.folder.parent

    def files(self) -> list[Path]:
        """Every file of the package copy, sorted."""
        return sorted(p for p in self.folder.rglob("*") if p.is_file())


def _check_member_name(name: str, zip_path: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (path.parts and ":" in path.parts[0]):
        raise SubmissionError(
            f"{zip_path}: member {name!r} has an absolute path; zip the package folder "
            f"with relative paths (python -m grader_plugin bundle FOLDER NAME)"
        )
    if ".." in path.parts:
        raise SubmissionError(
            f"{zip_path}: member {name!r} points outside the archive ('..'); "
            f"rebuild the zip with python -m grader_plugin bundle FOLDER NAME"
        )
    return path


def _is_link(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def check_zip(zip_path: Path, max_bytes: int = MAX_UNCOMPRESSED_BYTES) -> str:
    """Check every member of ``zip_path`` and return the single top-level folder's name."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise SubmissionError(
            f"{zip_path}: not a readable zip ({error}); hand in a zip made by "
            f"python -m grader_plugin bundle FOLDER NAME"
        ) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise SubmissionError(
                f"{zip_path}: {len(infos)} members, more than the limit of {MAX_MEMBERS}; "
                f"leave out caches and checkpoints"
            )
        tops: set[str] = set()
        total = 0
        for info in infos:
            path = _check_member_name(info.filename, zip_path)
            if _is_link(info):
                raise SubmissionError(f"{zip_path}: member {info.filename!r} is a link; zip real files only")
            if not path.parts or path.parts[0] in IGNORED_TOP_LEVEL:
                continue
            if len(path.parts) == 1 and not info.is_dir():
                tops.add(path.parts[0] + " (a file)")
            else:
                tops.add(path.parts[0])
            total += info.file_size
            if total > max_bytes:
                raise SubmissionError(
                    f"{zip_path}: uncompressed size passes the limit of {max_bytes // 10**6} MB; "
                    f"leave out checkpoints and logs"
                )
    if len(tops) != 1:
        listed = ", ".join(sorted(tops)) or "nothing"
        raise SubmissionError(
            f"{zip_path}: expected exactly one top-level package folder, found {listed}; "
            f"zip just the package folder"
        )
    top = tops.pop()
    if top.endswith(" (a file)"):
        raise SubmissionError(f"{zip_path}: the top level holds a file, not a package folder; zip the folder")
    return top


def _check_folder(folder: Path, max_bytes: int) -> None:
    if not (folder / "__init__.py").is_file():
        raise SubmissionError(
            f"{folder}: not a package folder (no __init__.py); hand in the package folder "
            f"that holds __init__.py"
        )
    if not folder.name.isidentifier():
        raise SubmissionError(
            f"{folder}: {folder.name!r} is not an importable package name; rename the folder"
        )
    total = 0
    for path in folder.rglob("*"):
        if path.is_symlink():
            raise SubmissionError(f"{path}: links are not allowed in a hand-in; copy the real file in")
        if path.is_file():
            total += path.stat().st_size
            if total > max_bytes:
                raise SubmissionError(
                    f"{folder}: more than {max_bytes // 10**6} MB of files; leave out checkpoints and logs"
                )


def _refuse_links(copy: Path, source: Path) -> None:
    """Refuse the hand-in when the grader's ``copy`` of it holds a link (named as in ``source``)."""
    for root, folders, files in os.walk(copy):  # links are listed, never entered
        for name in folders + files:
            if os.path.islink(os.path.join(root, name)):
                where = source / Path(os.path.relpath(os.path.join(root, name), copy))
                raise SubmissionError(f"{where}: links are not allowed in a hand-in; copy the real file in")


def read_metadata(folder: Path) -> dict[str, str]:
    """Entry points declared in ``FOLDER/grader.toml`` under ``[entry-points]`` (``cot = "pkg.mod:fn"``)."""
    path = folder / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = bounded.read_toml(path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, bounded.Refused) as error:
        raise SubmissionError(f"{path}: not valid TOML ({one_line(error, 200)}); fix the file or remove it") from None
    table = data.get("entry-points", {})
    if not isinstance(table, dict):
        raise SubmissionError(f'{path}: [entry-points] must be a table of name = "module:attribute"')
    declared: dict[str, str] = {}
    for name, value in table.items():
        if name not in ENTRY_POINTS:
            raise SubmissionError(
                f"{path}: entry-points.{name} is not a known entry point; use one of "
                f"{', '.join(ENTRY_POINTS)}"
            )
        if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
            raise SubmissionError(
                f'{path}: entry-points.{name} = {value!r}; write "module:attribute", '
                f'e.g. "{folder.name}.prompting:load"'
            )
        module = value.split(":")[0]
        if module.startswith("."):
            value = folder.name + value
        elif module.split(".")[0] != folder.name:
            raise SubmissionError(
                f"{path}: entry-points.{name} = {value!r} is outside the package; start "
                f"the module with {folder.name!r} or '.'"
            )
        declared[name] = value
    return declared


def _ignore_caches(_directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in CACHE_NAMES}


def open_submission(path: Path | str, workdir: Path, max_bytes: int = MAX_UNCOMPRESSED_BYTES) -> Submission:
    """Check the hand-in at ``path`` and copy it into ``workdir``.

    Raises :class:`SubmissionError` when the hand-in is refused.
    """
    source = Path(path)
    if not source.exists():
        raise SubmissionError(f"{source}: no such file or folder; give --grade a package folder or a zip")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        source = source.resolve()
        _check_folder(source, max_bytes)
        folder = workdir / source.name
        shutil.copytree(source, folder, symlinks=True, ignore=_ignore_caches)  # a link is copied, never followed
        _refuse_links(folder, source)  # one made after the check above
        size = bundle_size(source)
    elif zipfile.is_zipfile(source):
        top = check_zip(source, max_bytes)
        _extract(source, top, workdir)
        folder = workdir / top
        _check_folder(folder, max_bytes)
        size = source.stat().st_size
    else:
        raise SubmissionError(f"{source}: neither a folder nor a zip; hand in the package folder or its zip")
    drop_bytecode(folder)
    return Submission(
        source=source,
        package=folder.name,
        folder=folder,
        bundle_bytes=size,
        entry_points=read_metadata(folder),
    )


def _extract(source: Path, top: str, workdir: Path) -> None:
    """Extract the members under ``top``, one by one, so a broken member is named in the refusal."""
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            if PurePosixPath(info.filename.replace("\\", "/")).parts[:1] != (top,):
                continue
            try:
                archive.extract(info, workdir)
            except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError,
                    OSError) as error:
                why = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
                raise SubmissionError(
                    f"{source.name}: member {info.filename!r} cannot be extracted ({type(error).__name__}: {why!r}); "
                    f"make the zip again with python -m grader_plugin bundle FOLDER NAME"
                ) from None


def drop_bytecode(folder: Path) -> None:
    """Remove compiled bytecode from the grader's copy, so what runs is the source the scans read.

    A module handed in only as bytecode (``x.pyc`` with no ``x.py``) is refused: nothing could
    read it before it ran.
    """
    for compiled in sorted(folder.rglob("*.py[co]")):
        if "__pycache__" in compiled.parts:
            continue
        if not compiled.with_suffix(".py").is_file():
            raise SubmissionError(
                f"{folder.name}/{compiled.relative_to(folder).as_posix()!s}: a module handed in only as bytecode; "
                f"hand in its .py source instead"
            )
    for compiled in sorted(folder.rglob("*.py[co]"), reverse=True):
        compiled.unlink()
    for cache in sorted(folder.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)

