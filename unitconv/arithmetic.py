"""A small safe evaluator for the numbers models write inside ``<answer>`` tags (shared by the
reference and the grader, which replays outputs with it).

Models answer with a plain number (``5000``, ``1.5e-3``, ``1,000``) or, for program-aided
answers, a short arithmetic expression (``3 * 2.20462``, ``5 / 1000``).  Python's ``eval``
would run anything, so expressions are parsed with :mod:`ast` and only numbers, ``+ - * /``,
powers with small exponents and parentheses are evaluated.  Anything else is NaN.
"""

from __future__ import annotations

import ast
import math
import operator
import re

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_EXPONENT = 64
_MAX_LENGTH = 200
_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d,])")
_LEADING_EXPRESSION = re.compile(r"^[\s\d.eE+\-*/()^×x÷]+")
_NAN = float("nan")


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(
        node.value, bool
    ):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    raise ValueError(f"unsupported expression element {type(node).__name__}")


def _normalise(text: str) -> str:
    text = text.strip().replace("×", "*").replace("÷", "/").replace("^", "**")
    text = re.sub(r"(?<=\d)\s*x\s*(?=[\d.])", " * ", text)
    return _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text)


def _try_evaluate(text: str) -> float | None:
    if not text or len(text) > _MAX_LENGTH:
        return None
    try:
        value = _evaluate(ast.parse(text, mode="eval"))
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError, RecursionError):
        return None
    return value if math.isfinite(value) else None


def evaluate_number(text: str) -> float:
    """The value of ``text`` as a number or simple arithmetic expression; NaN when unreadable.

    Trailing words (a unit left inside the tags, ``5000 meters``) are ignored when what comes
    before them is a valid expression.  Never raises.
    """
    if not isinstance(text, str):
        return _NAN
    normalised = _normalise(text)
    value = _try_evaluate(normalised)
    if value is None:
        leading = _LEADING_EXPRESSION.match(normalised)
        if leading:
            value = _try_evaluate(_normalise(leading.group(0)).rstrip("*/+-( eEx").strip())
    return _NAN if value is None else value


_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def extract_answer_text(output: str) -> str | None:
    """Text between the first ``<answer>`` and ``</answer>``, or None when there is none."""
    if not isinstance(output, str):
        return None
    match = _ANSWER_TAG.search(output)
    return match.group(1) if match else None


def parse_tagged_answer(output: str) -> float:
    """The number inside the ``<answer>`` tags of ``output``; NaN when absent or unreadable."""
    inner = extract_answer_text(output)
    return _NAN if inner is None else evaluate_number(inner)


def compact_number(value: float) -> str:
    """Six significant digits; very large or small values in exponent form (``1e9``, ``3.15569e9``).

    Digits are one token each, and a small model miscounts long runs of zeros (1000000 against
    1000000000); an exponent says the same in three tokens.
    """
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.6g}"
    mantissa, exponent = f"{value:.5e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
