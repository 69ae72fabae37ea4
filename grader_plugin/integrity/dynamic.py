"""Dynamic detector: judges what the worker's recorder saw while ``load()`` and answering ran.

Built-in plugin on ``grader_scan_part`` (grader side); the evidence comes from the worker-side
:class:`grader_plugin.worker.recorder.Recorder` through ``WorkerOutcome.integrity``.

- opening the graded split (``valid.json``, or any file in the grader's data folder other than
  the training splits) is a flag; reading ``train.json`` for few-shot examples is fine;
- an answering method replaced on the instance, or assigned to the class at run time, by code
  of the submission (or of unknown origin) is a flag; by a library, a warning;
- a change to the grader's own modules inside the worker is a flag;
- network, subprocess use and importing ``pint`` while answering are warnings.
"""

from __future__ import annotations

import os
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.integrity.vocabulary import GRADING_FILES, TRAINING_FILES
from grader_plugin.results import Finding

DETECTOR = "dynamic audit"


def _relative(path: str | None, folder: str | None) -> str | None:
    if not path or not folder or not path.startswith(folder.rstrip(os.sep) + os.sep):
        return None
    return Path(path).relative_to(Path(folder).parent).as_posix()


def _opens(record: dict, data_dir: Path) -> list[Finding]:
    findings, seen = [], set()
    data = os.path.realpath(data_dir)
    for opened in record.get("opens", []):
        path = opened.get("path", "")
        real = os.path.realpath(path)
        in_data = real.startswith(data + os.sep)
        graded = GRADING_FILES.search(real) or (in_data and not TRAINING_FILES.search(real))
        if not graded or real in seen:
            continue
        seen.add(real)
        findings.append(
            Finding(
                f"{DETECTOR}: grading-data-read",
                f"opened the graded questions file {Path(real).name} during {opened.get('phase')}",
                evidence=f"open({path!r}, {opened.get('mode', 'r')!r}) while {opened.get('phase')} ran",
            )
        )
    return findings


def _patches(record: dict) -> list[Finding]:
    findings = []
    folder = record.get("submission_folder")
    for patch in record.get("patches", []):
        where = _relative(patch.get("file"), folder)
        library = patch.get("file") and where is None
        how = (
            "set on the instance" if patch.get("kind") == "instance" else "assigned to the class at run time"
        )
        findings.append(
            Finding(
                f"{DETECTOR}: method-patch",
                f"{patch['target']} is not the class's own method: {how} ({patch.get('name')})",
                severity="warn" if library else "flag",
                evidence=f"{patch.get('name')} defined at {where or patch.get('file')}:{patch.get('line')}",
                file=where,
                line=patch.get("line") if where else None,
            )
        )
    return findings


def _events(record: dict) -> list[Finding]:
    findings = []
    tampered = record.get("tampered") or []
    if tampered:
        findings.append(
            Finding(
                f"{DETECTOR}: grader-tampering",
                f"changed {len(tampered)} attribute(s) of the grader's modules inside the worker",
                evidence=", ".join(tampered[:8]),
            )
        )
    kinds: dict[str, list[dict]] = {}
    for event in record.get("events", []):
        name = event.get("event", "")
        if name == "import":
            kind = "unit-library" if event.get("detail", "").startswith("pint") else "import"
        elif name.startswith(("socket.", "urllib.")):
            kind = "network"
        else:
            kind = "subprocess"
        kinds.setdefault(kind, []).append(event)
    messages = {
        "network": "used the network",
        "subprocess": "started another process",
        "unit-library": "imported pint (a unit library)",
        "import": "imported a watched module",
    }
    for kind, events in kinds.items():
        first = events[0]
        findings.append(
            Finding(
                f"{DETECTOR}: {kind}",
                f"{messages[kind]} during {first.get('phase')} ({len(events)} event(s))",
                severity="warn",
                evidence="; ".join(f"{e.get('event')} {e.get('detail')}" for e in events[:3]),
            )
        )
    return findings


def _completeness(record: dict) -> list[Finding]:
    dropped = record.get("dropped")
    if isinstance(dropped, int) and dropped > 0:
        return [Finding(f"{DETECTOR}: incomplete record",
                        f"the worker's audit dropped {dropped} records (too many events); what it missed is unknown",
                        severity="warn")]
    return []


def judge_record(record: dict | None, data_dir: Path) -> list[Finding]:
    """Findings from one worker's integrity record (``WorkerOutcome.integrity``)."""
    if not record:
        return []
    try:
        return _opens(record, data_dir) + _patches(record) + _events(record) + _completeness(record)
    except (AttributeError, KeyError, TypeError) as error:
        return [Finding(f"{DETECTOR}: malformed record", f"the worker's integrity record is malformed ({error})",
                        severity="warn")]


@hookimpl
def grader_scan_part(check, outcome, context):
    if outcome is None:
        return None
    if outcome.ok and check.entry_point and not outcome.integrity:
        return [Finding(f"{DETECTOR}: missing record", "no integrity record came back from the worker; its "
                        "audit counts for nothing here", severity="warn")]
    return judge_record(outcome.integrity, context.settings.data_dir)
