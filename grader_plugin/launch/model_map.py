"""Serving hub models to workers offline: a private Hugging Face hub cache built by the grader.

Hand-ins load their base model by hub id (``from_pretrained("HuggingFaceTB/SmolLM2-360M-Instruct")``)
and nothing of ours.  Workers never reach the network: they run with the hub's offline switches
set and ``HF_HUB_CACHE`` pointing at a cache folder in the grader's own work folder, laid out as
the hub library expects (``models--ORG--NAME/refs/main`` and ``snapshots/<revision>/``), whose
snapshots are links to local model folders.  ``from_pretrained(HUB_ID)`` then resolves, without
any change to hand-in code, to

1. the folder ``--grade-model-map HUB_ID=PATH`` names (``embedded`` is the embedded model);
2. else the model as it is in this machine's own hub cache, when it is there;
3. else, for the course's base model and the embedded model's own id, the embedded
   SmolLM2-135M-Instruct, so that course hand-ins run on a machine without a hub (and the
   report says so: their adapters, trained on the 360M model, will not fit it).

Any other id is not served; a hand-in that loads it scores 0 with a line naming the id and the
option that fixes it.  Grader side.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unitconv.course import COURSE_BASE_MODEL, EMBEDDED_HUB_ID

EMBEDDED = "embedded"
SERVED_BY_DEFAULT = (COURSE_BASE_MODEL, EMBEDDED_HUB_ID)
REVISION = "grader"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
MAX_PATH_CHARS = 4096
"""Longer names a hand-in reports are not looked up on disk (no path is that long)."""


@dataclass(frozen=True)
class ServedModel:
    """One hub id and the local model folder that answers for it.

    :param how: ``mapped`` (``--grade-model-map``), ``hub cache`` (this machine's cache) or
        ``embedded default`` (no hub and no mapping: the embedded model stands in).
    """

    hub_id: str
    folder: Path
    how: str

    def describe(self) -> str:
        if self.how == "hub cache":
            return f"{self.hub_id}: from this machine's hub cache"
        what = "the embedded SmolLM2-135M-Instruct" if _is_embedded(self.folder) else str(self.folder)
        line = f"{self.hub_id}: served by {what} ({self.how})"
        if self.how == "embedded default" and self.hub_id != EMBEDDED_HUB_ID:
            line += f"; map the real model with --grade-model-map {self.hub_id}=PATH"
        return line


def _is_embedded(folder: Path) -> bool:
    from unitconv.paths import cache_dir

    return Path(folder).resolve().parent == cache_dir().resolve()


def embedded_folder() -> Path:
    """The embedded model's converted folder (made on first use, readable by sandboxed workers)."""
    from unitconv.model_loader import EMBEDDED_MODEL, model_source
    from unitconv.paths import make_readable

    return make_readable(Path(model_source(EMBEDDED_MODEL)))


def user_hub_cache() -> Path:
    """This machine's own hub cache folder, as the hub library finds it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return home / "hub"


def cache_entry(hub_id: str) -> str:
    """The hub cache's folder name for a model id (``models--ORG--NAME``)."""
    return "models--" + hub_id.replace("/", "--")


def plan(model_map: tuple[tuple[str, str], ...], user_cache: Path | None = None) -> list[ServedModel]:
    """Which folder serves which hub id in this run, in the order of the module docstring."""
    user_cache = user_hub_cache() if user_cache is None else user_cache
    served: dict[str, ServedModel] = {}
    for hub_id, path in model_map:
        served[hub_id] = ServedModel(hub_id, embedded_folder() if path == EMBEDDED else Path(path), "mapped")
    if user_cache.is_dir():
        for entry in sorted(user_cache.glob("models--*--*")):
            hub_id = entry.name.removeprefix("models--").replace("--", "/", 1)
            if hub_id not in served and (entry / "snapshots").is_dir():
                served[hub_id] = ServedModel(hub_id, entry, "hub cache")
    missing = [hub_id for hub_id in SERVED_BY_DEFAULT if hub_id not in served]
    if missing:
        from unitconv.model_loader import ModelNotFoundError

        try:
            folder = embedded_folder()
        except ModelNotFoundError:
            folder = None  # no embedded model here: those ids are not served (the header says so)
        for hub_id in missing:
            if folder is not None:
                served[hub_id] = ServedModel(hub_id, folder, "embedded default")
    return list(served.values())


def build_hub_cache(target: Path, served: list[ServedModel]) -> Path:
    """Write the private hub cache for ``served`` into ``target``; returns ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for model in served:
        entry = target / cache_entry(model.hub_id)
        if model.how == "hub cache":
            entry.symlink_to(model.folder, target_is_directory=True)
            continue
        snapshot = entry / "snapshots" / REVISION
        snapshot.mkdir(parents=True)
        (entry / "refs").mkdir()
        (entry / "refs" / "main").write_text(REVISION)
        for item in sorted(Path(model.folder).iterdir()):
            (snapshot / item.name).symlink_to(item.resolve(), target_is_directory=item.is_dir())
    return target


def worker_env(hub_cache: Path) -> dict[str, str]:
    """Environment that makes a worker's hub library offline and reading only ``hub_cache``."""
    return {"HF_HUB_CACHE": str(hub_cache), **OFFLINE_ENV}


def folder_for(name_or_path: str, served: list[ServedModel]) -> Path | None:
    """The local folder a loaded model came from: its hub id's served folder, or its own folder."""
    for model in served:
        if model.hub_id == name_or_path:
            if model.how != "hub cache":
                return model.folder
            ref = model.folder / "refs" / "main"
            revision = ref.read_text().strip() if ref.is_file() else None
            snapshots = sorted((model.folder / "snapshots").iterdir()) if revision is None else []
            return model.folder / "snapshots" / revision if revision else (snapshots[-1] if snapshots else None)
    path = Path(name_or_path)
    return path if (path / "config.json").is_file() else None


def served_as(name: str, lookup: Callable[[str], Path | None], candidates: tuple[str, ...]) -> str | None:
    """The served model a name a hand-in reports loading stands for, or None when the grader serves none.

    ``lookup`` maps a name to the folder serving it in this run (``GradeContext.model_folder``);
    ``candidates`` are the names a local path may stand for (the run's base model, the default hub
    ids).  A hub id counts when the run serves it; a path when it is, or resolves to, a
    candidate's folder, or holds a ``config.json`` resolving into one (a hub cache snapshot).  The
    answer is always a name the grader serves, never the path: the caller judges under that.
    """
    if name in candidates:
        return name
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        folder = lookup(name)
        return name if folder is not None and Path(folder) != Path(name) else None
    path = Path(name)
    if not path.is_absolute() or len(name) > MAX_PATH_CHARS:
        return None
    entry = next((part for part in reversed(path.parts) if part.startswith("models--")), None)
    if entry is not None:
        candidates += (entry.removeprefix("models--").replace("--", "/", 1),)
    for candidate in candidates:
        folder = lookup(candidate)
        if folder is not None and _same_model(path, Path(folder)):
            return candidate
    return None


def _same_model(path: Path, folder: Path) -> bool:
    real = os.path.realpath(folder)
    return (os.path.realpath(path) == real
            or os.path.realpath(path / "config.json") == os.path.join(real, "config.json"))


def model_config(folder: Path | None) -> dict:
    """The ``config.json`` of a model folder, or {} (also when it is not a JSON object, or is refused
    by the bounds of :func:`grader_plugin.handin.bounded.read_json`: the folder may be a hand-in's)."""
    from grader_plugin.handin import bounded

    if folder is None or not (Path(folder) / "config.json").is_file():
        return {}
    try:
        config = bounded.read_json(Path(folder) / "config.json")
    except (bounded.Refused, OSError):
        return {}
    return config if isinstance(config, dict) else {}
