"""The Ray task: grade one hand-in on the node that runs it, with the same code as single grading.

:func:`grade_handin` grades with :func:`~grader_plugin.session.grade_once` and the built-in
plugins, the installed ones and the run's own plugin files (``conftest.py`` files with grader
hooks, shipped as their source), opens the hand-in, grades every selected part in its sandboxed
worker on this node, and returns the report as JSON data.  A node that cannot read the hand-in's
path (another machine of a cluster) fetches it packed from Ray's object store.

Work that is the same for every hand-in arrives read-only in ``shared`` and pre-fills the session's
``cache``: the generation parts' calibration anchors (cache keys starting with
``"generation-anchors"``, see ``grader_plugin/builtin/generation.py``).  What this task computed
of that kind goes back to the driver, which shares it with the tasks after it.

Any failure of the grader itself (not of the hand-in, which costs points, never the task) raises
:class:`HandInGradingError` with one line and where it happened, so that Ray retries the task.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
import traceback
import types
from dataclasses import dataclass, replace
from pathlib import Path

from grader_plugin.classroom.handins import content_hash, unpack
from grader_plugin.classroom.records import report_data
from grader_plugin.manager import get_plugin_manager
from grader_plugin.session import grade_once
from grader_plugin.settings import GradeSettings
from grader_plugin.text import one_line

SHARED_PREFIX = "generation-anchors"


class HandInGradingError(RuntimeError):
    """The grader failed on a hand-in (the hand-in's own faults cost points instead); one line."""


def is_shared(key) -> bool:
    """Whether a session cache entry is work every hand-in of the run can share."""
    return isinstance(key, tuple) and bool(key) and isinstance(key[0], str) and key[0].startswith(SHARED_PREFIX)


class SharedCache(dict):
    """A session's cache pre-filled with the run's shared work; notes which shared entries were read."""

    def __init__(self, shared: dict):
        super().__init__(shared)
        self.shared_keys = frozenset(shared)
        self.used: set = set()

    def get(self, key, default=None):
        if key in self.shared_keys:
            self.used.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        if key in self.shared_keys:
            self.used.add(key)
        return super().__getitem__(key)

    def new_entries(self) -> dict:
        """Shareable entries this session computed itself."""
        return {key: value for key, value in self.items() if is_shared(key) and key not in self.shared_keys}


@dataclass(frozen=True)
class Job:
    """One hand-in's grading job.

    :param key: the hand-in's key in the class.
    :param path: where the driver reads it.
    :param content_hash: its content hash (a node whose copy at ``path`` differs fetches ``packed``).
    :param packed: ``[ObjectRef]`` of :func:`~grader_plugin.classroom.handins.pack`'s answer, in a
        list so that Ray fetches it only when this node needs it.
    :param settings: the run's settings (the path is replaced by the hand-in's).
    :param plugins: ``(file, source)`` of each plugin file of the run.
    :param load_entry_points: whether installed plugins grade too (as in single grading).
    """

    key: str
    path: str
    content_hash: str
    packed: list
    settings: GradeSettings
    plugins: tuple[tuple[str, str], ...] = ()
    load_entry_points: bool = True


def plugin_modules(plugins: tuple[tuple[str, str], ...]) -> list[types.ModuleType]:
    """Modules made from plugin files' sources, named by their file as pytest's conftest plugins are."""
    modules = []
    for number, (file, source) in enumerate(plugins):
        module = types.ModuleType(f"grader_class_plugin_{number}_{Path(file).stem}")
        module.__file__ = file
        exec(compile(source, file, "exec"), module.__dict__)  # the instructor's own plugin, as pytest imports it
        modules.append(module)
    return modules


def check_node(settings: GradeSettings) -> None:
    """Refuse to grade on a node that lacks the grading data or a model folder (it would zero every part)."""
    node = socket.gethostname()
    if not (Path(settings.data_dir) / "valid.json").is_file():
        raise HandInGradingError(f"--grade-data {settings.data_dir}: no valid.json on node {node}; put the data "
                                 f"folder at the same path on every node")
    folders = [path for _, path in settings.model_map if path != "embedded"]
    if settings.base_model and Path(settings.base_model).is_absolute():
        folders.append(settings.base_model)
    for folder in folders:
        if not Path(folder).is_dir():
            raise HandInGradingError(f"model folder {folder} is missing on node {node}; put it at the same path "
                                     f"on every node")


def local_copy(job: Job, scratch: Path) -> Path:
    """The hand-in as this node can read it: ``job.path`` when it holds the same content, else a fetched copy."""
    path = Path(job.path)
    if path.exists() and content_hash(path) == job.content_hash:
        return path
    import ray

    kind, blob = ray.get(job.packed[0])
    return unpack(kind, blob, path.name, scratch)


def _grade(job: Job, shared: dict, scratch: Path) -> dict:
    check_node(job.settings)
    settings = replace(job.settings, path=local_copy(job, scratch))
    pm = get_plugin_manager(plugin_modules(job.plugins), load_entry_points=job.load_entry_points)
    cache = SharedCache(shared)  # pre-filled; the session and every part's context read and write this dict
    report = grade_once(settings, pm, cache)
    pm.hook.grader_write_report(report=report, settings=settings, write_line=lambda line: None)
    return {"report": report_data(report), "shared": cache.new_entries(), "reused": len(cache.used),
            "node": socket.gethostname()}


def grade_handin(job: Job, shared: dict) -> dict:
    """Grade ``job``'s hand-in here; the report's data, new shared work, shared entries used, the node, seconds."""
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="unitconv-class-"))
    try:
        result = _grade(job, shared, scratch)
    except HandInGradingError:
        raise
    except Exception as error:  # noqa: BLE001 - every grader failure becomes one line that Ray retries
        frame = traceback.extract_tb(error.__traceback__)[-1]
        raise HandInGradingError(f"{type(error).__name__}: {one_line(str(error))} "
                                 f"({Path(frame.filename).name}:{frame.lineno})") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {**result, "seconds": time.perf_counter() - started}
