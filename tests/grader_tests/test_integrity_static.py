"""The static scan reads syntax trees: each rule fires on its pattern, with file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader_plugin.integrity.static_scan import part_of, scan_folder, scan_source

ROOT = Path(__file__).resolve().parents[2]


def rules(source: str) -> dict[str, str]:
    """Rule name -> severity (the strongest) of the findings over ``source``."""
    found: dict[str, str] = {}
    for finding in scan_source(textwrap.dedent(source), "pkg/mod.py"):
        rule = finding.detector.split(": ", 1)[1]
        if found.get(rule) != "flag":
            found[rule] = finding.severity
    return found


def test_reading_the_validation_file_is_flagged_with_file_and_line():
    findings = scan_source('import json\n\nrows = json.load(open("data/valid.json"))\n', "pkg/cheat.py")
    flagged = [f for f in findings if f.severity == "flag"]
    assert [(f.detector, f.file, f.line) for f in flagged] == [
        ("static scan: grading-data-read", "pkg/cheat.py", 3)
    ]
    assert 'json.load(open("data/valid.json"))' in flagged[0].evidence


def test_reading_the_training_file_for_few_shot_examples_only_warns():
    assert rules('TRAIN = "data/train.json"\n') == {"training-data-read": "warn"}


def test_a_comment_or_docstring_that_mentions_valid_json_is_not_a_finding():
    assert rules('"""We never read data/valid.json."""\n# open("valid.json")\nx = 1\n') == {}


def test_question_table_used_by_answer_is_flagged_but_the_same_table_in_a_training_script_warns():
    cheat = """
        import json
        ROWS = json.load(open("rows.json"))
        TABLE = {q: a for q, a in ROWS}
        class Model:
            def answer(self, *questions):
                return [TABLE[q] for q in questions]
    """
    training = """
        import json
        def build_labels(path):
            rows = json.load(open(path))
            return {q: a for q, a in rows}
    """
    assert rules(cheat)["answer-table"] == "flag"
    assert rules(training)["answer-table"] == "warn"


def test_a_dict_over_counter_items_is_not_an_answer_table():
    assert "answer-table" not in rules(
        "from collections import Counter\nw = {k: v for k, v in Counter('ab').items()}\n"
    )


@pytest.mark.parametrize(
    "line",
    [
        "model.answer = lookup",
        "llm.model.generate = fake",
        "Model.batched_generate = emit",
        "setattr(model, 'parse_answer', parse)",
        "mock.patch.object(Model, 'answer', lookup)",
    ],
)
def test_run_time_replacement_of_an_answering_method_is_flagged(line):
    assert rules(line + "\n")["method-replacement"] == "flag"


def test_defining_answer_in_a_class_body_is_not_a_replacement():
    assert rules("class M:\n    def answer(self, *q):\n        return []\n") == {}


def test_a_long_constant_decoded_with_base64_and_zlib_is_flagged_as_an_encoded_blob():
    blob = "eJ" + "A" * 400
    source = f'import base64, zlib\nB = "{blob}"\nT = zlib.decompress(base64.b64decode(B))\n'
    findings = [f for f in scan_source(source, "pkg/m.py") if f.detector.endswith("encoded-blob")]
    assert findings and all(f.severity == "flag" and f.line == 3 for f in findings)


def test_importing_the_grader_is_flagged_and_exits_network_and_subprocess_only_warn():
    found = rules("import grader_plugin.worker\nimport sys, socket, subprocess\nsys.exit(1)\nimport pint\n")
    assert found == {
        "grader-modules": "flag",
        "network": "warn",
        "subprocess": "warn",
        "exit": "warn",
        "unit-library": "warn",
    }


def test_flag_rules_inside_a_development_helper_only_warn():
    source = (
        'def test_model():\n    rows = Dataset("valid")\nif __name__ == "__main__":\n    open("valid.json")\n'
    )
    assert rules(source) == {"grading-data-read": "warn"}


def test_unparseable_file_is_a_warning_not_a_crash():
    [finding] = scan_source("def broken(:\n", "pkg/bad.py")
    assert finding.severity == "warn" and finding.line == 1


def test_findings_in_a_parts_own_module_concern_that_part_only():
    assert part_of("pkg/sft.py", "pkg", {}) == "sft"
    assert part_of("pkg/prompting.py", "pkg", {"cot": ".prompting:build"}) == "cot"
    assert part_of("pkg/__init__.py", "pkg", {}) is None


def test_reference_solution_has_no_flag_only_warnings():
    findings = scan_folder(ROOT / "solution")
    assert findings, "the reference's training scripts read data and use pint: expected warnings"
    assert [f for f in findings if f.severity == "flag"] == []


def test_honest_fixtures_have_no_flag():
    for folder in sorted((ROOT / "fixtures" / "honest").iterdir()):
        if folder.name != "dormant_lookup":  # its dormant code is the next test's subject
            assert [f.message for f in scan_folder(folder) if f.severity == "flag"] == [], folder.name


def test_static_flags_only_show_code_exists_and_wait_for_run_time_confirmation():
    found = [f for f in scan_folder(ROOT / "fixtures" / "honest" / "dormant_lookup") if f.severity == "flag"]
    assert found and all(f.needs_confirmation for f in found)
    assert {f.detector for f in found} >= {"static scan: method-replacement", "static scan: grading-data-read"}


def test_an_error_message_naming_a_data_file_is_not_a_finding_and_repeats_are_one_finding():
    text = textwrap.dedent("""
        import json
        def load():
            raise FileNotFoundError("data/valid.json: missing; make it first")
        def train():
            a = json.load(open("train.json"))
            b = json.load(open("train.json"))
            return a, b
    """)
    found = rules(text)
    assert "grading-data-read" not in found
    [training] = [f for f in scan_source(text, "pkg/x.py") if f.detector == "static scan: training-data-read"]
    assert training.message.endswith("(and 1 more: line 7)")
