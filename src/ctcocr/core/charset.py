"""The mapping between characters and class indices. Index 0 is the CTC blank.

>>> cs = Charset("0123456789")
>>> cs.encode("42")
[5, 3]
>>> cs.decode([5, 3])
'42'
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ctcocr.core.errors import CharsetError

BLANK = 0
DEFAULT_CHARSET = string.digits + string.ascii_uppercase
# What `--style mix` draws: digits, both cases and the signs of arithmetic CAPTCHAs.
ARITHMETIC_SIGNS = "+-×=?"
GENERAL_CHARSET = string.digits + string.ascii_lowercase + string.ascii_uppercase + ARITHMETIC_SIGNS
# Kinds of character: a text that shows one of a kind may show any of it.
CHARACTER_KINDS = {
    "digits": string.digits,
    "lower case": string.ascii_lowercase,
    "upper case": string.ascii_uppercase,
    "arithmetic signs": ARITHMETIC_SIGNS,
}


# How often, on average, the labels must show each character they hold of a kind before a
# character of that kind they never show counts as outside the alphabet: a character of the
# alphabet expected this often is missed by chance less than 1% of the time (e^-5).
SHOWN_ENOUGH = 5.0


def same_kinds(counts: Mapping[str, int], known: str) -> str:
    """The characters of `known` that the labels never show, of a kind (CHARACTER_KINDS) they
    show too few times to have shown all of it -> in `known`'s order. `counts`: how often each
    character occurs in the labels.

    25 labels of an upper-case alphabet show each letter about 3 times: a letter they miss
    may be in the alphabet all the same. 50 labels of a 19-character alphabet show each of
    its letters 13 times: the 14 letters they never show are not in it, and are not added."""
    added = {
        c
        for kind in CHARACTER_KINDS.values()
        if 0 < times_shown(counts, kind) < SHOWN_ENOUGH  # 0: the labels show none of the kind
        for c in kind
        if not counts.get(c)
    }
    return "".join(c for c in known if c in added)


def times_shown(counts: Mapping[str, int], chars: Iterable[str]) -> float:
    """How often the labels show each of the characters of `chars` they hold, on average
    (0 when they hold none)."""
    shown = [counts[c] for c in set(chars) if counts.get(c, 0) > 0]
    return sum(shown) / len(shown) if shown else 0.0


@dataclass(frozen=True)
class Charset:
    """An ordered set of distinct characters; class `i + 1` is `chars[i]`, class 0 is blank."""

    chars: str

    def __post_init__(self) -> None:
        if not self.chars:
            raise CharsetError("the charset is empty: give at least one character")
        repeated = sorted(c for c, n in Counter(self.chars).items() if n > 1)
        if repeated:
            raise CharsetError(
                f"the charset {self.chars!r} repeats {''.join(repeated)!r}: "
                "list each character once"
            )

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> Charset:
        """The sorted set of characters that occur in `labels`."""
        chars = sorted(set().union(*(set(label) for label in labels)))
        if not chars:
            raise CharsetError("cannot infer a charset: the labels hold no characters")
        return cls("".join(chars))

    @property
    def num_classes(self) -> int:
        """Characters plus the blank."""
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        index = self._index
        try:
            return [index[c] for c in text]
        except KeyError:
            self.check(text)
            raise

    def decode(self, indices: Iterable[int]) -> str:
        return "".join(self.chars[i - 1] for i in indices if i != BLANK)

    def check(self, text: str, where: str = "") -> None:
        """Raise CharsetError if `text` holds characters outside the charset."""
        outside = sorted({c for c in text if c not in self._index})
        if outside:
            at = f" in {where}" if where else ""
            raise CharsetError(
                f"label {text!r}{at} has {''.join(outside)!r}, not in the charset {self.chars!r}: "
                "add the characters to --charset, or fix the label"
            )

    @property
    def _index(self) -> dict[str, int]:
        # Cached on the frozen instance without breaking immutability for users.
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {c: i + 1 for i, c in enumerate(self.chars)}
            object.__setattr__(self, "_index_cache", cached)
        return cached
