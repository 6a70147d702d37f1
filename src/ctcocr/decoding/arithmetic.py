"""Arithmetic CAPTCHAs: the value of the expression a model read (`--answer arithmetic`).

Such a CAPTCHA shows `12+7=?` or `3×4` and wants `19` or `12`. The text is read as usual; this
module turns it into the answer. The grammar is what those generators draw: whole numbers
joined by + - × ÷ (also x X * / and the Unicode minus), optionally ended by `=`, `=?` or `?`;
× and ÷ bind before + and -. A division that does not come out whole gives a decimal.

>>> arithmetic_answer("12+7=?")
'19'
>>> arithmetic_answer("3×4-2")
'10'
"""

from __future__ import annotations

import re
from fractions import Fraction

from ctcocr.core.errors import ExpressionError

MULTIPLY = frozenset("×xX*")
DIVIDE = frozenset("÷/")
PLUS, MINUS = frozenset("+"), frozenset("-−")
OPERATORS = MULTIPLY | DIVIDE | PLUS | MINUS
_TOKEN = re.compile(r"\d+|[" + re.escape("".join(sorted(OPERATORS))) + r"]")
_TAIL = re.compile(r"\s*=?\s*\??\s*$")  # "=", "=?", "?" or nothing after the expression
MAX_DIGITS = 12  # a CAPTCHA's numbers are short; longer ones are a misreading


def arithmetic_answer(text: str) -> str:
    """The value of the expression in `text`, as a string ('19', '-3', '2.5').

    Raises ExpressionError, naming the text and what is wrong, when it is not an expression
    of whole numbers and + - × ÷ (or a division by zero)."""
    expression = _TAIL.sub("", text.strip(), count=1)
    tokens = _tokens(text, expression)
    value = _evaluate(text, tokens)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6g}"


def _tokens(text: str, expression: str) -> list[str]:
    tokens, position = [], 0
    for match in _TOKEN.finditer(expression):
        if match.start() != position and expression[position : match.start()].strip():
            break
        tokens.append(match.group())
        position = match.end()
    # an even count ends in an operator ("1+2+"): numbers and operators must alternate
    if not expression or expression[position:].strip() or len(tokens) < 3 or not len(tokens) % 2:
        raise ExpressionError(
            f"read {text!r}, which is not an arithmetic expression (whole numbers joined by "
            "+ - × ÷, e.g. '12+7=?'): check the image, or read it without --answer"
        )
    numbers, operators = tokens[::2], tokens[1::2]
    if not all(n.isdigit() and len(n) <= MAX_DIGITS for n in numbers) or not all(
        o in OPERATORS for o in operators
    ):
        raise ExpressionError(
            f"read {text!r}: numbers and operators must alternate (number, operator, number...)"
        )
    return tokens


def _evaluate(text: str, tokens: list[str]) -> Fraction:
    """Left to right, × and ÷ first: the sum of the products."""
    total, term = Fraction(0), Fraction(int(tokens[0]))
    sign = 1
    for operator, number in zip(tokens[1::2], tokens[2::2], strict=True):
        value = Fraction(int(number))
        if operator in MULTIPLY:
            term *= value
        elif operator in DIVIDE:
            if value == 0:
                raise ExpressionError(f"read {text!r}: a division by zero has no answer")
            term /= value
        else:
            total += sign * term
            sign, term = (1 if operator in PLUS else -1), value
    return total + sign * term
