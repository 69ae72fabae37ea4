"""The grader's options, and the one function that resolves them into frozen settings.

Every setting exists three ways: a command-line option, an environment variable and an ini key
(``[tool.pytest.ini_options]`` in ``pyproject.toml``, or ``tox.ini``/``pytest.ini``).  One rule
decides: command line > environment > ini > default.  The submission path itself is only a
command-line option (``--grade``): an ini key would turn every plain pytest run into a grading run.
Each default is written once, in :data:`OPTIONS`; :class:`GradeSettings` takes its defaults from there
and resolves what depends on the machine (the data folder, the base model's name) once, when built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitconv.course import COURSE_BASE_MODEL, GENERATION_QUESTIONS, GRADED_QUESTIONS
from unitconv.model_loader import EMBEDDED_MODEL
from unitconv.paths import data_dir


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names where it came from."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be at least 0")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


def _parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.replace(" ", ",").split(",") if p.strip())
    if not parts:
        raise ValueError("names no part")
    return parts


def _verbosity(text: str) -> int:
    value = int(text)
    if value not in (0, 1, 2):
        raise ValueError("must be 0, 1 or 2")
    return value


def _sandbox(text: str) -> str:
    if text not in ("auto", "required", "off"):
        raise ValueError("must be auto, required or off")
    return text


def _model_map(text: str) -> tuple[tuple[str, str], ...]:
    """``HUB_ID=PATH`` entries, separated by commas or new lines; PATH may be ``embedded``."""
    entries = []
    for item in (part.strip() for line in text.splitlines() for part in line.split(",")):
        if not item:
            continue
        hub_id, sep, path = (piece.strip() for piece in item.partition("="))
        if not sep or hub_id.count("/") != 1 or not all(hub_id.split("/")) or not path:
            raise ValueError(f"{item!r} is not HUB_ID=PATH (e.g. HuggingFaceTB/SmolLM2-360M-Instruct=embedded)")
        if path != "embedded" and not (Path(path).expanduser() / "config.json").is_file():
            raise ValueError(f"{path} is not a model folder (no config.json); give a folder written by "
                             f"save_pretrained, or 'embedded'")
        entries.append((hub_id, path if path == "embedded" else str(Path(path).expanduser().resolve())))
    return tuple(entries)


@dataclass(frozen=True)
class Option:
    """One setting: its option, environment variable, ini key, parser, default and help (shared).

    A ``repeatable`` option may be given several times on the command line; the environment
    variable and the ini key then hold several values separated by commas or new lines.
    """

    dest: str
    flag: str
    env: str
    ini: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    metavar: str = "VALUE"
    repeatable: bool = False
    common: bool = False
    """Shown first in ``python -m grader_plugin grade --help``."""


OPTIONS: tuple[Option, ...] = (
    Option("base_model", "--grade-base-model", "UNITCONV_BASE_MODEL", "grade_base_model", str, None,
           "base model the submission is graded on: a model folder or Hugging Face id "
           "(default: the embedded SmolLM2-135M-Instruct)",
           "NAME"),
    Option("model_map", "--grade-model-map", "UNITCONV_GRADE_MODEL_MAP", "grade_model_map", _model_map, (),
           "serve a local model folder for a hub id that hand-ins load (repeatable; PATH 'embedded' is the "
           "embedded SmolLM2-135M-Instruct); workers never reach the network",
           "HUB_ID=PATH", repeatable=True),
    Option("device", "--grade-device", "UNITCONV_DEVICE", "grade_device", str, None,
           "device for the workers: cpu, cuda, mps (default: the best available)",
           "DEVICE", common=True),
    Option("parts", "--grade-parts", "UNITCONV_GRADE_PARTS", "grade_parts", _parts, None,
           "comma-separated parts to grade (default: all registered parts)",
           "PARTS", common=True),
    Option("questions", "--grade-questions", "UNITCONV_GRADE_QUESTIONS", "grade_questions", _positive_int,
           GRADED_QUESTIONS,
           f"questions per accuracy part (the course grades {GRADED_QUESTIONS}; the generation parts use at most "
           f"{GENERATION_QUESTIONS})",
           "N", common=True),
    Option("json_path", "--grade-json", "UNITCONV_GRADE_JSON", "grade_json", Path, None,
           "write a Gradescope-compatible results.json to this path",
           "FILE", common=True),
    Option("verbosity", "--grade-verbosity", "UNITCONV_GRADE_VERBOSITY", "grade_verbosity", _verbosity, 1,
           "0: table only; 1: also explain low scores; 2: also show each worker's output",
           "0|1|2"),
    Option("profile", "--grade-profile", "UNITCONV_GRADE_PROFILE", "grade_profile", str, "course",
           "threshold profile (default: course)",
           "NAME"),
    Option("sandbox", "--grade-sandbox", "UNITCONV_GRADE_SANDBOX", "grade_sandbox", _sandbox, "auto",
           "run workers in a bubblewrap sandbox: auto (when it works here), required (refuse to grade "
           "without it), off",
           "auto|required|off"),
    Option("timeout", "--grade-timeout", "UNITCONV_GRADE_TIMEOUT", "grade_timeout", _positive_float, None,
           "time limit of every part's worker in seconds (default: each part's own limit)",
           "SECONDS"),
    Option("memory_mb", "--grade-memory-mb", "UNITCONV_GRADE_MEMORY_MB", "grade_memory_mb", _non_negative_int, 8192,
           "address-space limit of each worker in MB; 0 for none (needed on CUDA)",
           "MB"),
    Option("output_kb", "--grade-output-kb", "UNITCONV_GRADE_OUTPUT_KB", "grade_output_kb", _positive_int, 1024,
           "a worker printing more than this many kB scores 0 for its part",
           "KB"),
    Option("data_dir", "--grade-data", "UNITCONV_GRADE_DATA", "grade_data", Path, None,
           "folder holding the grader's valid.json, never inside the submission "
           "(default: the project's data folder, see unitconv.paths.data_dir)",
           "DIR", common=True),
)

DEFAULTS: dict[str, Any] = {option.dest: option.default for option in OPTIONS}
"""Each setting's default, from :data:`OPTIONS` (the one place defaults are written)."""


@dataclass(frozen=True)
class GradeSettings:
    """Resolved settings of one grading run (see :data:`OPTIONS` for each field's meaning and default).

    ``data_dir`` left out (None) is the project's data folder (:func:`unitconv.paths.data_dir`),
    resolved once here, as is whether the run grades on that folder (:attr:`own_data`).
    """

    path: Path
    base_model: str | None = DEFAULTS["base_model"]
    model_map: tuple[tuple[str, str], ...] = DEFAULTS["model_map"]
    device: str | None = DEFAULTS["device"]
    parts: tuple[str, ...] | None = DEFAULTS["parts"]
    questions: int = DEFAULTS["questions"]
    json_path: Path | None = DEFAULTS["json_path"]
    verbosity: int = DEFAULTS["verbosity"]
    profile: str = DEFAULTS["profile"]
    sandbox: str = DEFAULTS["sandbox"]
    timeout: float | None = DEFAULTS["timeout"]
    memory_mb: int = DEFAULTS["memory_mb"]
    output_kb: int = DEFAULTS["output_kb"]
    data_dir: Path | None = DEFAULTS["data_dir"]
    own_data: bool = field(init=False, default=False)
    """Whether ``data_dir`` is this project's own data folder (the report header says whose questions)."""

    def __post_init__(self):
        own = data_dir()
        folder = own if self.data_dir is None else Path(self.data_dir)
        object.__setattr__(self, "data_dir", folder)
        object.__setattr__(self, "own_data", folder.resolve() == own.resolve())

    @property
    def base_model_name(self) -> str:
        """The run's base model: ``--grade-base-model``, else the embedded model's name."""
        return self.base_model or EMBEDDED_MODEL

    @property
    def base_model_label(self) -> str:
        """:attr:`base_model_name` as the report header shows it (``embedded SmolLM2-135M-Instruct``)."""
        return self.base_model or EMBEDDED_MODEL.replace(":", " ", 1)

    @property
    def timed_model(self) -> str:
        """The model whose speed sizes the time limits: the run's base model, else the course's base
        model by the hub id course hand-ins load it by (served as :mod:`grader_plugin.launch.model_map` says)."""
        return self.base_model or COURSE_BASE_MODEL


def resolve_settings(
    path: str | Path,
    cli: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    ini: Mapping[str, Any] | None = None,
) -> GradeSettings:
    """Settings from command line (``cli[dest]``, None when not given), environment and ini values.

    Raises :class:`SettingsError` naming the option, variable or ini key whose value is bad.
    """
    env = os.environ if env is None else env
    ini = ini or {}
    values: dict[str, Any] = {}
    for option in OPTIONS:
        sources = (
            (cli.get(option.dest), f"option {option.flag}"),
            (env.get(option.env) or None, f"environment variable {option.env}"),
            (ini.get(option.ini) or None, f"ini key {option.ini}"),
        )
        for raw, where in sources:
            if raw is None:
                continue
            if isinstance(raw, list | tuple):  # a repeated option or an ini line list
                raw = "\n".join(str(item) for item in raw)
            try:
                values[option.dest] = raw if not isinstance(raw, str) else option.parse(raw.strip())
            except ValueError as error:
                raise SettingsError(
                    f"{where}={raw!r}: {error}; expected {option.metavar} ({option.help})"
                ) from None
            break
        else:
            values[option.dest] = option.default
    return GradeSettings(path=Path(path), **values)


def settings_from_pytest(config, path: str | Path) -> GradeSettings:
    """The settings of a pytest run (``config``: its ``pytest.Config``) grading ``path``.

    The ``--grade-*`` options, environment variables and ini keys that :mod:`grader_plugin.plugin`
    registers; used by single grading and class grading alike.
    """
    cli = {option.dest: config.getoption(f"grade_{option.dest}") for option in OPTIONS}
    ini = {option.ini: config.getini(option.ini) for option in OPTIONS}
    return resolve_settings(path, cli, ini=ini)
