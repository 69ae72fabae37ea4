"""How one grading run starts its workers: sandbox, served models, environment, and the hand-in's copy.

Grader side.  :class:`RunWorkers` is what :meth:`GradeContext.run_worker
<grader_plugin.checks.GradeContext.run_worker>` calls: it decides what a worker may read and must
not see, which models its offline hub serves, and its environment; it starts the worker
(:func:`grader_plugin.launch.isolation.run`).  Every worker that imports the hand-in gets a fresh
copy of it, as handed in, at the same path as every other worker
(:mod:`grader_plugin.launch.copies`); what it changed there is noted for the report and the copy
deleted.  What comes back shows the grader's private folders as the hand-in's own relative paths.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from dataclasses import replace
from pathlib import Path

from grader_plugin.handin.submission import Submission
from grader_plugin.launch import isolation, model_map
from grader_plugin.launch import sandbox as sandboxes
from grader_plugin.launch.copies import WorkerCopies, copy_tree, fingerprint, remove_tree
from grader_plugin.launch.phase_times import START, PhaseClock
from grader_plugin.launch.request import WorkerRequest
from grader_plugin.results import Finding, WorkerOutcome
from unitconv.paths import ENV_CACHE, cache_dir, make_readable


class RunWorkers:
    """The workers of one run (see the module docstring).

    :param settings: the run's settings.
    :param pm: the run's plugin manager (its discovery hook names each entry point's candidates).
    :param workdir: the grader's private folder of the run.
    :param progress: ``progress(part, phase, done, total)``: where workers' progress goes.
    """

    def __init__(self, settings, pm, workdir: Path, progress=lambda part, phase, done=0, total=0: None):
        self.settings, self.pm, self._workdir, self.progress = settings, pm, workdir, progress
        self.served: list[model_map.ServedModel] = model_map.plan(settings.model_map)
        self.sandbox = sandboxes.choose(settings.sandbox)
        self.submission: Submission | None = None
        self.changes: dict[str, list[str]] = {}
        """Entries of the hand-in that workers changed in their copies, by the part being graded."""
        self.clock = PhaseClock()
        """Seconds per worker phase of each part (:mod:`grader_plugin.launch.phase_times`)."""
        self._hub_cache = model_map.build_hub_cache(workdir / "hub", self.served)
        self._own_uid = all(sandboxes.readable_by_others(m.folder) for m in self.served)
        self.copies = WorkerCopies(workdir)
        self._pristine = workdir / "pristine"
        self._pristine_print: dict[str, str] = {}

    def attach(self, submission: Submission) -> None:
        """Workers with an entry point import ``submission``: each a fresh copy of it as it is now."""
        self.submission = submission
        make_readable(submission.parent)  # workers may run as another user
        copy_tree(submission.parent, self._pristine)  # the package and its data/ beside it, links as links
        self._pristine_print = fingerprint(self._pristine)

    def model_folder(self, name_or_path: str) -> Path | None:
        """The local folder serving ``name_or_path`` in this run (see :mod:`grader_plugin.launch.model_map`)."""
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

    def _readable(self, with_submission: bool) -> tuple[Path, ...]:
        """What a sandboxed worker must read besides Python: the project, the hand-in, the served models.

        A worker that imports the hand-in reads its own copy; a trusted worker reads the grader's.
        """
        import grader_plugin
        import unitconv

        found = [Path(unitconv.__file__).parent.parent, Path(grader_plugin.__file__).parent.parent,
                 self._hub_cache, *(Path(model.folder) for model in self.served)]
        spec = importlib.util.find_spec("solution")  # hand-ins may build on the installed reference
        if spec and spec.origin:
            found.append(Path(spec.origin).parent.parent)
        if self.submission is not None:
            found.append(self.copies.parent if with_submission else self.submission.parent)
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

    def _served_folder(self, name: str) -> Path | None:
        """The real folder of a model ``serve`` names: a hub id served in this run, or the run's base model."""
        base = self.settings.base_model_name
        folder = self.model_folder(base if name == base else name)
        return Path(os.path.realpath(folder)) if folder is not None else None

    def _binds(self, serve: dict[str, Path]) -> list[tuple[Path, Path]]:
        """Read-only ``(source, destination)`` binds of a sandboxed worker: every model folder it may load.

        Each served folder is bound over itself, so that a worker given other files for a model
        (``serve``) has the same mounts as any other; a file of the folder that is a link to
        elsewhere (a hub snapshot's blobs) is bound at its target too.
        """
        folders = {Path(os.path.realpath(f)) for f in (model_map.folder_for(m.hub_id, self.served)
                                                       for m in self.served) if f is not None}
        if self.settings.base_model and (Path(self.settings.base_model) / "config.json").is_file():
            folders.add(Path(os.path.realpath(self.settings.base_model)))
        sources = {folder: folder for folder in folders}
        for name, source in serve.items():
            folder = self._served_folder(name)
            if folder is None:
                raise ValueError(f"serve: {name!r} is neither a model this run serves nor its base model")
            sources[folder] = Path(source)
        binds = []
        for folder, source in sorted(sources.items()):
            binds.append((source, folder))
            for item in sorted(folder.iterdir()) if folder.is_dir() else []:
                target = Path(os.path.realpath(item))
                if folder not in target.parents and (source / item.name).exists():
                    binds.append((source / item.name if source != folder else target, target))
        return binds

    @contextlib.contextmanager
    def _unsandboxed_serving(self, serve: dict[str, Path], env: dict[str, str]):
        """Without the sandbox: the run's hub cache rebuilt in place for one worker with ``serve``'s folders.

        Same ``HF_HUB_CACHE`` path and revision layout as every other worker; only a base model
        named by path (or the embedded one) has to be pointed at by ``UNITCONV_BASE_MODEL``.
        Without the sandbox a hand-in can always tell: it can read the grader's folders and
        resolve the links.
        """
        if not serve:
            yield
            return
        replaced = {self._served_folder(name): Path(source) for name, source in serve.items()}
        if None in replaced:
            raise ValueError(f"serve: one of {sorted(serve)} is neither a model this run serves nor its base model")
        served = []
        for model in self.served:
            folder = model_map.folder_for(model.hub_id, self.served)
            real = Path(os.path.realpath(folder)) if folder is not None else None
            served.append(model_map.ServedModel(model.hub_id, replaced[real], "mapped") if real in replaced else model)
        base = self.settings.base_model
        if not base or Path(base).exists():  # a hub id as base model resolves through the hub cache
            with contextlib.suppress(Exception):  # no embedded model here: nothing to point at
                folder = self._served_folder(self.settings.base_model_name)
                if folder in replaced:
                    env["UNITCONV_BASE_MODEL"] = str(replaced[folder])
        kept = self._hub_cache.with_name("hub.kept")
        os.rename(self._hub_cache, kept)
        try:
            model_map.build_hub_cache(self._hub_cache, served)
            yield
        finally:
            remove_tree(self._hub_cache)
            os.rename(kept, self._hub_cache)

    def run(self, request: WorkerRequest, part: str = "") -> WorkerOutcome:
        """The one place a worker is started (behind :meth:`GradeContext.run_worker`), for ``part``.

        A worker that imports the hand-in gets a fresh copy of it at :attr:`WorkerCopies.parent
        <grader_plugin.launch.copies.WorkerCopies.parent>`, the same path for every worker, with its
        package writable (a course ``load()`` may save a fresh adapter into it); the copy is deleted
        after the worker and what it changed is noted for the part.  ``request.hand_in``: another
        parent folder holding the package to make that copy from (a probe's), presented at the same
        path.  ``request.serve``: models served from other folders at the real folders' paths: under
        bubblewrap each is bound read-only over the real folder, and the worker's environment, paths
        and command line are those of any other worker.  Without the sandbox the run's hub cache is
        rebuilt in place for the worker, and a base model named by path is pointed at by
        ``UNITCONV_BASE_MODEL``; a hand-in can tell it apart there (it can read the grader's
        folders).  Under the sandbox one tell remains: ``/proc/self/mountinfo`` names each bind's
        source folder, and a served copy's is not the real folder (so a served copy's folder name
        must say nothing).
        """
        with_submission = request.imports_hand_in and self.submission is not None
        worker = request.label or ("hand-in" if with_submission else request.task.split(":")[-1])
        self.progress(part, request.label or "starting the worker")
        self.clock.mark(part, worker, START)

        def progress(phase: str, done: int, total: int) -> None:
            self.clock.mark(part, worker, phase)
            self.progress(part, request.label or phase, done, total)

        env = self._environment()
        parent = None
        try:
            if with_submission:
                parent = (self.copies.make(request.hand_in) if request.hand_in is not None
                          else self.copies.make(self._pristine, self._pristine_print))
            serve = dict(request.serve) if self.sandbox.kind != "bubblewrap" else {}
            with self._unsandboxed_serving(serve, env):  # may point the environment at a served copy
                outcome = isolation.run(self._launch(request, with_submission, parent, env), progress)
        finally:
            self.clock.end(part)
            if with_submission:
                self._note(part, self.copies.discard())
        return self._without_private_paths(outcome, parent)

    def _launch(self, request: WorkerRequest, with_submission: bool, parent: Path | None,
                env: dict[str, str]) -> isolation.Launch:
        """What starts the worker ``request`` asks for: the run's limits, sandbox, folders and models."""
        readable = list(self._readable(with_submission))
        writable = request.writable
        if with_submission:
            writable = (*writable, parent / self.submission.package)
        elif request.hand_in is not None:
            readable.append(Path(request.hand_in))
        return isolation.Launch(
            request.task, request.payload,
            package=self.submission.package if with_submission else None, parent=parent,
            candidates=tuple(self.candidates(request.entry_point)) if with_submission else (),
            timeout=request.timeout, memory_mb=self.settings.memory_mb, output_bytes=self.settings.output_kb * 1000,
            env=env, sandbox=self.sandbox, readable=tuple(readable), hidden=self._hidden(), own_uid=self._own_uid,
            writable=tuple(writable),
            binds=tuple(self._binds(dict(request.serve))) if self.sandbox.kind == "bubblewrap" else (),
        )

    def candidates(self, entry_point: str) -> list[str]:
        """``module:attribute`` names of ``entry_point`` in the hand-in, in order, from the discovery hook."""
        lists = self.pm.hook.grader_entry_point_candidates(entry_point=entry_point, submission=self.submission)
        seen: list[str] = []
        for found in lists:
            seen.extend(c for c in (found or []) if c not in seen)
        return seen

    def _note(self, part: str, changed: list[str]) -> None:
        """Note what a worker changed in its copy for ``part`` (each entry once)."""
        noted = self.changes.setdefault(part, [])
        noted.extend(entry for entry in changed if entry not in noted)

    def changes_found(self, part: str) -> list[Finding]:
        """A warning naming what the part's workers changed in their copies of the hand-in (none: [])."""
        changed = self.changes.pop(part, [])
        if not changed:
            return []
        return [Finding("hand-in files", f"{len(changed)} file(s) or folder(s) of the hand-in changed while this "
                        f"part ran; each worker gets its own copy as handed in, so no later worker saw them",
                        part=part, severity="warn", evidence=", ".join(changed[:8]))]

    def _without_private_paths(self, outcome: WorkerOutcome, parent: Path | None) -> WorkerOutcome:
        """The outcome with the grader's private folders shown as the hand-in's own relative paths."""
        work = str(self._workdir)
        parent = str(parent) + os.sep if parent is not None else work + os.sep
        return replace(outcome, reason=outcome.reason.replace(parent, "").replace(work, "<grader folder>"),
                       output=outcome.output.replace(parent, "").replace(work, "<grader folder>"))
