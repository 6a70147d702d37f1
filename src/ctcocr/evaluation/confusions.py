"""Which characters a model mixes up: edit-distance alignments and the counts they add up to.

`evaluate.edit_distance` only needs the distance; here the table is walked back to say *which*
edits: a substitution (O read as 0), a deletion (a character the model missed) or an insertion
(a character it read that is not there).

>>> align("AB0D", "ABOD")
[('A', 'A'), ('B', 'B'), ('0', 'O'), ('D', 'D')]
>>> align("ABC", "AC")
[('A', 'A'), ('B', ''), ('C', 'C')]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["substitution", "deletion", "insertion"]


def align(truth: str, read: str) -> list[tuple[str, str]]:
    """A minimal-edit alignment as (truth char, read char) pairs; '' marks a gap.

    Ties prefer a substitution, then a deletion, then an insertion, so that "AB"/"A8" pairs B
    with 8 rather than counting a deletion and an insertion.
    """
    rows, cols = len(truth) + 1, len(read) + 1
    # cost[i][j]: edits turning truth[:i] into read[:j]
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i][j] = min(
                cost[i - 1][j - 1] + (truth[i - 1] != read[j - 1]),
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
            )
    pairs: list[tuple[str, str]] = []
    i, j = len(truth), len(read)
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (truth[i - 1] != read[j - 1]):
            pairs.append((truth[i - 1], read[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            pairs.append((truth[i - 1], ""))
            i -= 1
        else:
            pairs.append(("", read[j - 1]))
            j -= 1
    return pairs[::-1]


@dataclass(frozen=True)
class Confusion:
    """One kind of mistake and how often it happened: truth 'O' read as '0', 5 times."""

    truth: str  # '' for an insertion
    read: str  # '' for a deletion
    count: int

    @property
    def kind(self) -> Kind:
        if not self.truth:
            return "insertion"
        return "deletion" if not self.read else "substitution"

    def to_dict(self) -> dict[str, object]:
        return {"truth": self.truth, "read": self.read, "count": self.count, "kind": self.kind}


def count_confusions(pairs: Iterable[tuple[str, str]]) -> list[Confusion]:
    """Every mistake over (truth, read) text pairs, most frequent first (ties by characters)."""
    counts: Counter[tuple[str, str]] = Counter()
    for truth, read in pairs:
        if truth != read:
            counts.update((t, r) for t, r in align(truth, read) if t != r)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [Confusion(t, r, n) for (t, r), n in ranked]
