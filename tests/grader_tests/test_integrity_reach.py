"""The static scan warns only about code grading can run: what the package's imports and entry points reach.

No worker: the scan reads source only.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from grader_plugin.handin.submission import open_submission
from grader_plugin.integrity.reach import reached_lines
from grader_plugin.integrity.static_scan import grader_scan_submission, scan_folder

ROOT = Path(__file__).resolve().parents[2]
TRAINING = """
    import json
    import sys

    def make_rows():
        return json.load(open("data/train.json"))

    if __name__ == "__main__":
        sys.exit(len(make_rows()))
"""


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "pkg"
    folder.mkdir()
    for name, text in {"__init__.py": "", **files}.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def found(folder: Path) -> set[tuple[str, str, str]]:
    return {(f.detector.removeprefix("static scan: "), f.severity, f.file) for f in scan_folder(folder)}


def test_the_reference_graded_shows_at_most_two_static_warnings_and_no_grader_import(tmp_path):
    submission = open_submission(ROOT / "solution", tmp_path / "opened")
    findings = grader_scan_submission(submission)
    warnings = [f"{f.detector} [{f.where()}]" for f in findings if f.severity == "warn"]
    assert len(warnings) <= 2, warnings
    assert [f for f in findings if f.severity != "warn"] == []
    assert not any("grader-modules" in f.detector for f in findings)


def test_a_training_script_nothing_imports_is_not_warned_about(tmp_path):
    folder = package(tmp_path, {"cot.py": "def load():\n    return None\n", "train.py": TRAINING})
    assert found(folder) == set()


def test_the_same_code_warns_once_the_package_imports_and_calls_it(tmp_path):
    folder = package(tmp_path, {"__init__.py": "from .train import make_rows\n", "train.py": TRAINING,
                                "cot.py": "from .train import make_rows\n\ndef load():\n    return make_rows()\n"})
    assert ("training-data-read", "warn", "pkg/train.py") in found(folder)
    assert ("exit", "warn", "pkg/train.py") not in found(folder)  # the __main__ block never runs on import


def test_a_function_nothing_reached_names_is_not_warned_about_but_a_called_one_is(tmp_path):
    folder = package(tmp_path, {"cot.py": """
        import json

        def load():
            return helper()

        def helper():
            return json.load(open("train.json"))

        def train_model():
            return json.load(open("rft.json"))
    """})
    lines = reached_lines(folder)["pkg/cot.py"]
    assert 8 in lines and 11 not in lines
    messages = [f.message for f in scan_folder(folder)]
    assert len(messages) == 1 and "'train.json'" in messages[0]


def test_flags_stay_flags_in_code_nothing_reaches(tmp_path):
    folder = package(tmp_path, {"unused.py": 'import json\n\nTABLE = json.load(open("data/valid.json"))\n'})
    assert ("grading-data-read", "flag", "pkg/unused.py") in found(folder)


def test_code_reached_by_a_computed_name_counts_as_reached_everywhere(tmp_path):
    folder = package(tmp_path, {"__init__.py": "import importlib\n\nimportlib.import_module('pkg.' + 'train')\n",
                                "train.py": TRAINING})
    assert reached_lines(folder) is None
    assert ("training-data-read", "warn", "pkg/train.py") in found(folder)
    assert ("exit", "warn", "pkg/train.py") in found(folder)


def test_a_declared_entry_point_is_reached(tmp_path):
    source = 'import json\n\ndef build():\n    return json.load(open("train.json"))\n'
    folder = package(tmp_path, {"prompting.py": source})
    assert reached_lines(folder)["pkg/prompting.py"] == set()
    assert 4 in reached_lines(folder, {"cot": ".prompting:build"})["pkg/prompting.py"]


def test_a_function_registered_by_a_decorator_or_called_as_a_method_keeps_its_warning(tmp_path):
    """Neither is named where it is called (``HOOKS[0]()``, ``net(x)`` calling ``forward``): both count as reached."""
    folder = package(tmp_path, {"cot.py": '''
        HOOKS = []

        def _register(function):
            HOOKS.append(function)
            return function

        @_register
        def train_lookup():
            return open("data/valid.json").read()

        class Net:
            def forward(self, x):
                return evaluate_table()

        def evaluate_table():
            return open("data/valid.json").read()

        def load():
            return HOOKS[0]()
        '''})
    reached = reached_lines(folder)["pkg/cot.py"]
    assert {9, 13, 17} <= reached
    assert {("grading-data-read", "warn", "pkg/cot.py")} <= found(folder)
    [read] = [f for f in scan_folder(folder) if f.detector.endswith("grading-data-read")]
    assert read.line == 10 and "line 17" in read.message  # both reads, one finding per rule and file


def test_a_package_that_unpickles_reaches_what_its_pickles_name_so_every_line_counts(tmp_path):
    """A pickle calls the functions it names; the source cannot say which, so nothing is left out."""
    folder = package(tmp_path, {"cot.py": '''
        import pickle

        def train_lookup():
            return open("data/valid.json").read()

        def load():
            return pickle.loads(open("state.pkl", "rb").read())
        '''})
    assert reached_lines(folder) is None
    assert ("grading-data-read", "warn", "pkg/cot.py") in found(folder)
