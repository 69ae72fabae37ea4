"""What a check or detector asks of one worker: a frozen :class:`WorkerRequest`.

:meth:`GradeContext.run_worker <grader_plugin.checks.GradeContext.run_worker>` builds it from its
arguments; :meth:`RunWorkers.run <grader_plugin.launch.runner.RunWorkers.run>` turns it into the
:class:`~grader_plugin.launch.isolation.Launch` that starts the worker, adding what the run decides
(the sandbox, the hand-in's copy, served models, the environment).  Grader side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType


@dataclass(frozen=True)
class WorkerRequest:
    """One worker, as its caller asks for it.

    :param task: the ``module:function`` the worker runs as ``task(model, payload)``.
    :param payload: JSON-able data the task receives (question texts, never expected answers).
    :param timeout: seconds before the worker is killed.
    :param entry_point: the hand-in entry point whose object is ``model`` (``"cot"``...), or None for
        a trusted worker that holds no hand-in code (``model`` is None).
    :param serve: ``{name: folder}``: the model known as ``name`` (a hub id served in this run, or the
        run's base model) served from ``folder`` at the real folder's path.
    :param hand_in: another parent folder holding the hand-in's package to copy for this worker (a
        probe's), presented at the same path as the real one.
    :param writable: folders (from ``work_folder``) a trusted worker may write.
    :param label: what the progress line shows while the worker runs (default: its own phases).
    """

    task: str
    payload: dict
    timeout: float
    entry_point: str | None = None
    serve: Mapping[str, Path] = field(default_factory=dict)
    hand_in: Path | None = None
    writable: tuple[Path, ...] = ()
    label: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "serve", MappingProxyType({name: Path(f) for name, f in self.serve.items()}))
        object.__setattr__(self, "writable", tuple(Path(f) for f in self.writable))

    @property
    def imports_hand_in(self) -> bool:
        """Whether the worker imports the hand-in (it has an entry point to load)."""
        return self.entry_point is not None
