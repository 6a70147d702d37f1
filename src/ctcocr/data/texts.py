"""What a synthetic CAPTCHA says: the label, chosen within the charset and length bounds.

A style names a text kind; the kind and the charset together decide the characters:
- `uniform`: any character of the charset, each equally likely (the `captcha` style);
- `alnum`: digits and letters in one case per image (upper, lower or mixed, as the style
  allows), restricted to the charset;
- `digits`: digits only;
- `arithmetic`: an expression such as `12+7`, `3×4=?` or `8-3=`; the label is the text as
  drawn, signs included (its value is for `predict --answer arithmetic`).

>>> len(make_text("alnum", ("upper",), "0123456789ABC", 4, 4, random.Random(0)))
4
>>> make_text("arithmetic", (), "0123456789+-×=?", 3, 8, random.Random(2))
'2+6='
"""

from __future__ import annotations

import random
import string
from typing import Literal

from ctcocr.core.charset import ARITHMETIC_SIGNS, GENERAL_CHARSET

TextKind = Literal["uniform", "alnum", "digits", "arithmetic"]
Case = Literal["upper", "lower", "mixed"]
CASE_ALPHABETS: dict[str, str] = {
    "upper": string.digits + string.ascii_uppercase,
    "lower": string.digits + string.ascii_lowercase,
    "mixed": string.digits + string.ascii_lowercase + string.ascii_uppercase,
}
OPERATORS = "+-×"
# (digits of the first number, digits of the second, what follows them)
EXPRESSION_SHAPES = [(a, b, end) for a in (1, 2) for b in (1, 2) for end in ("", "=", "=?")]


def kind_alphabet(kind: TextKind, cases: tuple[Case, ...]) -> str:
    """Every character a text kind can draw when the charset allows all (GENERAL order)."""
    if kind == "digits":
        return string.digits
    if kind == "arithmetic":
        return string.digits + ARITHMETIC_SIGNS
    if kind == "alnum":
        chars = set().union(*(CASE_ALPHABETS[case] for case in cases))
        return "".join(c for c in GENERAL_CHARSET if c in chars)
    return GENERAL_CHARSET


def usable_cases(cases: tuple[Case, ...], charset: str) -> tuple[Case, ...]:
    """The cases whose alphabet meets the charset; where some bring letters, only those (so a
    lower-case charset does not turn an `upper` image into digits only)."""
    met = [c for c in cases if any(ch in charset for ch in CASE_ALPHABETS[c])]
    lettered = [c for c in met if any(ch in charset and ch.isalpha() for ch in CASE_ALPHABETS[c])]
    return tuple(lettered or met)


def _shapes(charset: str, low: int, high: int) -> list[tuple[int, int, str]]:
    signs_ok = "=" in charset
    return [
        (a, b, end)
        for a, b, end in EXPRESSION_SHAPES
        if low <= a + 1 + b + len(end) <= high
        and (end == "" or (signs_ok and all(c in charset for c in end)))
    ]


def can_draw(kind: TextKind, cases: tuple[Case, ...], charset: str, low: int, high: int) -> bool:
    """Whether this kind has a text of length low..high within the charset."""
    if kind == "uniform":
        return bool(charset)
    if kind == "digits":
        return any(c in charset for c in string.digits)
    if kind == "alnum":
        return bool(usable_cases(cases, charset))
    has_operator = any(op in charset for op in OPERATORS)
    has_digit = any(c in charset for c in string.digits)
    return has_operator and has_digit and bool(_shapes(charset, low, high))


def make_text(
    kind: TextKind, cases: tuple[Case, ...], charset: str, low: int, high: int, rng: random.Random
) -> str:
    """One label of `kind`, of length low..high, within `charset` (check `can_draw` first)."""
    if kind == "arithmetic":
        return _expression(charset, low, high, rng)
    if kind == "uniform":
        alphabet = charset
    elif kind == "digits":
        alphabet = "".join(c for c in string.digits if c in charset)
    else:
        case = rng.choice(usable_cases(cases, charset))
        alphabet = "".join(c for c in CASE_ALPHABETS[case] if c in charset)
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _expression(charset: str, low: int, high: int, rng: random.Random) -> str:
    digits = "".join(c for c in string.digits if c in charset)
    operator = rng.choice([op for op in OPERATORS if op in charset])
    first_digits, second_digits, end = rng.choice(_shapes(charset, low, high))
    first = _number(first_digits, digits, rng)
    second = _number(second_digits, digits, rng)
    if operator == "-" and int(first) < int(second) and first_digits == second_digits:
        first, second = second, first  # CAPTCHAs ask for results that are not negative
    return f"{first}{operator}{second}{end}"


def _number(length: int, digits: str, rng: random.Random) -> str:
    leading = [d for d in digits if d != "0"] or list(digits)
    return rng.choice(leading) + "".join(rng.choice(digits) for _ in range(length - 1))
