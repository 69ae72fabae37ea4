"""Making text that came from a hand-in safe to print: one line, printable, of bounded length.

Exception names and messages, file names, zip member names and worker output are written by
the hand-in.  A newline or carriage return in them could print a forged line into the grade
table or the Integrity section, and terminal escape sequences could rewrite what is on screen,
so every report writer passes such text through :func:`one_line` (or :func:`printable` for
output that keeps its lines).  Grader side.
"""

from __future__ import annotations

import re

_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters, line and paragraph separators, and the bidirectional overrides that could
make a line read as something else (shown escaped, as ``\\u202e``)."""


def _visible(match: re.Match) -> str:
    return repr(match.group(0))[1:-1]


def printable(text: object) -> str:
    """``text`` without terminal escape sequences, other control characters shown as ``\\xNN``."""
    return _CONTROLS.sub(_visible, _ESCAPES.sub("", str(text)))


def one_line(text: object, limit: int | None = None) -> str:
    """``text`` as one printable line: line breaks and tabs shown as ``\\n``, ``\\r``, ``\\t``."""
    line = printable(str(text).replace("\r", "\\r").replace("\n", "\\n").replace("\t", " "))
    return line if limit is None or len(line) <= limit else line[: limit - 3] + "..."
