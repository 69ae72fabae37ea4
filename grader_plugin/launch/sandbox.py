"""The worker's sandbox: bubblewrap when it works here, with limits the worker cannot raise.

A worker runs hand-in code, so it gets (with ``bwrap``, Debian package ``bubblewrap``):

- its own PID namespace (the grader is invisible; when the worker's main process ends, the
  namespace ends and every process it started with it), no network, no IPC or UTS of the host;
- the whole file system read-only, except its own scratch folder and a private ``/tmp``;
  ``/proc/sys`` read-only too (bwrap leaves it writable when started by root);
- the grader's data folder, the grader's other work (every other hand-in, under the host's
  ``/tmp``) and the project's generated splits not mounted at all;
- when the grader runs as root: a real unprivileged uid of its own, with no capabilities
  (``setpriv``), so it cannot read root's private files, signal root's processes, or share a
  process budget with another worker; folders it must read below a private (0700) folder, such
  as a Python under ``/root``, are shown through an empty read-only folder put over it;
- an environment built from an allow-list, never the grader's.

Whatever the sandbox, limits are set before the worker's program starts, soft and hard alike,
so the worker cannot raise them: address space (``--grade-memory-mb``), file size, core dumps,
processes, open files.  ``--grade-sandbox auto`` uses bubblewrap when it works and otherwise runs
workers without it (the report header says so); ``required`` refuses to grade without it; ``off``
never uses it.  Grader side.
"""

from __future__ import annotations

import glob
import itertools
import os
import resource
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROBE_ARGS = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--unshare-net",
              "--die-with-parent", "--new-session")
TMP_BYTES = 2 << 30
FILE_BYTES = 4 << 30
PROCESSES = 512
OPEN_FILES = 4096
FIRST_UID = 61000
UIDS = 2000
_uids = itertools.count()


class SandboxUnavailable(RuntimeError):
    """``--grade-sandbox required`` and bubblewrap does not work here; the message says why and the fix."""


@dataclass(frozen=True)
class Sandbox:
    """How workers run in this run: ``bubblewrap`` or ``none``, and why."""

    kind: str
    why: str = ""

    def describe(self) -> str:
        if self.kind == "bubblewrap":
            who = "an unprivileged uid per worker" if os.geteuid() == 0 else "the grader's uid, no capabilities"
            return f"sandbox: bubblewrap (own PID and network namespaces, read-only files, {who})"
        return f"sandbox: none, {self.why}; grades of hostile hand-ins are not protected"


def probe() -> tuple[bool, str]:
    """Whether ``bwrap`` can make a sandbox here, and what it said when it cannot."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap not found (install the Debian package bubblewrap)"
    extra = [] if os.geteuid() == 0 else ["--unshare-user", "--disable-userns"]
    try:
        done = subprocess.run([bwrap, *PROBE_ARGS, *extra, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"bubblewrap does not start ({error})"
    if done.returncode != 0:
        return False, f"bubblewrap does not work here ({done.stderr.strip().splitlines()[-1:] or ['no message']})"
    return True, ""


def choose(mode: str) -> Sandbox:
    """The sandbox of a run under ``--grade-sandbox MODE``."""
    if mode == "off":
        return Sandbox("none", "turned off (--grade-sandbox off)")
    works, why = probe()
    if works and shutil.which("setpriv") or works and os.geteuid() != 0:
        return Sandbox("bubblewrap")
    why = why or "setpriv (util-linux) not found"
    if mode == "required":
        raise SandboxUnavailable(f"--grade-sandbox required: {why}; install it (apt-get install bubblewrap) "
                                 f"or grade with --grade-sandbox auto")
    return Sandbox("none", why)


def hard_limits(memory_mb: int):
    """A ``preexec_fn`` that sets the worker's limits, soft and hard alike (so they cannot be raised)."""
    limits = [(resource.RLIMIT_FSIZE, FILE_BYTES), (resource.RLIMIT_CORE, 0),
              (resource.RLIMIT_NPROC, PROCESSES), (resource.RLIMIT_NOFILE, OPEN_FILES)]
    if memory_mb > 0:
        limits.append((resource.RLIMIT_AS, memory_mb * 1024 * 1024))

    def apply() -> None:
        for kind, value in limits:
            _soft, hard = resource.getrlimit(kind)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))

    return apply


def new_uid() -> int:
    """A uid no other worker of this grader uses at the same time (only used when the grader is root)."""
    return FIRST_UID + (os.getpid() * 7 + next(_uids)) % UIDS


def _private(path: Path) -> bool:
    """Whether others may not pass through ``path`` (an unprivileged uid would be stopped there)."""
    try:
        return not path.stat().st_mode & stat.S_IXOTH
    except OSError:
        return False


def _mount_point_parents(path: Path, roots: list[Path]) -> list[str]:
    """``--dir`` options for the parents bwrap must create below a tmpfs root, open to everyone."""
    parents = [p for p in reversed(path.parents) if any(r in p.parents for r in roots)]
    return [arg for p in parents for arg in ("--perms", "0755", "--dir", str(p))]


def bubblewrap_command(command: list[str], *, scratch: Path, readable: list[Path], hidden: list[Path],
                       env: dict[str, str], uid: int | None, writable: list[Path] = (),
                       binds: list[tuple[Path, Path]] = ()) -> list[str]:
    """The ``bwrap`` command line that runs ``command`` as the module docstring describes.

    ``readable``: folders the worker must read (Python, the project, the hand-in, models);
    ``hidden``: folders it must not see at all; ``scratch``: its only writable folder (also its
    working folder and home); ``writable``: other folders a trusted worker may write; ``uid``: the
    unprivileged uid to run as (None: keep the caller's); ``binds``: ``(source, destination)``
    read-only binds made after the readable folders, so a worker reads ``source`` at
    ``destination`` (a model's files served in place of the real ones, at the real path) and
    never sees ``source`` at its own path.
    """
    readable = sorted({Path(os.path.realpath(p)) for p in readable if os.path.exists(p)})
    blocked = sorted({a for p in readable for a in p.parents if _private(a)} if uid is not None else set())
    args = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--ro-bind", "/proc/sys", "/proc/sys",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    for device in sorted(glob.glob("/dev/nvidia*")) + (["/dev/dri"] if os.path.exists("/dev/dri") else []):
        args += ["--dev-bind", device, device]  # a GPU stays usable
    roots = [Path("/tmp"), *blocked]
    mounts = [(folder, ["--perms", "0755", "--tmpfs", str(folder)]) for folder in blocked]
    mounts += [(folder, _mount_point_parents(folder, roots) + ["--ro-bind", str(folder), str(folder)])
               for folder in readable if any(r == folder or r in folder.parents for r in roots)]
    for _, options in sorted(mounts, key=lambda mount: len(mount[0].parts)):  # outer before inner: none hides another
        args += options
    for source, destination in binds:
        args += _mount_point_parents(Path(destination), roots) + ["--ro-bind", str(source), str(destination)]
    for folder in sorted({Path(os.path.realpath(h)) for h in hidden if os.path.isdir(h)}):
        args += ["--perms", "0755", "--tmpfs", str(folder), "--remount-ro", str(folder)]
    for folder in writable:
        args += _mount_point_parents(folder, roots) + ["--bind", str(folder), str(folder)]
    args += _mount_point_parents(scratch, roots) + ["--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    for folder in blocked:  # read-only once every mount point below it is made
        args += ["--remount-ro", str(folder)]
    if uid is None:  # the caller's uid without capabilities: root's private sockets (/run) hidden too
        args[1:1] = ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        args += ["--tmpfs", "/run"]
    args += ["--clearenv"] + [arg for key, value in sorted(env.items()) for arg in ("--setenv", key, value)]
    if uid is None:
        return args + ["--", *command]
    drop = [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]
    return args + ["--", *drop, *command]


def worker_environment(extra: dict[str, str], scratch: Path, uid: int | None) -> dict[str, str]:
    """The worker's whole environment: an allow-list of the grader's settings, then ``extra``."""
    allowed = ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
               "NVIDIA_VISIBLE_DEVICES", "CUDA_HOME", "LD_LIBRARY_PATH")
    env = {key: os.environ[key] for key in allowed if key in os.environ}
    env.update({
        "HOME": str(scratch),
        "USER": f"worker{uid}" if uid is not None else os.environ.get("USER", "worker"),
        "TMPDIR": "/tmp",
        "HF_HOME": str(scratch / "hf-home"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    })
    env.setdefault("PATH", "/usr/bin:/bin")
    env.update(extra)
    return env


def readable_by_others(folder: Path) -> bool:
    """Whether a user other than the owner may read every file of ``folder`` (following links)."""
    for path in [Path(folder), *Path(folder).rglob("*")]:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
        if mode & needed != needed:
            return False
    return True

