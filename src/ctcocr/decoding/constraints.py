"""What a decoded text may be, as one automaton over class indices that a beam search walks.

Four constraints combine (all must hold): allowed characters, a length range, a pattern (a DFA
from `pattern.py`) and a lexicon (a trie of allowed words). A state is a tuple
(length so far, DFA state, trie node); for each state the automaton gives which classes may
follow, and a lower bound on how many more characters any accepted text needs, so the search
can drop a prefix that cannot be finished in the time steps left.

>>> c = Constraints(Charset("0123"), length=(2, 3), allowed="12")
>>> [int(k) for k in np.flatnonzero(c.moves(c.start).distance < UNREACHABLE)]
[2, 3]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ctcocr.core.charset import BLANK, Charset
from ctcocr.core.errors import CharsetError, ConfigError
from ctcocr.decoding.pattern import Dfa, compile_pattern

UNREACHABLE = 1 << 30
State = tuple[int, int, int]  # (characters read, DFA state, trie node); 0 where unused


@dataclass(frozen=True)
class Moves:
    """From one state: for every class, the next state's bound on characters still needed
    (UNREACHABLE where the class may not follow), and the next states themselves."""

    distance: np.ndarray  # (C,) int
    targets: dict[int, State]
    needed: int  # the bound for the state itself


class Trie:
    """The lexicon as a trie over class indices; node 0 is the root."""

    def __init__(self, words: Sequence[Sequence[int]]) -> None:
        self.children: list[dict[int, int]] = [{}]
        self.is_word: list[bool] = [False]
        for word in words:
            node = 0
            for c in word:
                if c not in self.children[node]:
                    self.children[node][c] = len(self.children)
                    self.children.append({})
                    self.is_word.append(False)
                node = self.children[node][c]
            self.is_word[node] = True
        # Fewest characters below each node to a word end; children have higher ids.
        self.distance = [0] * len(self.children)
        for node in range(len(self.children) - 1, -1, -1):
            below = [self.distance[child] + 1 for child in self.children[node].values()]
            self.distance[node] = 0 if self.is_word[node] else min(below, default=UNREACHABLE)


class Constraints:
    """The product of the constraints given; thread-safe (its caches only ever gain entries)."""

    def __init__(
        self,
        charset: Charset,
        allowed: str | None = None,
        length: tuple[int, int] | None = None,
        pattern: str | None = None,
        lexicon: Sequence[str] | None = None,
    ) -> None:
        self.num_classes = charset.num_classes
        self.mask = np.ones(charset.num_classes, dtype=bool)
        self.mask[BLANK] = False
        if allowed is not None:
            outside = sorted(set(allowed) - set(charset.chars))
            if outside:
                raise CharsetError(
                    f"allowed characters {''.join(outside)!r} are not in the model's charset "
                    f"{charset.chars!r}: the model can never read them; drop them"
                )
            self.mask[1:] = [c in allowed for c in charset.chars]
        self.min_length: int = length[0] if length else 0
        self.max_length: int | None = length[1] if length else None
        self.dfa: Dfa | None = compile_pattern(pattern, charset) if pattern else None
        self.lexicon = _encode_lexicon(lexicon, charset) if lexicon else None
        self.trie = Trie(self.lexicon) if self.lexicon else None
        self.start: State = (0, 0, 0)
        self._moves: dict[State, Moves] = {}

    @classmethod
    def unconstrained(cls, num_classes: int) -> Constraints:
        """No constraint, for a model of `num_classes` classes (only their indices matter)."""
        return cls(Charset("".join(chr(0xE000 + i) for i in range(num_classes - 1))))

    def distance(self, state: State) -> int:
        """A lower bound on the characters any accepted text continuing `state` still needs."""
        count, dfa_state, node = state
        bound = max(0, self.min_length - count)
        if self.dfa is not None:
            bound = max(bound, int(self.dfa.distance[dfa_state]))
        if self.trie is not None:
            bound = max(bound, self.trie.distance[node])
        return bound

    def accepts(self, state: State) -> bool:
        return self.distance(state) == 0

    def moves(self, state: State) -> Moves:
        cached = self._moves.get(state)
        if cached is None:
            cached = self._moves[state] = self._compute_moves(state)
        return cached

    def _compute_moves(self, state: State) -> Moves:
        count, dfa_state, node = state
        mask = self.mask.copy()
        if self.max_length is not None and count >= self.max_length:
            mask[:] = False
        if self.dfa is not None:
            mask &= self.dfa.next_state[dfa_state] >= 0
        if self.trie is not None:
            children = self.trie.children[node]
            allowed = np.zeros_like(mask)
            allowed[list(children)] = True
            mask &= allowed
        distance = np.full(self.num_classes, UNREACHABLE, dtype=np.int64)
        targets: dict[int, State] = {}
        # Counts at or beyond the minimum behave alike when there is no maximum: cap them,
        # so that the number of states stays finite.
        next_count = count + 1 if self.max_length is not None else min(count + 1, self.min_length)
        for c in np.flatnonzero(mask).tolist():
            target = (
                next_count,
                int(self.dfa.next_state[dfa_state, c]) if self.dfa is not None else 0,
                self.trie.children[node][c] if self.trie is not None else 0,
            )
            bound = self.distance(target)
            if self.max_length is not None and count + 1 + bound > self.max_length:
                continue  # the text would have to grow beyond the maximum to be accepted
            targets[c] = target
            distance[c] = bound
        return Moves(distance, targets, self.distance(state))

    def satisfiable(self, limit: int = 100_000) -> bool:
        """Whether some text meets every constraint. With a lexicon, whether one of its texts
        does; else a breadth-first search (True if it gives up after `limit` states, leaving
        the decoder to return nothing)."""
        if self.lexicon is not None:
            return any(self._meets(classes) for classes in self.lexicon)
        seen, frontier = {self.start}, [self.start]
        while frontier and len(seen) < limit:
            following = []
            for state in frontier:
                if self.accepts(state):
                    return True
                for target in self.moves(state).targets.values():
                    if target not in seen:
                        seen.add(target)
                        following.append(target)
            frontier = following
        return bool(frontier)

    def _meets(self, classes: list[int]) -> bool:
        """Whether a text (class indices) meets the constraints other than the lexicon."""
        long_enough = len(classes) >= self.min_length
        short_enough = self.max_length is None or len(classes) <= self.max_length
        matches = self.dfa is None or self.dfa.accepts(classes)
        return long_enough and short_enough and matches and bool(self.mask[classes].all())


def _encode_lexicon(words: Sequence[str], charset: Charset) -> list[list[int]]:
    unreadable = [w for w in words if any(c not in charset.chars for c in w)]
    if unreadable:
        shown = ", ".join(repr(w) for w in unreadable[:5])
        raise CharsetError(
            f"{len(unreadable)} lexicon word(s) hold characters outside the model's charset "
            f"{charset.chars!r} (e.g. {shown}): the model can never read them; fix or drop them"
        )
    return [charset.encode(word) for word in words]


def build_constraints(
    charset: Charset,
    allowed: str | None = None,
    length: tuple[int, int] | None = None,
    pattern: str | None = None,
    lexicon: Sequence[str] | None = None,
) -> Constraints:
    """Constraints, or ConfigError naming them when no text can meet them all together."""
    constraints = Constraints(charset, allowed, length, pattern, lexicon)
    if not constraints.satisfiable():
        given = {"allowed": allowed, "length": length, "pattern": pattern}
        named = ", ".join(f"{k}={v!r}" for k, v in given.items() if v is not None)
        if lexicon:
            named += f"{', ' if named else ''}a lexicon of {len(lexicon)} texts"
        raise ConfigError(f"no text meets these constraints together ({named}): loosen one")
    return constraints
