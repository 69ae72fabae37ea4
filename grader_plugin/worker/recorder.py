"""Worker-side record: what the hand-in did while ``load()`` and answering ran.

The worker starts a :class:`Recorder` before it imports the submission and reports
:meth:`Recorder.finish` with its result.  The recorder

- installs an audit hook (:func:`sys.addaudithook`, PEP 578) that notes file opens, network,
  subprocess and watched imports, each with the phase it happened in (``load`` or ``answer``);
- after ``load()`` returned, checks that the model's answering methods are its class's own
  functions and not instance-level or run-time class patches (:func:`method_patches`);
- snapshots every loaded ``grader_plugin`` module (module attributes, class attributes and the
  code objects of functions) and reports what differs at the end (:func:`grader_fingerprint`).

It only records: every judgement happens in the grader process
(:mod:`grader_plugin.integrity.dynamic`).  It must stay
cheap (the hook sees every audited event of the process) and must never raise from the hook.
Code in the same process can in principle undo anything done here; the behavioural detectors
exist for that reason.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from grader_plugin.handin.contract import ANSWERING_METHODS

NETWORK_EVENTS = frozenset({"socket.connect", "socket.getaddrinfo", "socket.bind", "urllib.Request"})
PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"}
)
WATCHED_IMPORTS = ("pint", "grader_plugin")
"""Imports worth noting when they first happen while the submission runs."""

MAX_RECORDS = 300
MAX_DATA_RECORDS = 700
DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".txt", ".pkl", ".pickle")
"""Opens of files like these are kept past :data:`MAX_RECORDS` (a flood of other opens cannot hide them)."""
_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth")


def _origin(value: Any) -> dict[str, Any]:
    """Where a callable was defined: its qualified name, file and first line, when it has code."""
    function = getattr(value, "__func__", value)
    code = getattr(function, "__code__", None)
    return {
        "name": getattr(function, "__qualname__", type(value).__name__),
        "file": code.co_filename if code else None,
        "line": code.co_firstlineno if code else None,
    }


def method_patches(model: Any) -> list[dict[str, Any]]:
    """Answering methods of ``model`` (and ``generate`` of ``model.model``) that are not class code.

    An instance attribute that shadows the method is an instance patch.  A method found on a class
    whose ``__qualname__`` is not ``Class.method`` was put there at run time (a function defined
    elsewhere and assigned to the class).
    """
    found = []
    holders = [("model", model, ANSWERING_METHODS)]
    inner = getattr(model, "model", None) if model is not None else None
    if inner is not None:
        holders.append(("model.model", inner, ("generate",)))
    for label, holder, names in holders:
        instance = getattr(holder, "__dict__", {})
        for name in names:
            if name in instance:
                found.append({"target": f"{label}.{name}", "kind": "instance", **_origin(instance[name])})
                continue
            for cls in type(holder).__mro__:
                if name not in cls.__dict__:
                    continue
                value = cls.__dict__[name]
                qualname = getattr(getattr(value, "__func__", value), "__qualname__", "")
                if not qualname.endswith(f"{cls.__name__}.{name}"):
                    found.append({"target": f"{cls.__name__}.{name}", "kind": "class", **_origin(value)})
                break
    return found


def grader_fingerprint(prefix: str = "grader_plugin") -> dict[str, tuple[int, int]]:
    """Identity of every attribute of the loaded ``prefix`` modules and of their own classes.

    Keys read ``module:attribute`` or ``module:Class.member``; values are the ids of the object and
    of its code, so swapping a function's ``__code__`` shows too.
    """
    prints: dict[str, tuple[int, int]] = {}

    def note(key: str, value: Any) -> None:
        code = getattr(getattr(value, "__func__", value), "__code__", None)
        prints[key] = (id(value), id(code) if code is not None else 0)

    for name, module in list(sys.modules.items()):
        if module is None or not (name == prefix or name.startswith(prefix + ".")):
            continue
        prints[f"sys.modules:{name}"] = (id(module), 0)
        for attribute, value in list(vars(module).items()):
            if type(value).__name__ == "module":
                continue  # submodules appear as they are imported
            note(f"{name}:{attribute}", value)
            if isinstance(value, type) and value.__module__ == name:
                for member, inner in list(vars(value).items()):
                    note(f"{name}:{attribute}.{member}", inner)
    return prints


class Recorder:
    """Records one worker run; see the module docstring."""

    def __init__(self, submission_folder: str | None = None):
        self.folder = submission_folder
        self.phase = "load"
        self.active = True
        self.opens: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.dropped = 0
        self.patches: list[dict[str, Any]] = []
        self._before = grader_fingerprint()
        self._modules = {key.split(":")[0] for key in self._before}
        self._skip = tuple(
            {os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
        )
        sys.addaudithook(self._hook)

    def _keep(self, records: list, record: dict) -> None:
        kept = len(self.opens) + len(self.events)
        data_file = str(record.get("path", "")).endswith(DATA_SUFFIXES)
        if kept < MAX_RECORDS or (data_file and kept < MAX_RECORDS + MAX_DATA_RECORDS):
            records.append(record)
        else:
            self.dropped += 1

    def _hook(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        try:
            if event == "open":
                path = args[0]
                if isinstance(path, bytes):
                    path = os.fsdecode(path)
                if not isinstance(path, str) or path.endswith(_CODE_SUFFIXES):
                    return
                path = os.path.abspath(path)
                if path.startswith(self._skip):
                    return
                mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
                self._keep(self.opens, {"phase": self.phase, "path": path, "mode": mode})
            elif event in NETWORK_EVENTS or event in PROCESS_EVENTS:
                detail = repr(args[:2])[:200]
                self._keep(self.events, {"phase": self.phase, "event": event, "detail": detail})
            elif event == "import":
                module = args[0]
                if isinstance(module, str) and module.startswith(WATCHED_IMPORTS):
                    self._keep(self.events, {"phase": self.phase, "event": "import", "detail": module})
        except Exception:  # noqa: BLE001 - an audit hook that raises would break the audited call
            self.dropped += 1

    def loaded(self, model: Any) -> None:
        """``load()`` returned ``model``: check its methods, then record the answering phase."""
        try:
            self.patches = method_patches(model)
        except Exception as error:  # noqa: BLE001 - a strange model object is evidence, not a crash
            self.patches = [
                {
                    "target": "model",
                    "kind": "uninspectable",
                    "name": repr(error)[:200],
                    "file": None,
                    "line": None,
                }
            ]
        self.phase = "answer"

    def finish(self) -> dict[str, Any]:
        """Stop recording and return everything seen, as JSON data."""
        self.active = False
        after = grader_fingerprint()
        changed = [key for key, value in self._before.items() if after.get(key) != value]
        added = [
            key
            for key in after
            if key not in self._before
            and key.split(":")[0] in self._modules
            and not key.startswith("sys.modules:")
        ]
        tampered = sorted(changed) + sorted(added)
        return {
            "submission_folder": self.folder,
            "opens": self.opens,
            "events": self.events,
            "dropped": self.dropped,
            "patches": self.patches,
            "tampered": tampered[:50],
        }
