"""Finding a class's hand-ins, and what identifies their content.

Two layouts of ``HANDINS``:

- a folder with one zip or folder per student, named by the student id (``alice.zip``,
  ``bob/``); a student's folder is either the package itself (it holds ``__init__.py``) or holds
  exactly one package folder or zip (``bob/homework/``);
- a Gradescope submissions export: ``submission_metadata.yml`` beside one folder per submission
  (``submission_123456/``), whose ``:submitters:`` entries give the students' ``:name:`` and
  ``:sid:``; the submission folder holds the student's files, where the package folder or zip is
  found as in a student's folder above.

A hand-in whose files cannot be graded (no package, two of them, a stray file) is still listed,
with the problem in one line, so the class run records it instead of losing it.  Nothing here runs
or imports hand-in code.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from grader_plugin.handin.bundle import CACHE_FOLDERS

GRADESCOPE_METADATA = "submission_metadata.yml"
IGNORED = {"__MACOSX", *CACHE_FOLDERS}


class HandInsError(ValueError):
    """``HANDINS`` cannot be read as a class (no such folder, unreadable metadata); the message says the fix."""


@dataclass(frozen=True)
class HandIn:
    """One student's (or one Gradescope group's) hand-in.

    :param key: unique in the class: the file or folder name (``alice``), or the Gradescope
        submission folder (``submission_123456``).
    :param student_id: the student id (Gradescope: the submitters' ``:sid:``, ``;``-separated).
    :param name: the student's name (Gradescope: the submitters' names); empty when unknown.
    :param path: the zip or package folder to grade; None when :attr:`problem` says why not.
    :param content_hash: :func:`content_hash` of ``path``.
    :param problem: why this hand-in cannot be graded, in one line; empty when it can.
    """

    key: str
    student_id: str
    name: str = ""
    path: Path | None = None
    content_hash: str = ""
    problem: str = ""


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in IGNORED


def content_hash(path: Path) -> str:
    """sha256 of a zip's bytes, or of a folder's files: relative paths and bytes, in path order.

    Tool caches (``__pycache__`` and friends, never graded) do not count; a link counts as its
    target's text.
    """
    digest = hashlib.sha256()
    path = Path(path)
    if path.is_file():
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    files = sorted(
        (p for p in path.rglob("*") if (p.is_file() or p.is_symlink())
         and not set(p.relative_to(path).parts[:-1]) & set(CACHE_FOLDERS)),
        key=lambda p: p.relative_to(path).as_posix(),
    )
    for file in files:
        relative = file.relative_to(path).as_posix().encode()
        body = f"link:{file.readlink()}".encode() if file.is_symlink() else file.read_bytes()
        digest.update(b"%d:%s%d:" % (len(relative), relative, len(body)))
        digest.update(body)
    return digest.hexdigest()


def find_package(folder: Path) -> Path:
    """The package folder or zip a student's (or submission's) folder holds; raises HandInsError."""
    if (folder / "__init__.py").is_file():
        return folder
    found = sorted(p for p in folder.iterdir() if _visible(p) and (
        (p.is_dir() and (p / "__init__.py").is_file()) or (p.is_file() and p.suffix.lower() == ".zip")))
    if len(found) == 1:
        return found[0]
    if not found:
        raise HandInsError(f"{folder.name}: no package folder (with __init__.py) or zip inside; hand in the "
                           f"zip made by python -m grader_plugin bundle")
    names = ", ".join(p.name for p in found)
    raise HandInsError(f"{folder.name}: {len(found)} packages or zips inside ({names}); keep exactly one")


def _hand_in(key: str, student_id: str, name: str, where: Path) -> HandIn:
    try:
        path = find_package(where) if where.is_dir() else where
    except HandInsError as error:
        return HandIn(key, student_id, name, problem=str(error))
    return HandIn(key, student_id, name, path, content_hash(path))


def _plain(folder: Path, exclude: tuple[Path, ...]) -> list[HandIn]:
    found: list[HandIn] = []
    for entry in sorted(p for p in folder.iterdir() if _visible(p) and p.resolve() not in exclude):
        if entry.is_dir() or entry.suffix.lower() == ".zip":
            key = entry.name if entry.is_dir() else entry.stem
            twin = next((h for h in found if h.key == key), None)
            if twin is not None:  # alice/ and alice.zip: which one counts is the staff's call, not ours
                found[found.index(twin)] = HandIn(key, key, problem=f"{key}: both {key}/ and {key}.zip are there; "
                                                  f"keep one")
                continue
            found.append(_hand_in(key, key, "", entry))
        else:
            found.append(HandIn(entry.name, entry.stem, problem=f"{entry.name}: neither a zip nor a folder; hand "
                                f"in one zip or package folder per student (or move the file out of {folder})"))
    return found


def _submitters(entry, source: Path) -> tuple[str, str]:
    """Student ids and names of one Gradescope metadata entry."""
    if not isinstance(entry, dict):
        raise HandInsError(f"{source}: an entry is not a mapping with :submitters:; export the submissions again")
    people = [p for p in entry.get(":submitters") or [] if isinstance(p, dict)]
    ids = [str(p.get(":sid") or p.get(":email") or "").strip() for p in people]
    names = [str(p.get(":name") or "").strip() for p in people]
    return ";".join(i for i in ids if i), " & ".join(n for n in names if n)


def _gradescope(folder: Path, exclude: tuple[Path, ...]) -> list[HandIn]:
    import yaml

    source = folder / GRADESCOPE_METADATA
    try:
        metadata = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise HandInsError(f"{source}: cannot be read ({type(error).__name__}: {str(error).splitlines()[0]}); "
                           f"export the submissions from Gradescope again") from None
    if not isinstance(metadata, dict):
        raise HandInsError(f"{source}: expected a mapping of submission folders; export the submissions again")
    folders = {p.name: p for p in folder.iterdir() if p.is_dir() and _visible(p) and p.resolve() not in exclude}
    found = []
    for key in sorted(set(folders) | {str(k) for k in metadata}):
        student_id, name = _submitters(metadata.get(key, {}), source)
        if key not in folders:
            found.append(HandIn(key, student_id or key, name, problem=f"{key}: listed in {GRADESCOPE_METADATA} "
                                f"but there is no such folder; export the submissions again"))
        else:
            found.append(_hand_in(key, student_id or key, name, folders[key]))
    return found


def discover(folder: Path | str, exclude: tuple[Path, ...] = ()) -> list[HandIn]:
    """Every hand-in in ``folder`` (either layout), sorted by key; ``exclude``: folders to pass over."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HandInsError(f"{folder}: no such folder; give the folder holding one zip or package folder per "
                           f"student, or a Gradescope export")
    exclude = tuple(Path(p).resolve() for p in exclude)
    if (folder / GRADESCOPE_METADATA).is_file():
        return _gradescope(folder, exclude)
    return _plain(folder, exclude)


def pack(path: Path) -> tuple[str, bytes]:
    """A hand-in as bytes, to travel to a node that cannot read ``path``: ``("zip", bytes)`` or ``("tar", bytes)``."""
    path = Path(path)
    if path.is_file():
        return "zip", path.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(path, arcname=path.name, filter=lambda info: None if set(info.name.split("/")) & IGNORED
                    else info)
    return "tar", buffer.getvalue()


def unpack(kind: str, blob: bytes, name: str, target: Path) -> Path:
    """Put a packed hand-in (see :func:`pack`) under ``target`` as ``name``; returns its path there.

    A folder comes back through tarfile's ``data`` filter (no absolute paths, nothing outside
    ``target``, no device files); the grader then checks it as it checks any hand-in.
    """
    target.mkdir(parents=True, exist_ok=True)
    if kind == "zip":
        path = target / name
        path.write_bytes(blob)
        return path
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as archive:
        archive.extractall(target, filter="data")
    return target / name
