"""Parsing what a hand-in wrote, with its size and depth checked before the parse starts.

A worker's result, an ``adapter_config.json``, a ``config.json``, a safetensors header and a
Python module all come from the hand-in.  Parsed as they are, a deeply nested one crashes the
grader's own recursion (``json``, ``ast`` visitors) and a large one of many tiny values costs
gigabytes of Python objects.  Every such parse goes through this module: the text is refused
when it is larger than a named cap, holds more values than a named cap, or nests deeper than
one, and the refusal is a :class:`Refused` with a one-line reason.  The checks run at C speed
(regular expressions and ``bytes`` methods), so a refused input costs little time.  Grader side.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import struct
import sys
from pathlib import Path

MAX_JSON_DEPTH = 64
"""Deepest nesting of lists and objects in JSON from a hand-in (the grader's own results nest < 10)."""
MAX_JSON_VALUES = 1_000_000
"""Most values (keys included) in one JSON text: about 200 MB of Python objects at worst
("{}" is 2 bytes of text and 64 bytes of dict); an honest worker result holds a few thousand."""
MAX_CONFIG_BYTES = 1_000_000
"""Largest ``config.json`` / ``adapter_config.json`` read (real ones are a few kB)."""
MAX_SAFETENSORS_HEADER_BYTES = 10_000_000
"""Largest safetensors header read (a LoRA adapter's is about 100 kB; the format itself allows 100 MB)."""
MAX_SOURCE_BYTES = 1_000_000
"""Largest Python module the static scan parses (hand-in modules are tens of kB)."""
MAX_SYNTAX_DEPTH = 200
"""Deepest syntax tree the static scan walks (hand-in code nests < 30; a deeper tree is a long
operator chain or a generated expression, which would overflow the scan's recursive visitors)."""

_STRINGS = re.compile(rb'(?P<open>"(?=(?:[^"\\]++|\\.)*+\\?\Z)[\s\S]*)|"(?:[^"\\]++|\\.)*+"')
"""A JSON string, or (group ``open``) one that runs past the end of the text searched."""
_WINDOW = 1 << 20
_STRUCTURE = b"[]{},:"
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
_BRACKETS = bytes.maketrans(b"{}", b"[]")


class Refused(ValueError):
    """Hand-in data refused before (or while) parsing it; ``str()`` is one line saying why."""


def _as_bytes(data: bytes | bytearray | str) -> bytes | bytearray:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data


def _skeleton(data: bytes | bytearray, max_values: int) -> bytes:
    """The characters ``[]{},:`` of ``data`` outside its strings; :class:`Refused` past ``max_values``.

    Read a window at a time (about 1 MB; longer when one string is longer) so that cutting out a
    million short strings never holds a million pieces; a window ends before a string it cuts.
    """
    pieces, values, start, size = [], 1, 0, _WINDOW
    while start < len(data):
        window = bytes(data[start:start + size])
        rest = _STRINGS.sub(rb"\g<open>", window)  # complete strings go, a cut one stays
        quote, end = rest.find(b'"'), start + len(window)
        if quote >= 0:
            end, rest = (end - (len(rest) - quote) if end < len(data) else end), rest[:quote]
        if end == start:
            size *= 2  # one string longer than the window
            continue
        piece = rest.translate(None, _NOT_STRUCTURE)
        values += len(piece) - piece.count(b"]") - piece.count(b"}")
        if values > max_values:
            raise Refused(f"holds more than {max_values:,} values")
        pieces.append(piece)
        start, size = end, _WINDOW
    return b"".join(pieces)


def check_json_shape(data: bytes | bytearray | str, max_depth: int = MAX_JSON_DEPTH,
                     max_values: int = MAX_JSON_VALUES) -> None:
    """Raise :class:`Refused` when JSON text ``data`` holds more than ``max_values`` values or nests
    deeper than ``max_depth``; text that is not JSON passes (the parser says what is wrong with it).

    Strings are cut out first; of the rest only ``[]{},:`` count.  Each value but the first of
    its container follows a comma or a colon, so their count plus the containers bounds the values.
    Each round of deleting ``[]`` pairs (objects read as lists) removes the innermost level.
    """
    skeleton = _skeleton(_as_bytes(data), max_values)
    brackets = skeleton.translate(_BRACKETS, b",:")
    for _ in range(max_depth):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return  # empty, or unbalanced: not JSON, which the parser reports
        brackets = shorter
    if brackets:
        raise Refused(f"nests deeper than {max_depth} levels")


def loads(data: bytes | bytearray | str, max_bytes: int, max_depth: int = MAX_JSON_DEPTH,
          max_values: int = MAX_JSON_VALUES):
    """``json.loads(data)`` once its size, values and depth are within bounds; else :class:`Refused`.

    Text that is not JSON raises :class:`Refused` too, naming what the parser found wrong.
    """
    if len(data) > max_bytes:
        raise Refused(f"is larger than {max_bytes:,} bytes")
    check_json_shape(data, max_depth, max_values)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        message = error.msg if isinstance(error, json.JSONDecodeError) else type(error).__name__
        raise Refused(f"is not valid JSON ({message})") from None


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The contents of ``path``, read only when it holds at most ``max_bytes``; else :class:`Refused`."""
    with open(path, "rb") as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Refused(f"is larger than {max_bytes:,} bytes")
    return data


def read_json(path: Path, max_bytes: int = MAX_CONFIG_BYTES):
    """The JSON value in ``path`` (a config file), bounded as :func:`loads` bounds it."""
    return loads(read_bytes(path, max_bytes), max_bytes)


def read_toml(path: Path, max_bytes: int = MAX_CONFIG_BYTES) -> dict:
    """The TOML document in ``path`` (a hand-in's ``grader.toml``), read only within ``max_bytes``.

    :class:`Refused` when larger, or nested too deep for ``tomllib`` (which recurses); its own
    ``TOMLDecodeError`` and a ``UnicodeDecodeError`` pass through.
    """
    import tomllib

    text = read_bytes(path, max_bytes).decode("utf-8")
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise Refused("nests too deeply to be read") from None


def check_safetensors_header(path: Path, max_bytes: int = MAX_SAFETENSORS_HEADER_BYTES) -> None:
    """Raise :class:`Refused` when the safetensors file's header (its 8-byte length prefix says how
    long) is missing or longer than ``max_bytes``, before any library parses it."""
    with open(path, "rb") as stream:
        prefix = stream.read(8)
    if len(prefix) < 8:
        raise Refused("is too short to be a safetensors file")
    (size,) = struct.unpack("<Q", prefix)
    if size > max_bytes:
        raise Refused(f"has a header of {size:,} bytes, above the {max_bytes:,} a header may have")


def syntax_depth(tree: ast.AST, limit: int) -> int:
    """The depth of ``tree`` (walked without recursion), or ``limit + 1`` as soon as it is deeper."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return limit + 1
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def parse_python(source: str, filename: str, max_depth: int = MAX_SYNTAX_DEPTH) -> ast.Module:
    """``ast.parse(source)`` when the source and its tree are within bounds; else :class:`Refused`.

    A :class:`SyntaxError` passes through (the source is not Python).
    """
    if len(source) > MAX_SOURCE_BYTES:
        raise Refused(f"is larger than {MAX_SOURCE_BYTES:,} characters")
    try:
        tree = ast.parse(source, filename=filename)
    except (RecursionError, MemoryError) as error:
        raise Refused(f"is too deeply nested for Python's parser here ({type(error).__name__})") from None
    if syntax_depth(tree, max_depth) > max_depth:
        raise Refused(f"has a syntax tree deeper than {max_depth} levels")
    return tree


@contextlib.contextmanager
def recursion_room(levels: int, frames_per_level: int = 4):
    """Room on the interpreter's recursion limit for a recursive walk ``levels`` deep, whatever the
    caller's own depth (pytest's stack is deep); the limit is put back afterwards."""
    frame, used = sys._getframe(), 0
    while frame is not None:
        used, frame = used + 1, frame.f_back
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, used + levels * frames_per_level + 100))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)
