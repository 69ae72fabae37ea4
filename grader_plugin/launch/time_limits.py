"""Time limits that fit the machine: each part's limit is a stated multiple of what the grader's own
code needs for the same work here.

The course's limits (40 s, 15 s, 60 s) are for a GPU.  On this project's 2-core CPU the same
honest hand-in needs minutes, so a fixed limit either fails honest work on slow machines or lets
hangs run for long on fast ones.  A trusted worker (no hand-in code,
:func:`grader_plugin.worker.trusted_tasks.measure_speed`) loads the base model course hand-ins load and
times the grader's own decoding; the figures are kept a day per model files, device and machine,
or only :data:`BUSY_KEEP_S` when other work kept the machine busy while they were taken (figures taken
beside another job can be many times the quiet machine's: BENCHMARKS.md, Figures behind the grader's
choices).
Each part's limit is :data:`MULTIPLE` times the estimated time of the work its check declares
(:class:`~grader_plugin.checks.Work`: the starter code's budgets at their upper end; a check that
answers questions and declares none does :data:`~grader_plugin.checks.ANSWERING`), and never below
the check's own limit, so an honest hand-in does not time out because the machine is slow and a
hang still ends.  ``--grade-timeout`` replaces all of this with one fixed limit.  :func:`part_timeout`
is the one rule; :func:`part_limit` applies it to a part's context.  Grader side.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

from grader_plugin.checks import ANSWERING, Work
from grader_plugin.worker.trusted_tasks import measure_speed
from unitconv.paths import cache_dir

MULTIPLE = 4
SPEED_PROMPTS = 8
SPEED_STEPS = 24
SPEED_PREFILL_TOKENS = 400
SPEED_TIMEOUT_S = 600
KEEP_S = 24 * 3600
"""Speed figures are measured again after a day."""
BUSY_KEEP_S = 600
"""Figures taken while the machine was busy are measured again after ten minutes."""
BUSY_LOAD = 0.5
"""The machine counts as busy when other processes than the grader's used more than this share of
its CPUs while it measured (or, where that cannot be read, its load average per CPU as measuring
started)..."""
BUSY_SPREAD = 2.0
"""... or when the slowest of the repeated timings took more than this multiple of the fastest."""
SPEED_REPEATS = 3
MEASUREMENT = 6
"""Version of :func:`measure_speed`'s method: figures taken by an older method are measured again."""
WORKER_START_S = 15
"""Allowance for a worker's interpreter start and imports, on top of the measured work."""


def estimated_seconds(work: Work, speed: dict) -> float:
    """Seconds ``work`` (its ``prompts`` a count) takes on a machine with these speed figures."""
    batch = max(1, speed["batch"])
    if work.batched:
        decode = work.new_tokens * speed["batched_step_seconds"] * max(1.0, work.prompts / batch)
    else:
        decode = work.prompts * work.new_tokens * speed["single_step_seconds"]
    prefill = work.prompts * work.prompt_tokens * speed["prefill_token_seconds"]
    return work.passes * (speed["load_seconds"] + prefill + decode) + WORKER_START_S


def _stored(model: str, folder, device: str | None) -> Path:
    """Where speed figures of this model on this machine are kept between runs."""
    facts = [f"method {MEASUREMENT}", model, str(device), str(os.cpu_count()), os.environ.get("OMP_NUM_THREADS", ""),
             platform.machine()]
    if folder is not None:
        facts += [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(Path(folder).iterdir())
                  if p.is_file()]
    digest = hashlib.sha256("\n".join(facts).encode()).hexdigest()[:16]
    return cache_dir() / "speed" / f"{digest}.json"


def _cpu_seconds() -> tuple[float, float] | None:
    """CPU seconds the whole machine and this process have used so far (Linux ``/proc/stat``; else None)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), time.process_time()


def others_share(before: tuple[float, float] | None, after: tuple[float, float] | None, seconds: float,
                 worker_cpu: float = 0.0) -> float:
    """The share of the machine's CPUs that other processes used between two :func:`_cpu_seconds`.

    The grader's own CPU time and ``worker_cpu`` (what the measuring worker reports it used: a
    trusted worker, and a sandbox's process tree does not hand its children's time back) are
    taken out.  Falls back to the load average per CPU where ``/proc/stat`` cannot be read; the
    load average would also count the grader's own earlier work, a minute behind.
    """
    cpus = os.cpu_count() or 1
    if before is None or after is None or seconds <= 0:
        return os.getloadavg()[0] / cpus
    others = (after[0] - before[0]) - (after[1] - before[1]) - worker_cpu
    return max(0.0, others) / (seconds * cpus)


def keep_seconds(speed: dict) -> float:
    """How long figures stay in use: a day when the machine was quiet while they were taken."""
    busy = speed.get("others_per_cpu", 0.0) > BUSY_LOAD or speed.get("spread", 1.0) > BUSY_SPREAD
    return BUSY_KEEP_S if busy else KEEP_S


def measured_speed(context) -> dict | None:
    """The speed figures of this run's base model here, or None when they could not be measured.

    Measured by a trusted worker and kept for :data:`KEEP_S` (:func:`keep_seconds`) in the
    grader's cache folder (per model files, device and machine), so a class of hand-ins or a
    series of quick checks does not pay for it each time.
    """
    model = context.settings.timed_model
    key = ("speed", model, context.settings.device)
    if key in context.cache:
        return context.cache[key]
    stored = _stored(model, context.model_folder(model), context.settings.device)
    try:
        speed = json.loads(stored.read_text())
        fresh = time.time() - speed["measured_at"] < keep_seconds(speed)
    except (OSError, ValueError, KeyError, TypeError):
        speed, fresh = None, False
    if not fresh:
        prompts = [q.text for q in context.public_questions(SPEED_PROMPTS)]
        payload = {"model": model, "device": context.settings.device, "prompts": prompts,
                   "steps": SPEED_STEPS, "prefill_tokens": SPEED_PREFILL_TOKENS, "repeats": SPEED_REPEATS}
        before, started = _cpu_seconds(), time.perf_counter()
        outcome = context.run_worker(measure_speed, payload, timeout=SPEED_TIMEOUT_S, label="measuring this machine")
        others = others_share(before, _cpu_seconds(), time.perf_counter() - started,
                              outcome.data.get("cpu_seconds", 0.0) if outcome.ok else 0.0)
        speed = None
        if outcome.ok:
            speed = {**outcome.data, "others_per_cpu": others, "measured_at": time.time(), "model": model}
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.write_text(json.dumps(speed))
    context.cache[key] = speed
    return speed


def declared_work(check) -> Work | None:
    """The work ``check`` declares; :data:`ANSWERING` for one that answers questions and declares none."""
    if check.work is not None:
        return check.work
    return ANSWERING if check.answers_questions else None


def part_work(check, questions: int, asked: int | None = None) -> Work | None:
    """The work of ``check``'s part in a run of ``questions`` questions, or None when it declares none.

    A part asks :meth:`~grader_plugin.checks.Check.question_count` of them; a part that answers
    questions also answers the ones detectors mixed in: it asks ``asked`` in all (when known), so
    a quick check gets a limit of its size.
    """
    work = declared_work(check)
    if work is None:
        return None
    prompts = check.question_count(questions)
    if check.answers_questions and work.prompts is None and asked is not None:
        prompts = max(prompts, asked)
    return replace(work, prompts=prompts)


def needs_speed(settings, check) -> bool:
    """Whether :func:`part_timeout` needs this machine's speed figures for ``check``."""
    return not settings.timeout and declared_work(check) is not None


def part_timeout(settings, check, speed: dict | None = None, asked: int | None = None) -> tuple[float, str]:
    """The time limit of ``check``'s worker, and a line saying where it comes from: the one rule.

    ``--grade-timeout`` when given; else :data:`MULTIPLE` times the estimated time of the part's
    work (``asked``: how many questions the part asks in all) with these ``speed`` figures
    (:func:`measured_speed`), never below the check's own limit; else the check's own limit.
    """
    if settings.timeout:
        return settings.timeout, f"time limit {settings.timeout:g} s (--grade-timeout)"
    work = part_work(check, settings.questions, asked)
    if work is None:
        return check.timeout_s, f"time limit {check.timeout_s:g} s (the check's own)"
    if speed is None:
        return check.timeout_s, f"time limit {check.timeout_s:g} s (the check's own; speed not measured)"
    estimate = estimated_seconds(work, speed)
    limit = max(check.timeout_s, MULTIPLE * estimate)
    age = (time.time() - speed["measured_at"]) / 60
    busy = "; the machine was busy then, so measured again soon" if keep_seconds(speed) < KEEP_S else ""
    return limit, (f"time limit {limit:.0f} s: at least {MULTIPLE} x the {estimate:.0f} s the grader's own "
                   f"decoding of {speed['model']} needs for this part's work here (measured {age:.0f} min ago{busy})")


def part_limit(context) -> tuple[float, str]:
    """:func:`part_timeout` for the part ``context`` grades, measuring this machine first when it needs to."""
    check, settings = context.check, context.settings
    asked = getattr(context, "asked", None)
    speed = measured_speed(context) if needs_speed(settings, check) else None
    return part_timeout(settings, check, speed, None if asked is None else len(asked))


def trusted_timeout(settings, own_s: float) -> float:
    """The limit of a trusted worker whose own limit is ``own_s``: ``--grade-timeout`` when that is longer."""
    return max(settings.timeout or 0, own_s)
