"""Each worker's own copy of the hand-in: made fresh, always at the same path, deleted after the worker.

A worker that imports the hand-in may write its package (a course ``load()`` saves a fresh
adapter into it), so no two workers may share a copy: a note left in a file (even one rewritten
with the same length and its modification time set back), a link to a folder or a dangling link
would tell a later worker (an integrity probe) that it is not the first.  Every such worker gets
a fresh copy, made from the pristine copy the grader took when it opened the hand-in (or, for a
probe, from the folder the probe names), presented at one path for every worker of the run, and
deleted when the worker ends.  What the worker changed is found by content hash and file type,
links compared by their target and never followed.  No copy made here follows a link: links are
copied as links.  Grader side.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import stat
from pathlib import Path

FOLDER = "submission"
"""The folder of the run's work folder where every worker finds its copy (the same for all)."""


def copy_tree(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` (which must not exist) with contents, modes and times; links stay links."""
    shutil.copytree(source, target, symlinks=True)
    return Path(target)


def _describe(path: str) -> str:
    """One entry's kind and contents: ``file MODE SHA256``, ``link -> TARGET``, ``folder MODE`` or ``other``."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            return f"link -> {os.readlink(path)}"
        if stat.S_ISDIR(info.st_mode):
            return f"folder {stat.S_IMODE(info.st_mode):o}"
        if not stat.S_ISREG(info.st_mode):
            return "other"
        # never follows a link, never blocks on a pipe put in the file's place after the lstat
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(handle, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return "other"
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
        return f"file {stat.S_IMODE(info.st_mode):o} {digest}"
    except OSError as error:
        return f"unreadable ({error.strerror or type(error).__name__})"


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` as ``relative path -> kind and contents`` (see :func:`_describe`).

    Links are listed, never entered or followed; folders are listed too, so an empty folder
    left as a note shows.
    """
    entries: dict[str, str] = {}
    for root, folders, files in os.walk(folder):  # followlinks=False: a link to a folder is not entered
        for name in folders + files:
            path = os.path.join(root, name)
            entries[Path(os.path.relpath(path, folder)).as_posix()] = _describe(path)
    return entries


def changed_entries(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Entries added, changed or removed between two fingerprints, marked ``(new)``, ``(changed)``, ``(removed)``."""
    added = [f"{name} (new)" for name in sorted(after.keys() - before.keys())]
    removed = [f"{name} (removed)" for name in sorted(before.keys() - after.keys())]
    changed = [f"{name} (changed)" for name in sorted(before.keys() & after.keys()) if before[name] != after[name]]
    return added + changed + removed


def remove_tree(folder: Path) -> None:
    """Delete ``folder`` even where a worker took away the owner's rights on its folders (links untouched)."""
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_symlink() or not folder.is_dir():
        folder.unlink()
        return
    os.chmod(folder, 0o700)
    for root, folders, _files in os.walk(folder):
        for name in folders:  # before os.walk enters them
            path = os.path.join(root, name)
            if not os.path.islink(path):
                try:
                    os.chmod(path, 0o700)
                except OSError:
                    pass
    shutil.rmtree(folder, ignore_errors=True)


class WorkerCopies:
    """The run's worker copies of the hand-in, all at :attr:`parent` (one at a time; workers run in turn).

    :param workdir: the grader's private work folder of the run.
    """

    def __init__(self, workdir: Path):
        self.parent = Path(workdir) / FOLDER
        """The parent folder every worker imports the hand-in from (holds the package and ``data/``)."""
        self._workdir = Path(workdir)
        self._used = itertools.count()
        self._given: dict[str, str] = {}

    def make(self, source: Path, known: dict[str, str] | None = None) -> Path:
        """A fresh copy of ``source`` (a parent folder holding the package) at :attr:`parent`.

        ``known``: ``source``'s fingerprint when the caller keeps it (the pristine copy's), else
        it is taken now.
        """
        self.discard()
        self._given = known if known is not None else fingerprint(source)
        return copy_tree(source, self.parent)

    def discard(self) -> list[str]:
        """Delete the copy at :attr:`parent`; what its worker changed in it (see :func:`changed_entries`)."""
        if not self.parent.exists() and not self.parent.is_symlink():
            return []
        changed = changed_entries(self._given, fingerprint(self.parent))
        used = self._workdir / f".used-{next(self._used)}"  # the path is free for the next copy at once
        os.rename(self.parent, used)
        remove_tree(used)
        return changed
