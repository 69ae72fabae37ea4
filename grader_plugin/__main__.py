"""Command line: ``python -m grader_plugin grade PATH [pytest options]``, ``... bundle FOLDER NAME``
and ``... grade-class HANDINS --out DIR``.

``grade`` runs exactly what ``pytest --grade PATH`` runs (further arguments go to pytest, e.g.
``--grade-json results.json -k cot``).  ``bundle`` writes the hand-in zip, its package named
``homework`` as the course's is (``--keep-name`` keeps the folder's name).  ``grade-class`` grades
every hand-in of a class on Ray, exactly as ``pytest --grade-class HANDINS --grade-class-out DIR``
(:mod:`grader_plugin.classroom`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

USAGE = """python -m grader_plugin grade PATH [pytest and --grade-* options]
       python -m grader_plugin bundle FOLDER NAME [--keep-name]
       python -m grader_plugin grade-class HANDINS --out DIR [--ray-address ADDRESS] [--regrade] [--grade-* options]"""


def grade_help() -> str:
    """``grade --help``: the options a student needs first, then the other grade options, then pytest's."""
    from grader_plugin.settings import OPTIONS

    def block(options) -> list[str]:
        return [f"  {o.flag} {o.metavar}\n      {o.help} [env {o.env}]" for o in options]

    first = ("parts", "questions", "data_dir", "device", "json_path")
    common = sorted((o for o in OPTIONS if o.common), key=lambda o: first.index(o.dest) if o.dest in first else 99)
    other = [o for o in OPTIONS if not o.common]
    return "\n".join([
        "usage: python -m grader_plugin grade PATH [options]",
        "",
        "Grade the hand-in at PATH (a package folder or a zip holding one), part by part.",
        "",
        "common options:",
        *block(common),
        "",
        "other grading options:",
        *block(other),
        "",
        "Every pytest option works too (-k PART, -x, -v, -q, --junitxml FILE): see pytest --help.",
    ])


def grade(path: str, pytest_args: list[str]) -> int:
    """Run pytest with ``--grade PATH``; returns pytest's exit code."""
    import pytest

    # One word, so that pytest takes its ini file from here, not from near the submission.
    args = [f"--grade={path}", *pytest_args]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args = ["-p", "grader_plugin.plugin", *args]
    return int(pytest.main(args))


def bundle(folder: str, name: str, keep_name: bool = False) -> int:
    """Write NAME.zip from FOLDER (package renamed ``homework`` unless ``keep_name``); 1 when refused."""
    from grader_plugin.handin.bundle import COURSE_PACKAGE, BundleError, make_bundle

    package = Path(folder).resolve().name if keep_name else COURSE_PACKAGE
    try:
        target, warnings = make_bundle(folder, name, package=package)
    except BundleError as error:
        print(f"bundle refused: {error}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB), package folder {package}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader_plugin", usage=USAGE, description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    grade_parser = commands.add_parser(
        "grade", help="grade a submission folder or zip (same as pytest --grade)", add_help=False
    )
    grade_parser.add_argument("path", nargs="?")
    grade_parser.add_argument("-h", "--help", action="store_true")
    bundle_parser = commands.add_parser("bundle", help="zip a submission folder for hand-in")
    bundle_parser.add_argument("folder")
    bundle_parser.add_argument("name")
    bundle_parser.add_argument(
        "--keep-name", action="store_true", help="keep FOLDER's name as the package name (default: homework)"
    )
    class_parser = commands.add_parser(
        "grade-class", help="grade every hand-in of a class on Ray (same as pytest --grade-class)"
    )
    class_parser.add_argument("handins")
    class_parser.add_argument(
        "--out", required=True, help="results folder: grades.sqlite, grades.csv, results/, report.html"
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "grade":
        if args.help or not args.path:
            print(grade_help())
            return 0 if args.help else 2
        return grade(args.path, rest)
    if args.command == "grade-class":
        from grader_plugin.classroom.cli import grade_class

        return grade_class(args.handins, args.out, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return bundle(args.folder, args.name, args.keep_name)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
