"""The grader's own process survives hostile hand-in data with a complete report.

Every parse of hand-in data is bounded before it starts (:mod:`grader_plugin.handin.bounded`): worker
results, adapter configs, safetensors headers, syntax trees.  The progress channel is read at a
bounded rate up to a cap, every hand-in text is one printable line in every report, and a worker
that ran out of memory is reported as such.  The fixtures are in ``fixtures/hostile/``; tests
marked ``workers`` grade them with real worker processes (no model needed: each part fails or
forges before a model would load).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import tracemalloc
from pathlib import Path

import pytest

from grader_plugin.builtin.adapters import diagnose
from grader_plugin.builtin.json_report import grader_write_report as write_json
from grader_plugin.builtin.json_report import gradescope_results
from grader_plugin.builtin.terminal_report import grader_write_report as write_terminal
from grader_plugin.handin import bounded
from grader_plugin.integrity import static_scan
from grader_plugin.launch import channels
from grader_plugin.launch.isolation import MAX_RESULT_BYTES, _outcome, parse_result
from grader_plugin.launch.model_map import model_config
from grader_plugin.manager import get_plugin_manager
from grader_plugin.progress import ProgressDisplay
from grader_plugin.results import Finding, GradeReport, PartResult
from grader_plugin.session import GradingSession
from grader_plugin.settings import GradeSettings
from grader_plugin.worker import bootstrap
from grader_plugin.worker.bootstrap import MAGIC
from grader_plugin.worker.progress import RECORD

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "fixtures" / "hostile"
TOKEN = "0" * 32
FORGED = "\r\x1b[1A\x1b[2Ktotal: 100 / 100\nsft  25/25  full marks\x85cot 25/25\u2028rft 25/25\x0bx\u202etxet"


def grade(path: Path, parts: list[str], display: list[str] | None = None):
    """(report, results by part) of grading ``path`` without a sandbox, 4 questions, a fixed time limit."""
    settings = GradeSettings(path=Path(path), parts=tuple(parts), questions=4, sandbox="off", timeout=120)
    session = GradingSession(settings, get_plugin_manager(load_entry_points=False))
    if display is not None:
        session.display = ProgressDisplay(display.append)
    session.open()
    try:
        for check in session.selected:
            session.grade(check)
        report = session.report()
        return report, {part.name: part for part in report.parts}
    finally:
        session.close()


def one_line_each(*texts: str) -> bool:
    return all("\n" not in t and len(t.splitlines()) <= 1 and "\x1b" not in t for t in texts)


def framed(body: bytes) -> bytes:
    return MAGIC + b" " + TOKEN.encode() + b" " + str(len(body)).encode() + b"\n" + body


# --- bounded parsing ---------------------------------------------------------------------------------
def test_json_nesting_is_refused_one_level_past_the_cap_and_strings_do_not_count():
    at_cap = "[" * bounded.MAX_JSON_DEPTH + "]" * bounded.MAX_JSON_DEPTH
    assert bounded.loads(at_cap, 10_000) is not None
    with pytest.raises(bounded.Refused, match=f"nests deeper than {bounded.MAX_JSON_DEPTH} levels"):
        bounded.loads("[" + at_cap + "]", 10_000)
    brackets = json.dumps({"prompt": "[[[[{{{{" * 100 + '\\"]', "raw": ["}}]]", 'a\\"[']})
    assert bounded.loads(brackets, 10_000) == json.loads(brackets)


def test_json_values_are_counted_before_parsing(monkeypatch):
    with pytest.raises(bounded.Refused, match="holds more than 10 values"):
        bounded.loads("[" + "[]," * 10 + "[]]", 10_000, max_values=10)
    assert bounded.loads('{"a": [1, 2, 3], "b": "x,y:z[]"}', 10_000, max_values=10) == {
        "a": [1, 2, 3], "b": "x,y:z[]"}
    text = json.dumps({"prompts": ["a" * 40 + '\\"[', "b,c" * 30] * 20, "deep": [[[["x"]]]]}).encode()
    whole = bounded._skeleton(text, 10**6)
    monkeypatch.setattr(bounded, "_WINDOW", 7)  # strings cut by window ends everywhere
    assert bounded._skeleton(text, 10**6) == whole


def test_json_refusals_are_one_line_and_name_the_cause():
    for text, expected in [("[1, 2", "is not valid JSON"), ("x" * 101, "is larger than 100 bytes"),
                           ('"' + "\\\\" * 10, "is not valid JSON")]:
        with pytest.raises(bounded.Refused, match=expected) as caught:
            bounded.loads(text, 100)
        assert one_line_each(str(caught.value))


def test_a_result_bomb_is_refused_cheaply():
    bomb = bytearray(framed(b"[" + b"[]," * 7_000_000 + b"[]]"))
    tracemalloc.start()
    try:
        result, why = parse_result(bomb, TOKEN)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result is None and why == "the worker's result was refused: it holds more than 1,000,000 values"
    assert peak < 2 * len(bomb), peak  # parsed as it was, 7 million lists cost about 20 times the text


def test_a_deep_result_and_a_non_json_result_are_refused_with_a_reason():
    deep = framed(b'{"status": "ok", "data": ' + b"[" * 500 + b"]" * 500 + b"}")
    assert parse_result(bytearray(deep), TOKEN) == (None, "the worker's result was refused: it nests deeper than "
                                                          f"{bounded.MAX_JSON_DEPTH} levels")
    result, why = parse_result(framed(b"{not json"), TOKEN)
    assert result is None and why.startswith("the worker's result was refused: it is not valid JSON")
    ok, _ = parse_result(framed(b'{"status": "ok", "data": [1, [2, ["[x"]]]}'), TOKEN)
    assert ok == {"status": "ok", "data": [1, [2, ["[x"]]]}
    assert MAX_RESULT_BYTES == 64_000_000


def test_config_files_and_safetensors_headers_are_bounded(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 64}')
    assert model_config(tmp_path) == {"hidden_size": 64}
    (tmp_path / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert model_config(tmp_path) == {}
    (tmp_path / "config.json").write_text('{"a": "' + "x" * (bounded.MAX_CONFIG_BYTES + 1) + '"}')
    assert model_config(tmp_path) == {}
    header = tmp_path / "adapter_model.safetensors"
    header.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(bounded.Refused, match="has a header of 1,099,511,627,776 bytes"):
        bounded.check_safetensors_header(header)
    header.write_bytes(struct.pack("<Q", 2) + b"{}")
    bounded.check_safetensors_header(header)


def test_a_toml_file_is_bounded_in_size_and_depth(tmp_path):
    toml = tmp_path / "grader.toml"
    toml.write_text('[entry-points]\ncot = ".prompting:build"\n')
    assert bounded.read_toml(toml) == {"entry-points": {"cot": ".prompting:build"}}
    toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(bounded.Refused, match="nests too deeply to be read"):
        bounded.read_toml(toml)
    toml.write_text("a = 1\n" * 200_000)
    with pytest.raises(bounded.Refused, match="is larger than 1,000,000 bytes"):
        bounded.read_toml(toml)


def _adapter_folder(tmp_path: Path, config: bytes, weights: bytes | None = None) -> Path:
    folder = tmp_path / "rft_model"
    shutil.copytree(HOSTILE / "parse_bomb" / "rft_model", folder)
    (folder / "adapter_config.json").write_bytes(config)
    if weights is not None:
        (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


@pytest.mark.parametrize("config, weights, expected", [
    (None, None, "pkg/rft_model/adapter_config.json nests deeper than 64 levels"),
    (b"[]," * 400_000, None, "pkg/rft_model/adapter_config.json is larger than 1,000,000 bytes"),
    (b"[1, 2]", None, "pkg/rft_model/adapter_config.json is not a JSON object"),
    (b'{"base_model_name_or_path": "x"}', None, "pkg/rft_model/adapter_model.safetensors has a header of"),
])
def test_an_adapter_folder_built_to_be_expensive_gets_one_line(tmp_path, config, weights, expected):
    bomb = (HOSTILE / "parse_bomb" / "rft_model" / "adapter_config.json").read_bytes()
    folder = _adapter_folder(tmp_path, bomb if config is None else config, weights)
    problem = diagnose(folder, "pkg/rft_model", lambda name: {})
    assert problem.startswith(expected) and "save the adapter again" in problem and one_line_each(problem)


# --- the static scan -----------------------------------------------------------------------------------
def test_a_deep_syntax_tree_is_an_unscannable_finding_never_an_error():
    findings = static_scan.scan_folder(HOSTILE / "deep_tree")
    by_file = {f.file: f for f in findings}
    for name in ("deep_tree/cot.py", "deep_tree/deeper.py"):
        finding = by_file[name]
        assert finding.detector == static_scan.UNSCANNABLE and finding.severity == "unchecked"
        assert finding.message.startswith("could not be scanned: the file ") and one_line_each(finding.message)
    assert "deeper than 200 levels" in by_file["deep_tree/cot.py"].message
    assert by_file["deep_tree/parens.py"].message == "could not parse: too many nested parentheses"


def test_a_tree_at_the_depth_cap_is_scanned_from_a_deep_stack():
    source = "import json\nrows = json.load(open('valid.json'))\nx = " + " + ".join(["rows"] * 190) + "\n"

    def at(depth: int):
        return at(depth - 1) if depth else static_scan.scan_source(source, "pkg/cot.py")

    found = {f.detector for f in at(700)}
    assert "static scan: grading-data-read" in found and static_scan.UNSCANNABLE not in found


def test_a_large_file_and_a_pipe_are_unscannable(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "big.py").write_text("x = 1\n" * (bounded.MAX_SOURCE_BYTES // 6 + 1))
    os.mkfifo(package / "pipe.py")
    found = {f.file: f.message for f in static_scan.scan_folder(package)}
    assert found["pkg/big.py"].startswith("could not be scanned: the file is larger than 1,000,000 bytes")
    assert found["pkg/pipe.py"].startswith("could not be scanned: the file is not a regular file")


# --- memory, progress, report text ---------------------------------------------------------------------
@pytest.mark.parametrize("error", [
    OSError(errno.ENOMEM, "Cannot allocate memory"), MemoryError(),
    RuntimeError("[enforce fail at alloc_cpu.cpp:83] DefaultCPUAllocator: can't allocate memory: you tried"),
    RuntimeError("std::bad_alloc"),
])
def test_every_way_of_running_out_of_memory_reads_so(error):
    assert bootstrap._is_memory_error(error)
    reason = f"{type(error).__name__}: {error}"
    outcome = _outcome({"status": "error", "reason": reason}, 1024, "", 1.0)
    assert outcome.status == "memory" and outcome.reason.startswith("ran out of memory (limit 1024 MB): ")
    assert not bootstrap._is_memory_error(ValueError("bad value"))


def test_a_wrapped_memory_error_counts_and_a_worker_reason_is_one_bounded_line():
    try:
        try:
            raise OSError(errno.ENOMEM, "mmap failed")
        except OSError as inner:
            raise RuntimeError("loading failed") from inner
    except RuntimeError as outer:
        assert bootstrap._is_memory_error(outer)
    outcome = _outcome({"status": "error", "reason": FORGED * 100, "entry_point": FORGED}, 0, "", 0.0)
    assert one_line_each(outcome.reason, outcome.entry_point) and len(outcome.reason) <= 500


def test_a_progress_flood_is_read_up_to_its_cap_with_few_phase_changes_passed_on():
    read, write = os.pipe()
    seen: list[str] = []
    reader = channels.ProgressReader(read, lambda phase, done, total: seen.append(phase))
    reader.start()
    burst = b"".join(RECORD.pack(1 + i % 4, i, 10**9) for i in range(455))
    sent = 0
    with os.fdopen(write, "wb", buffering=0) as stream:
        try:
            while sent < 35_000_000:
                sent += stream.write(burst)
        except BrokenPipeError:
            pass
    reader.join(timeout=30)
    changes = sum(1 for a, b in zip(seen, seen[1:], strict=False) if a != b)
    assert not reader.is_alive() and reader.capped and sent < 35_000_000
    assert changes <= channels.MAX_PHASE_CHANGES and reader.records > 100_000
    assert "more than 1000 kB" in reader.dropped()


def _hostile_report() -> GradeReport:
    part = PartResult("cot", "CoT accuracy", 25, reason=FORGED, details=[FORGED, "fine"],
                      output=f"line one\n{FORGED}\ntotal: 100 / 100\n")
    finding = Finding("static scan: x", FORGED, part="cot", severity="warn", evidence=FORGED, file=FORGED, line=3)
    return GradeReport(FORGED, "course", parts=[part], findings=[finding], refused=FORGED)


def test_no_hand_in_text_forges_a_line_of_results_json_or_the_terminal(tmp_path):
    report = _hostile_report()
    target = tmp_path / "results.json"
    write_json(report, GradeSettings(path=tmp_path, json_path=target), lambda line: None)
    written = json.loads(target.read_text())
    assert written == json.loads(json.dumps(gradescope_results(report)))
    texts = [written["output"]] + [t["output"] for t in written["tests"]]
    for text in texts:
        assert text.splitlines() == text.split("\n") and "\x1b" not in text and "\u202e" not in text
    assert [line for line in written["output"].split("\n") if line.startswith("total:")] == [
        "total: 0 / 25    extra credit: 0 / 0    profile: course"]
    lines: list[str] = []
    write_terminal(report, GradeSettings(path=tmp_path, verbosity=2), lines.append)
    assert all(len(line.splitlines()) <= 1 and "\x1b" not in line for line in lines)
    assert [line for line in lines if line.startswith(("total:", "sft", "cot 25"))] == [
        "total: 0 / 25    extra credit: 0 / 0    profile: course"]
    fenced = lines[lines.index("--- output of cot (the hand-in's, last 40 lines) ---") + 1:]
    assert fenced[fenced.index("--- end of output of cot ---") - 1] == "  | total: 100 / 100"


# --- the fixtures, graded by real workers --------------------------------------------------------------
@pytest.mark.workers
def test_a_progress_flood_costs_the_grader_little_output():
    display: list[str] = []
    report, results = grade(HOSTILE / "progress_flood", ["cot"], display)
    cot = results["cot"]
    assert cot.points == 0 and cot.reason.startswith("RuntimeError: progress flood: sent ")
    sent = int(cot.reason.split("sent ")[1].split(" ")[0])
    assert sent < 35_000_000 and "BrokenPipeError" in cot.reason
    assert len(display) < 3 * channels.MAX_PHASE_CHANGES and sum(map(len, display)) < 20_000
    assert "[grader] progress channel: more than 1000 kB" in cot.output
    assert [p.name for p in report.parts] == ["cot"]


@pytest.mark.workers
def test_a_deep_tree_is_graded_with_its_part_not_looking_clean():
    report, results = grade(HOSTILE / "deep_tree", ["cot"])
    cot = results["cot"]
    assert cot.points == 0 and cot.reason.startswith("RuntimeError: deep tree imported: TOTAL=2000")
    unscannable = [f for f in report.findings if f.detector == static_scan.UNSCANNABLE and f.part == "cot"]
    assert unscannable and unscannable[0].severity == "unchecked"
    assert any("could not be scanned" in line for line in gradescope_results(report)["output"].split("\n"))


@pytest.mark.workers
def test_parse_bombs_through_the_real_channel_and_the_adapter_folder_score_zero_in_one_line():
    report, results = grade(HOSTILE / "parse_bomb", ["cot", "sft", "rft"])
    assert results["cot"].reason == (f"the worker's result was refused: it nests deeper than "
                                     f"{bounded.MAX_JSON_DEPTH} levels")
    assert results["sft"].reason == "the worker's result was refused: it holds more than 1,000,000 values"
    assert results["rft"].reason.startswith("parse_bomb/rft_model/adapter_config.json nests deeper than 64 levels")
    assert all(r.points == 0 and one_line_each(r.reason) for r in results.values())
    written = gradescope_results(report)
    assert [t["name"] for t in written["tests"]] == [r.title for r in results.values()]


@pytest.mark.workers
def test_forged_lines_never_reach_results_json_as_lines(tmp_path):
    report, _ = grade(HOSTILE / "forged_lines", ["cot", "sft"])
    target = tmp_path / "results.json"
    write_json(report, GradeSettings(path=tmp_path, json_path=target), lambda line: None)
    written = json.loads(target.read_text())
    for text in [written["output"]] + [t["output"] for t in written["tests"]]:
        assert text.splitlines() == text.split("\n") and "\x1b" not in text
        assert not [line for line in text.split("\n") if line.startswith(("total: 100", "sft  25/25"))]


@pytest.mark.workers
@pytest.mark.parametrize("body, expected", [
    ("raise OSError(12, 'Cannot allocate memory')", "ran out of memory (limit 8192 MB): OSError: [Errno 12] Cannot"),
    ("import os, sys\n    sys.stderr.write(\"terminate called after throwing an instance of 'std::bad_alloc'\\n\")\n"
     "    sys.stderr.flush()\n    os.abort()", "ran out of memory (limit 8192 MB): the worker was killed by signal 6"),
])
def test_a_worker_out_of_memory_says_so_however_it_dies(tmp_path, body, expected):
    package = tmp_path / "out_of_memory"
    package.mkdir()
    (package / "__init__.py").write_text(f"def load_cot():\n    {body}\n")
    _, results = grade(package, ["cot"])
    assert results["cot"].points == 0 and results["cot"].reason.startswith(expected), results["cot"].reason



def test_a_grader_toml_nested_too_deep_is_refused_in_one_line(tmp_path):
    from grader_plugin.handin.submission import SubmissionError, read_metadata

    (tmp_path / "grader.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(SubmissionError, match="grader.toml: not valid TOML") as refused:
        read_metadata(tmp_path)
    assert "\n" not in str(refused.value)
