"""The worker's entry point: a fresh interpreter that loads one hand-in entry point and runs one task.

The grader starts it with ``python -I -B`` (no current folder, no ``PYTHON*`` variables, no
bytecode written), inside the run's sandbox and under limits the grader set before it started,
and sends the job on its standard input (nothing on disk, nothing in its command line).  The
worker opens its result channel first (:func:`result_channel`: a pipe the grader passed it,
moved to another descriptor and kept from child processes, and a one-time token), imports the
task from the grader's path, then puts the submission's private parent folder first on
``sys.path`` and forgets any module of the submission's name, so a submission called
``solution`` is never confused with the installed ``solution`` package.  It sends one framed
result and leaves with ``os._exit`` so the submission's exit handlers cannot change it.  It never
receives expected answers.

Hand-in code shares this process, so none of this is a wall: a determined hand-in could find the
channel and the token in memory.  It raises the bar; what the grader believes comes from its own
checks of what the result claims (``docs/integrity.md``).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import sys
import traceback
from pathlib import Path

from grader_plugin.worker import progress
from grader_plugin.worker.models import describe_models, torch_modules

BOOTSTRAP = (
    "import json, sys; job = json.loads(sys.stdin.buffer.readline()); "
    "sys.path[:0] = [p for p in job['sys_path'] if p not in sys.path]; "
    "from grader_plugin.worker.bootstrap import main; main(job)"
)
"""What ``python -I -c`` runs: read the job, find the grader on the grader's own path, hand over."""
MAGIC = b"UNITCONV-RESULT"
"""A result message is ``MAGIC token length\n`` followed by ``length`` bytes of JSON."""


class MissingEntryPoint(LookupError):
    """None of the candidate entry points exists in the submission."""


def _enter_submission(parent: str, package: str) -> None:
    sys.path.insert(0, parent)
    for name in list(sys.modules):
        if name == package or name.startswith(package + "."):
            del sys.modules[name]
    importlib.invalidate_caches()


def _load_attribute(spec: str, package: str | None):
    """Import ``module:attribute``; None when that module or attribute does not exist."""
    module_name, attribute = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            return None  # the candidate module itself is absent: try the next candidate
        raise
    return getattr(module, attribute, None)


def _resolve(candidates: list[str], package: str | None):
    for spec in candidates:
        found = _load_attribute(spec, package)
        if callable(found):
            return found, spec
    raise MissingEntryPoint(f"no entry point found; looked for {', '.join(candidates)}")


def count_parameters(model) -> int | None:
    """Parameters of every torch module the loaded object holds (wherever it keeps them), else None.

    A parameter shared by several modules counts once.
    """
    try:
        modules = torch_modules(model)
    except Exception:  # noqa: BLE001 - an object that cannot be walked has no countable model
        return None
    if not modules:
        return None
    unique = {id(p): p.numel() for module in modules for p in module.parameters()}
    return int(sum(unique.values()))


def _location(error: BaseException, folder: str | None) -> str:
    """The hand-in's own file and line where ``error`` was raised last (``pkg/module.py:LINE``), or ""."""
    if not folder:
        return ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(folder + os.sep)]
    if not frames:
        return ""
    last = frames[-1]
    return f"{Path(last.filename).relative_to(Path(folder).parent).as_posix()}:{last.lineno}"


def _where(error: BaseException, folder: str | None) -> str:
    location = _location(error, folder)
    return f" ({location})" if location else ""


HUB_ID_NAMES = ("path_or_repo_id", "pretrained_model_name_or_path", "repo_id")


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    while error is not None and error not in found and len(found) < 10:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


def missing_hub_model(error: BaseException) -> str | None:
    """The hub id a failed ``from_pretrained`` asked for when the offline hub had no copy of it."""
    chain = _chain(error)
    offline = any(type(e).__name__ in ("LocalEntryNotFoundError", "OfflineModeIsEnabled")
                  or "huggingface.co" in str(e) for e in chain)
    if not offline:
        return None
    found = None
    for link in chain:
        trace = link.__traceback__
        while trace is not None:
            for name in HUB_ID_NAMES:
                value = trace.tb_frame.f_locals.get(name)
                if isinstance(value, str) and value.count("/") == 1 and not os.path.exists(value):
                    found = value
            trace = trace.tb_next
    return found or "a model"


MEMORY_WORDS = ("can't allocate memory", "cannot allocate memory", "out of memory", "bad_alloc")
"""How a failed allocation reads when it is not a ``MemoryError`` (the C library, torch, C++)."""


def _is_memory_error(error: BaseException) -> bool:
    """Whether ``error`` (or one it was raised from) says memory ran out."""
    for link in _chain(error):
        text = f"{type(link).__name__} {link}".lower()
        if (isinstance(link, MemoryError) or getattr(link, "errno", None) == errno.ENOMEM
                or any(word in text for word in MEMORY_WORDS)):
            return True
    return False


def run(job: dict) -> dict:
    """Load the entry point and run the task; a result dict, whatever the submission does.

    The result's ``integrity`` holds what :class:`grader_plugin.worker.recorder.Recorder` saw
    from before the submission was imported until the task returned.
    """
    from grader_plugin.worker.recorder import Recorder

    package = job.get("package")
    with contextlib.suppress(Exception):  # the grader's task module, so that it is fingerprinted
        importlib.import_module(job["task"].split(":")[0])
    recorder = Recorder(str(Path(job["parent"]) / package) if package else None)
    finish = recorder.finish  # bound now: a submission patching the class cannot change the report
    result = _run(job, recorder)
    result["integrity"] = finish()
    return result


def _run(job: dict, recorder) -> dict:
    package = job.get("package")
    folder = str(Path(job["parent"]) / package) if package else None
    used = None
    try:
        module_name, function_name = job["task"].split(":")
        task = getattr(importlib.import_module(module_name), function_name)
        model = None
        if package:
            _enter_submission(job["parent"], package)
        models = []
        if job.get("candidates"):
            factory, used = _resolve(job["candidates"], package)
            progress.report(progress.LOADING)
            model = factory()
            recorder.loaded(model)
            models = _described(model, package)
        progress.report(progress.WORKING)
        data = task(model, job["payload"])
        return {"status": "ok", "data": data, "entry_point": used, "num_parameters": count_parameters(model),
                "models": models}
    except MissingEntryPoint as error:
        return {"status": "missing", "reason": str(error)}
    except SystemExit as error:
        return {
            "status": "error",
            "entry_point": used,
            "reason": f"called sys.exit({error.code!r}){_where(error, folder)}",
            "where": _location(error, folder),
        }
    except BaseException as error:  # noqa: BLE001 - any failure of submission code is a result
        hub_id = missing_hub_model(error)
        if hub_id is not None:
            return {
                "status": "error",
                "entry_point": used,
                "reason": f"loads {hub_id!r} from the model hub, which workers never reach, and this grader "
                          f"does not serve it; serve a local copy with --grade-model-map {hub_id}=PATH"
                          f"{_where(error, folder)}",
                "where": _location(error, folder),
                "cause": "hub",
            }
        status = "memory" if _is_memory_error(error) else "error"
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        return {
            "status": status,
            "entry_point": used,
            "reason": f"{type(error).__name__}: {first_line}{_where(error, folder)}",
            "where": _location(error, folder),
        }


def _described(model, package: str | None) -> list[dict]:
    try:
        return describe_models(model, package)
    except Exception:  # noqa: BLE001 - an odd object is not a reason to lose the result
        return []


def result_channel(fd: int, token: str):
    """A function that sends one framed result over ``fd`` (bound now, before hand-in code runs)."""
    import random

    moved = os.dup2(fd, random.SystemRandom().randrange(300, 1000))
    os.close(fd)
    os.set_inheritable(moved, False)
    write, dumps, leave = os.write, json.dumps, os._exit

    def send(result: dict) -> None:
        try:
            body = dumps(result).encode()
        except (TypeError, ValueError, RecursionError) as error:
            body = dumps({"status": "error", "reason": f"the task's result is not JSON data ({error})"}).encode()
        message = MAGIC + b" " + token.encode() + b" " + str(len(body)).encode() + b"\n" + body
        while message:
            message = message[write(moved, message):]
        leave(0)

    return send


def main(job: dict) -> None:
    """Worker entry point (see :data:`BOOTSTRAP`)."""
    send = result_channel(job.pop("result_fd"), job.pop("token"))
    progress.open_channel(job.pop("progress_fd", None))
    result = run(job)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a closed or replaced stream must not lose the result
        pass
    send(result)
