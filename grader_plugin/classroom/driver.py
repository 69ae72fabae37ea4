"""The class run: which hand-ins need grading, one Ray task each, every result committed as it lands.

:func:`run_class` finds the hand-ins (:mod:`~grader_plugin.classroom.handins`), asks the SQLite
store which of them need grading (new, changed, another grader version, profile or setup, or an
error before; all of them with ``regrade``), and grades those on Ray: a local Ray instance sized
to this machine by default, or the cluster at ``ray_address``.  Each hand-in is one task
(:func:`~grader_plugin.classroom.task.grade_handin`) with the CPUs and GPU fraction of
:class:`ClassOptions`; Ray retries a task whose worker or node died, and one that raised, up to
``max_retries`` times; a hand-in that still fails is recorded as a grader error with its reason and
the run goes on.  Each result is committed, and its ``results.json`` written, as it arrives.

Once-per-run work: when the graded parts need it (the generation parts' calibration anchors, the
speed figures that scale time limits), the first hand-in is graded alone; the anchors it computed
are put in Ray's object store and pre-fill every later task's session cache, read-only (each task
gets its own copy).  Anchors for another base model, met later, are shared the same way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader_plugin.classroom import exports
from grader_plugin.classroom.handins import HandIn, discover, pack
from grader_plugin.classroom.progress import Progress
from grader_plugin.classroom.records import flags, report_from_data
from grader_plugin.classroom.store import ResultStore, Stamp
from grader_plugin.classroom.task import HandInGradingError, Job, grade_handin, plugin_modules
from grader_plugin.launch.time_limits import declared_work
from grader_plugin.manager import get_plugin_manager
from grader_plugin.provenance import provenance
from grader_plugin.session import GradingSession, GradingSetupError
from grader_plugin.settings import GradeSettings
from grader_plugin.text import one_line

DATABASE = "grades.sqlite"
REQUIRED = {"ray": "ray", "matplotlib": "matplotlib", "yaml": "pyyaml"}


class ClassSetupError(ValueError):
    """The class run cannot start (missing package, bad option, unknown part); the message says the fix."""


@dataclass(frozen=True)
class ClassOptions:
    """How a class is graded (the ``--ray-*``, ``--regrade`` and ``--grade-class-limit`` options).

    :param ray_address: the Ray cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); None
        starts a local Ray instance sized to this machine (or joins Ray's own ``RAY_ADDRESS``).
    :param cpus_per_task: CPUs each hand-in's task holds.
    :param gpus_per_task: the GPU fraction each task holds (0: none; needs GPU nodes).
    :param max_retries: how often Ray runs a failed task again before the hand-in is an error.
    :param regrade: grade every hand-in, also those whose grade stands.
    :param limit: grade at most this many hand-ins in this run (the rest in a later run).
    :param load_entry_points: whether installed grading plugins grade too (as in single grading).
    """

    ray_address: str | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 1
    regrade: bool = False
    limit: int | None = None
    load_entry_points: bool = True

    def __post_init__(self):
        for name, value, low in (("--ray-cpus-per-task", self.cpus_per_task, 0.01),
                                 ("--ray-gpus-per-task", self.gpus_per_task, 0.0),
                                 ("--ray-max-retries", self.max_retries, 0), ("--grade-class-limit", self.limit, 1)):
            if value is not None and value < low:
                raise ClassSetupError(f"{name} {value}: must be at least {low:g}")


@dataclass
class ClassSummary:
    """What a class run did."""

    out_dir: Path
    handins: int = 0
    up_to_date: int = 0
    graded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reused: dict[str, int] = field(default_factory=dict)
    """Shared cache entries each graded hand-in's session read instead of computing them."""
    left: int = 0
    """Hand-ins that needed grading but were not graded in this run (``limit``, an interrupt)."""
    files: list[Path] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.handins} hand-ins: {len(self.graded)} graded, {len(self.errors)} errors, {self.up_to_date} "
                f"up to date, {self.left} left for a later run; results in {self.out_dir}")


def check_requirements() -> None:
    """Refuse early, in one line, when a package class grading needs is missing."""
    missing = [package for module, package in REQUIRED.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ClassSetupError(f"grading a class needs {', '.join(missing)}: pip install 'unitconv-grader[class]' "
                              f"(or pip install {' '.join(repr(p) for p in missing)})")


def _stamp(settings: GradeSettings, plugins: tuple[tuple[str, str], ...], options: ClassOptions,
           where: Path) -> tuple[Stamp, list[str], bool]:
    """The run's stamp, its part names, and whether once-per-run work calls for grading one hand-in first."""
    pm = get_plugin_manager(plugin_modules(plugins), load_entry_points=options.load_entry_points)
    try:  # the driver starts no worker: no sandbox needed here, the nodes' own is checked by their tasks
        session = GradingSession(replace(settings, path=where, sandbox="off"), pm)
    except GradingSetupError as error:
        raise ClassSetupError(str(error)) from None
    try:
        facts = provenance(pm, settings)
        parts = [check.name for check in session.selected]
        seed = any(declared_work(check) is not None for check in session.selected)
        setup = {"parts": parts, "questions": settings.questions, "base_model": settings.base_model,
                 "model_map": settings.model_map, "plugins": facts["plugins"]}
        key = hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()[:16]
        return Stamp(str(facts["grader"]), session.profile.name, key), parts, seed
    finally:
        session.close()


def failure_reason(error: Exception, attempts: int) -> str:
    """One line for a task that failed on its last attempt: the grader's error, or how its worker or node died."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, HandInGradingError):
        text = str(cause)
    elif cause is not None:
        text = f"{type(cause).__name__}: {cause}"
    else:
        text = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
    return one_line(f"grader error after {attempts} attempt{'s' * (attempts != 1)}: {text}", 600)


def _start_ray(options: ClassOptions) -> bool:
    """Join the cluster or start a local instance, unless Ray runs already; whether this call started it."""
    import ray

    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    address = options.ray_address or os.environ.get("RAY_ADDRESS") or None
    if not address:  # "local": a new instance sized to this machine, never one somebody else started here
        ray.init(address="local", include_dashboard=False, **quiet)
        return True
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, ValueError) as error:
        raise ClassSetupError(f"--ray-address {address}: cannot join that Ray cluster ({one_line(error, 200)}); start "
                              f"it with ray start --head, or leave --ray-address out for a local instance") from None
    return True


class _Run:
    """The Ray part of one class run (see the module docstring)."""

    def __init__(self, store: ResultStore, stamp: Stamp, job: Job, options: ClassOptions, out_dir: Path,
                 summary: ClassSummary):
        import ray

        self.ray, self.store, self.stamp, self.job, self.options = ray, store, stamp, job, options
        self.out_dir, self.summary = out_dir, summary
        resources = ray.cluster_resources()
        if options.gpus_per_task > 0 and not resources.get("GPU"):
            raise ClassSetupError(f"--ray-gpus-per-task {options.gpus_per_task:g}: the Ray cluster has no GPU; "
                                  f"give 0 or join a cluster with GPU nodes (--ray-address)")
        self.slots = max(1, int(resources.get("CPU", 1) // options.cpus_per_task))
        self.remote = ray.remote(grade_handin).options(
            num_cpus=options.cpus_per_task, num_gpus=options.gpus_per_task,
            max_retries=options.max_retries, retry_exceptions=True)
        self.shared: dict = {}
        self.shared_ref = ray.put(self.shared)

    def _submit(self, handin: HandIn):
        job = replace(self.job, key=handin.key, path=str(handin.path), content_hash=handin.content_hash,
                      packed=[self.ray.put(pack(handin.path))])
        return self.remote.remote(job, self.shared_ref)

    def _landed(self, handin: HandIn, result: dict, progress: Progress) -> None:
        new = {key: value for key, value in result["shared"].items() if key not in self.shared}
        if new:
            self.shared.update(new)
            self.shared_ref = self.ray.put(self.shared)
        report = result["report"]
        found = flags(report_from_data(report))
        self.store.record_graded(handin, self.stamp, report, found, seconds=result["seconds"], node=result["node"])
        exports.write_results(self.out_dir, handin.key, report)
        self.summary.graded.append(handin.key)
        self.summary.reused[handin.key] = result["reused"]
        total = sum(p["points"] for p in report["parts"])
        most = sum(p["max_points"] for p in report["parts"])
        extra = sum(p["extra"] for p in report["parts"])
        progress.finished(handin.key, f"{total:g}/{most:g}" + (f" +{extra:g}" if extra else "")
                          + (f", {len(found)} flag(s)" if found else ""), flagged=bool(found))

    def _failed(self, handin: HandIn, error: Exception, progress: Progress) -> None:
        reason = failure_reason(error, self.options.max_retries + 1)
        self.store.record_error(handin, self.stamp, reason)
        exports.remove_results(self.out_dir, handin.key)
        self.summary.errors.append(handin.key)
        progress.finished(handin.key, reason, error=True)

    def grade(self, handins: list[HandIn], seed: bool, progress: Progress) -> None:
        """Grade ``handins``, at most two tasks per slot in flight (one until the first lands, with ``seed``)."""
        queue, pending = deque(handins), {}
        try:
            while queue or pending:
                while queue and len(pending) < (1 if seed else 2 * self.slots):
                    handin = queue.popleft()
                    pending[self._submit(handin)] = handin
                (ref,), _ = self.ray.wait(list(pending), num_returns=1)
                handin = pending.pop(ref)
                seed = False
                try:
                    result = self.ray.get(ref)
                except self.ray.exceptions.RayError as error:
                    self._failed(handin, error, progress)
                    continue
                self._landed(handin, result, progress)
        finally:
            for ref in pending:  # interrupted: what was in flight is graded again next time
                self.ray.cancel(ref, force=True)
            self.summary.left += len(queue) + len(pending)


def run_class(handins_dir: Path | str, out_dir: Path | str, settings: GradeSettings,
              options: ClassOptions = ClassOptions(), plugins: tuple[Path, ...] = (), stream=None) -> ClassSummary:
    """Grade the class in ``handins_dir`` into ``out_dir`` (see the module docstring).

    ``settings`` are the grade-* settings every hand-in is graded with (their path is replaced by
    each hand-in's); ``plugins``: plugin files (conftest.py files with grader hooks) that grade too;
    ``stream``: where progress goes (standard error by default).
    """
    check_requirements()
    handins_dir, out_dir = Path(handins_dir).resolve(), Path(out_dir).resolve()
    if settings.base_model and Path(settings.base_model).exists():  # every node reads the same absolute path
        settings = replace(settings, base_model=str(Path(settings.base_model).resolve()))
    settings = replace(settings, data_dir=Path(settings.data_dir).resolve())
    if settings.json_path is not None:
        raise ClassSetupError("--grade-json names one file; a class run writes each hand-in's results.json under "
                              f"{out_dir / exports.RESULTS}; leave --grade-json out")
    found = discover(handins_dir, exclude=(out_dir,))
    if not found:
        raise ClassSetupError(f"{handins_dir}: no hand-ins found; give a folder with one zip or package folder per "
                              f"student, or a Gradescope export (with submission_metadata.yml)")
    sources = tuple((str(Path(p).resolve()), Path(p).read_text(encoding="utf-8")) for p in plugins)
    stamp, parts, seed = _stamp(settings, sources, options, handins_dir)
    summary = ClassSummary(out_dir, handins=len(found))
    store = ResultStore(out_dir / DATABASE)
    try:
        stale = {h.key: None if options.regrade else store.stale_reason(h, stamp) for h in found}
        todo = [h for h in found if options.regrade or stale[h.key]]
        summary.up_to_date = len(found) - len(todo)
        for handin in (h for h in todo if h.problem):  # nothing to grade: recorded as it is, every run
            store.record_error(handin, stamp, handin.problem)
            summary.errors.append(handin.key)
        todo = [h for h in todo if not h.problem]
        batch = todo[: options.limit] if options.limit else todo
        summary.left = len(todo) - len(batch)
        if batch:
            reasons = Counter(stale[h.key] or "regrade" for h in batch)
            print(f"grading {len(batch)} of {len(found)} hand-ins ({', '.join(f'{n} {r}' for r, n in reasons.items())}"
                  f"); {summary.up_to_date} up to date", file=stream or sys.stderr, flush=True)
            started = _start_ray(options)
            progress = Progress(len(batch), stream)
            try:
                job = Job("", "", "", [], replace(settings, json_path=None), sources, options.load_entry_points)
                _Run(store, stamp, job, options, out_dir, summary).grade(batch, seed and len(batch) > 1, progress)
            finally:
                progress.close()
                if started:
                    import ray

                    ray.shutdown()
    finally:
        keys = [h.key for h in found]
        summary.files = exports.write_all(store, out_dir, keys, parts)
        store.close()
    return summary
