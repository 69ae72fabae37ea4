"""How one grading run starts its workers: sandbox, served models, environment, and the hand-in's copy.

Grader side.  :class:`RunWorkers` is what :meth:`GradeContext.run_worker
<grader_plugin.checks.GradeContext.run_worker>` calls: it decides what a worker may read and must
not see, which models its offline hub serves, and its environment; it starts the worker
(:func:`grader_plugin.isolation.run_task`), puts the hand-in back as handed in when a worker
changed it, and shows the grader's private folders in what comes back as the hand-in's own
relative paths.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import replace
from pathlib import Path

from grader_plugin import model_map
from grader_plugin import sandbox as sandboxes
from grader_plugin.isolation import run_task
from grader_plugin.phase_times import START, PhaseClock
from grader_plugin.results import WorkerOutcome
from grader_plugin.submission import Submission, changed_files, fingerprint
from unitconv.paths import ENV_CACHE, cache_dir, make_readable


class RunWorkers:
    """The workers of one run (see the module docstring).

    :param settings: the run's settings.
    :param candidates: ``candidates(entry_point) -> ["module:attribute", ...]`` (the discovery hook).
    :param workdir: the grader's private folder of the run.
    """

    def __init__(self, settings, candidates, workdir: Path):
        self.settings, self._candidates, self._workdir = settings, candidates, workdir
        self.served: list[model_map.ServedModel] = model_map.plan(settings.model_map)
        self.sandbox = sandboxes.choose(settings.sandbox)
        self.submission: Submission | None = None
        self.changes: dict[str, list[str]] = {}
        """Files of the hand-in that workers changed, by the part that was being graded."""
        self.grading: str | None = None
        self.progress = lambda part, phase, done=0, total=0: None
        """``progress(part, phase, done, total)``: where workers' progress goes (the session's display)."""
        self.clock = PhaseClock()
        """Seconds per worker phase of each part (:mod:`grader_plugin.phase_times`)."""
        self._hub_cache = model_map.build_hub_cache(workdir / "hub", self.served)
        self._own_uid = all(sandboxes.readable_by_others(m.folder) for m in self.served)
        self._pristine: dict[str, tuple[int, int]] = {}

    def attach(self, submission: Submission) -> None:
        """Workers with an entry point import ``submission`` (its private copy, kept as handed in)."""
        self.submission = submission
        make_readable(submission.parent)  # workers may run as another user
        shutil.copytree(submission.folder, self._workdir / "pristine" / submission.package)
        self._pristine = fingerprint(submission.folder)

    def model_folder(self, name_or_path: str) -> Path | None:
        """The local folder serving ``name_or_path`` in this run (see :mod:`grader_plugin.model_map`)."""
        if name_or_path.startswith("embedded:"):
            return model_map.embedded_folder()
        return model_map.folder_for(name_or_path, self.served)

    def _environment(self) -> dict[str, str]:
        env = model_map.worker_env(self._hub_cache)
        # the worker's home is its scratch folder: name the grader's cache so that the embedded
        # model resolves to the folder the grader converted and serves (mounted read-only)
        env[ENV_CACHE] = str(cache_dir())
        if self.settings.base_model:
            env["UNITCONV_BASE_MODEL"] = self.settings.base_model
        if self.settings.device:
            env["UNITCONV_DEVICE"] = self.settings.device
        return env

    def _readable(self) -> tuple[Path, ...]:
        """What a sandboxed worker must read besides Python: the project, the hand-in, the served models."""
        import grader_plugin
        import unitconv

        found = [Path(unitconv.__file__).parent.parent, Path(grader_plugin.__file__).parent.parent,
                 self._hub_cache, *(Path(model.folder) for model in self.served)]
        spec = importlib.util.find_spec("solution")  # hand-ins may build on the installed reference
        if spec and spec.origin:
            found.append(Path(spec.origin).parent.parent)
        if self.submission is not None:
            found.append(self.submission.parent)
        if self.settings.base_model and Path(self.settings.base_model).exists():
            found.append(Path(self.settings.base_model))
        return tuple(found)

    def _hidden(self) -> tuple[Path, ...]:
        """What a sandboxed worker must not see: the graded answers and the splits the project made."""
        return (self.settings.data_dir, *sorted(cache_dir().glob("data-*")))

    def work_folder(self, name: str) -> Path:
        """A new folder of the run's private work folder (for what trusted workers write)."""
        folder = self._workdir / f"{name}-{len(list(self._workdir.glob(name + '-*')))}"
        folder.mkdir(parents=True)
        return make_readable(folder)

    def _serving(self, serve: dict[str, Path]) -> tuple[Path, dict[str, str]]:
        """A hub cache and environment in which the models named in ``serve`` are the given folders."""
        served = [model_map.ServedModel(m.hub_id, Path(serve[m.hub_id]), "mapped") if m.hub_id in serve else m
                  for m in self.served]
        known = {m.hub_id for m in served}
        served += [model_map.ServedModel(name, Path(folder), "mapped") for name, folder in serve.items()
                   if name not in known and name.count("/") == 1 and not Path(name).exists()]
        hub = model_map.build_hub_cache(self.work_folder("hub"), served)
        env = model_map.worker_env(hub)
        base = self.settings.base_model or "embedded:SmolLM2-135M-Instruct"
        for name, folder in serve.items():
            if name == base or self.model_folder(name) == self.model_folder(base):
                env["UNITCONV_BASE_MODEL"] = str(folder)
        return hub, env

    def run(self, task: str, payload: dict, entry_point: str | None, timeout: float, *,
            serve: dict[str, Path] | None = None, hand_in: Path | None = None,
            writable: tuple[Path, ...] = (), label: str | None = None) -> WorkerOutcome:
        """The one place a worker is started (behind :meth:`GradeContext.run_worker`).

        ``serve`` replaces the folders of some models for this worker (by hub id, or the run's
        base model); ``hand_in`` is another copy of the hand-in's parent folder to import from;
        ``writable``: folders a trusted worker may write.  A worker that imports the hand-in may
        also write the run's copy of its package (a course ``load()`` may save a fresh adapter into
        it); :meth:`_restore_if_changed` puts the copy back as handed in before the next worker.
        """
        with_submission = entry_point is not None and self.submission is not None
        env, readable = self._environment(), list(self._readable())
        if serve:
            hub, served_env = self._serving(serve)
            env.update(served_env)
            readable += [hub, *(Path(f) for f in serve.values())]
        parent = hand_in or (self.submission.parent if with_submission else None)
        if with_submission and hand_in is None:
            writable = (*writable, self.submission.folder)  # its own copy, as in the course: put back after
        part = self.grading or ""
        worker = label or ("hand-in" if with_submission else task.split(":")[-1])
        self.progress(part, label or "starting the worker")
        self.clock.mark(part, worker, START)

        def progress(phase: str, done: int, total: int) -> None:
            self.clock.mark(part, worker, phase)
            self.progress(part, label or phase, done, total)

        outcome = run_task(
            task,
            payload,
            package=self.submission.package if with_submission else None,
            parent=parent if with_submission else None,
            candidates=self._candidates(entry_point) if with_submission else [],
            timeout=timeout,
            memory_mb=self.settings.memory_mb,
            output_bytes=self.settings.output_kb * 1000,
            env=env,
            sandbox=self.sandbox,
            readable=tuple(readable) + ((hand_in,) if hand_in else ()),
            hidden=self._hidden(),
            own_uid=self._own_uid,
            writable=writable,
            progress=progress,
        )
        self.clock.end(part)
        if with_submission and hand_in is None:
            self._restore_if_changed()
        return self._without_private_paths(outcome, parent)

    def _restore_if_changed(self) -> None:
        """Put the hand-in back as it was opened when a worker changed its files (a ``load()`` that
        saves a fresh adapter into its own package), and note it for the part being graded."""
        changed = changed_files(self._pristine, fingerprint(self.submission.folder))
        if not changed:
            return
        self.changes.setdefault(self.grading or "", []).extend(changed)
        shutil.rmtree(self.submission.folder, ignore_errors=True)
        shutil.copytree(self._workdir / "pristine" / self.submission.package, self.submission.folder)
        self._pristine = fingerprint(self.submission.folder)

    def _without_private_paths(self, outcome: WorkerOutcome, parent: Path | None) -> WorkerOutcome:
        """The outcome with the grader's private folders shown as the hand-in's own relative paths."""
        work = str(self._workdir)
        parent = str(parent) + os.sep if parent is not None else work + os.sep
        return replace(outcome, reason=outcome.reason.replace(parent, "").replace(work, "<grader folder>"),
                       output=outcome.output.replace(parent, "").replace(work, "<grader folder>"))
