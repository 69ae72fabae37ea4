"""Trusted replay: the answers must follow from what the model itself writes for the prompts it was given.

Built-in plugin on ``grader_scan_part`` (grader side) for checks that declare
``answers_questions``, and the main detector: it relies only on what the grader controls (the
questions it asked, the weights it serves, a decoding it runs itself).  The part's worker
recorded, at ``batched_generate``, the prompts the hand-in's ``format_prompt`` produced and the
raw outputs (:func:`grader_plugin.worker.tasks.answer_questions`).  A separate worker with no
hand-in code (:func:`grader_plugin.worker.tasks.replay_answers`) loads the base model the hand-in
loaded and its adapter folder itself, decodes a sample of those prompts greedily with the grader's
own code and parses them with the grader's own parser.  Then, over the sample:

- **outputs**: where the recorded output carries a right answer and the replay of the same
  prompt does not (*gains*), against the reverse (*losses*).  An honest greedy model reproduces
  itself (no gains, no losses); an honest sampling one gains and loses alike; output forced by
  hooks or a logits processor, or a forged record, gains only;
- **answers**: where ``answer()`` returned a right answer but its own recorded output, read by
  the grader's parser, says a different, wrong number (gains), against the reverse.

Either is flagged when gains are at least :data:`MIN_GAINS` and a one-sided sign test gives
p < :data:`ALPHA`, with the prompt, the answer and the replayed output as evidence.  Two more
checks: a hidden question's prompt (whose answer the hand-in cannot know) that contains that
answer, in at least :data:`MIN_LEAKS` prompts, is a flag (the answer was put into the prompt);
and a part that reports more decoding than the replay, timed in the same run on the same model,
says this machine can do in its time (with a :data:`PLAUSIBLE_SPEEDUP` times margin) is a
warning.  What cannot be replayed (no recorded prompts, no transformers model)
is a warning; the other detectors stand.  Like the behavioural detectors, it runs only for parts
that answered at least :data:`MIN_ACCURACY` of their graded questions right: below that there is
nothing a cheat gained.
"""

from __future__ import annotations

import json
import math
from math import comb
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.results import Finding
from grader_plugin.scoring import is_correct
from grader_plugin.worker.tasks import replay_answers

DETECTOR = "replay"
SHARE = 0.2
MIN_SAMPLE = 12
MIN_GAINS = 3
ALPHA = 0.01
MIN_LEAKS = 3
PLAUSIBLE_SPEEDUP = 10
MAX_NEW_TOKENS = 200
MIN_ACCURACY = 0.25
ADAPTER_FOLDERS = {"sft": "sft_model", "rft": "rft_model"}


def sign_test(gains: int, losses: int) -> float:
    """One-sided p-value of at least ``gains`` successes of ``gains + losses`` fair coin flips."""
    total = gains + losses
    return sum(comb(total, k) for k in range(gains, total + 1)) / 2 ** total if total else 1.0


def _shown(text, width: int = 80) -> str:
    text = repr(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def judge_gains(kind: str, rows: list[tuple[bool, bool, str]]) -> Finding | None:
    """A flag when the first of each ``(claimed right, replay right, evidence)`` wins significantly."""
    gains = [evidence for claimed, replayed, evidence in rows if claimed and not replayed]
    losses = sum(1 for claimed, replayed, _ in rows if replayed and not claimed)
    p_value = sign_test(len(gains), losses)
    if len(gains) < MIN_GAINS or p_value >= ALPHA:
        return None
    return Finding(
        f"{DETECTOR}: {kind}",
        f"{len(gains)} of {len(rows)} replayed answers were right only as the hand-in reported them "
        f"({losses} the other way; sign test p = {p_value:.2g})",
        evidence="; ".join(gains[:3]),
    )


def _number_forms(value: float) -> set[str]:
    forms = {f"{value:g}", f"{value:.6g}", repr(value), f"{round(value, 3):g}"}
    if float(value).is_integer():
        forms.add(str(int(value)))
    return {form for form in forms if len(form.replace(".", "").replace("-", "")) >= 3}


def _stored_answers(data_dir: Path) -> set[float]:
    values = set()
    for name in ("train.json", "valid.json"):
        path = Path(data_dir) / name
        if path.is_file():
            values.update(round(float(row[1]), 3) for row in json.loads(path.read_text(encoding="utf-8")))
    return values


def judge_leaks(asked, prompts: list[str], data_dir: Path) -> Finding | None:
    """A flag when hidden questions' prompts contain their own expected answers."""
    stored = _stored_answers(data_dir)
    leaks = []
    for question, prompt in zip(asked, prompts, strict=True):
        if question.asked_by == "graded" or round(question.expected, 3) in stored:
            continue  # a stored row with that answer may be an honest worked example
        found = [form for form in _number_forms(question.expected) if form in prompt.replace(question.text, "")]
        if found:
            leaks.append(f"{_shown(question.text, 60)} -> prompt holds {found[0]}")
    if len(leaks) < MIN_LEAKS:
        return None
    return Finding(f"{DETECTOR}: answer in prompt",
                   f"{len(leaks)} prompts of hidden questions contain the question's own expected answer",
                   evidence="; ".join(leaks[:3]))


def judge_speed(seconds: float, counts: dict) -> Finding | None:
    """A warning when the part reported more decoding than the replay says this machine does in its time.

    The rate comes from the replay itself (``counts``: its ``decode_seconds`` for its
    ``replayed_tokens``, prompt and new tokens, timed in the trusted worker of this run, on the
    model the hand-in loaded), so load on the machine slows both alike; the figures of an earlier
    run once made the reference look twenty times too fast (2026-12-02).  A warning, never a
    flag: batching differs between the two decodings, and a forged result cannot reach the
    grader anyway (the result channel carries a one-time token).
    """
    replayed, spent = counts.get("replayed_tokens", 0), counts.get("decode_seconds", 0.0)
    if replayed <= 0 or spent <= 0:
        return None
    needed = (counts["prompt_tokens"] + counts["output_tokens"]) * spent / replayed
    floor = needed / PLAUSIBLE_SPEEDUP
    if seconds >= floor:
        return None
    return Finding(f"{DETECTOR}: implausible speed",
                   f"the worker reported {counts['prompt_tokens']} prompt and {counts['output_tokens']} output tokens "
                   f"in {seconds:.1f} s; the grader's replay on the same model in this run needs {needed:.0f} s "
                   f"for that many", severity="warn",
                   evidence=f"below 1/{PLAUSIBLE_SPEEDUP} of the replay's time ({floor:.1f} s); replay: "
                            f"{replayed} tokens in {spent:.1f} s")


def _sample(count: int, asked) -> list[int]:
    size = min(count, max(MIN_SAMPLE, round(SHARE * count)))
    graded = [i for i, q in enumerate(asked) if q.asked_by == "graded"]
    extra = [i for i, q in enumerate(asked) if q.asked_by != "graded"]
    chosen = extra[: size // 3] + graded[: size - len(extra[: size // 3])]
    return sorted(chosen)


def _replay_target(check, outcome, context) -> tuple[dict | None, str]:
    """The model to replay with (name, dtype, adapter folder), or why there is none."""
    models = [m for m in outcome.models if m.get("name_or_path")]
    if not models:
        return None, "the loaded object holds no transformers model the grader can load itself"
    model, adapter = models[0], None
    if model.get("adapter"):
        folder = context.submission.folder / ADAPTER_FOLDERS.get(check.entry_point or "", "")
        if not (folder / "adapter_config.json").is_file():
            return None, f"the model carries an adapter, but not from {context.submission.package}/{folder.name}"
        adapter = str(folder)
    if context.model_folder(model["name_or_path"]) is None:
        return None, f"the grader cannot load {model['name_or_path']} itself"
    return {"model": model["name_or_path"], "dtype": model.get("dtype"), "adapter": adapter}, ""


@hookimpl
def grader_scan_part(check, outcome, context):
    if outcome is None or not outcome.ok or not check.answers_questions or not check.entry_point:
        return None
    data = outcome.data if isinstance(outcome.data, dict) else {}
    asked, answers = context.asked_questions(), data.get("answers")
    prompts, outputs = data.get("prompts"), data.get("raw")
    if not (isinstance(answers, list) and len(answers) == len(asked)):
        return None
    graded = [(q, a) for q, a in zip(asked, answers, strict=True) if q.asked_by == "graded"]
    if sum(is_correct(a, q.expected) for q, a in graded) < MIN_ACCURACY * len(graded):
        return None  # nothing gained that a replay could call into question
    if not (isinstance(prompts, list) and isinstance(outputs, list) and len(prompts) == len(outputs) == len(asked)):
        return [Finding(DETECTOR, "cannot be replayed: answer() did not go through batched_generate with one "
                                  "prompt per question", severity="warn")]
    target, problem = _replay_target(check, outcome, context)
    if target is None:
        return [Finding(DETECTOR, f"cannot be replayed: {problem}", severity="warn")]
    chosen = _sample(len(asked), asked)
    payload = {**target, "device": context.settings.device, "prompts": prompts, "outputs": outputs,
               "replay": chosen, "max_new_tokens": MAX_NEW_TOKENS}
    replay = context.run_worker(replay_answers, payload, label="replay")
    if not replay.ok or not isinstance(replay.data, dict):
        return [Finding(DETECTOR, f"the replay could not run: {replay.reason}", severity="warn")]
    result = replay.data
    recorded, replayed = result["recorded_answers"], result["replayed_answers"]
    output_rows, answer_rows = [], []
    for position, index in enumerate(chosen):
        question, claimed = asked[index], answers[index]
        evidence = (f"{_shown(question.text, 60)}: answered {claimed:g}, its output {_shown(outputs[index], 60)}, "
                    f"replayed {_shown(result['replayed'][position], 60)}, expected {question.expected:g}")
        output_rows.append((is_correct(recorded[index], question.expected),
                            is_correct(replayed[position], question.expected), evidence))
    for index, question in enumerate(asked):
        if math.isfinite(recorded[index]):
            answer_rows.append((is_correct(answers[index], question.expected),
                                is_correct(recorded[index], question.expected),
                                f"{_shown(question.text, 60)}: answered {answers[index]:g}, its own output says "
                                f"{recorded[index]:g}, expected {question.expected:g}"))
    findings = [judge_gains("outputs not the model's", output_rows),
                judge_gains("answers not from the outputs", answer_rows),
                judge_leaks(asked, prompts, context.settings.data_dir),
                judge_speed(outcome.seconds, result)]
    return [f for f in findings if f is not None]
