"""Regular expressions as automata over a model's classes, so a beam search can prune by them.

The stdlib `re` cannot tell whether a prefix can still grow into a match, so a pattern is
parsed here and compiled to a deterministic automaton (DFA) over the charset's classes, with
every state that cannot reach a match removed: a prefix is viable exactly when the DFA has a
state for it.

Supported (the whole text must match, as `re.fullmatch`): literals; `.`; classes `[A-Z0-9]`,
`[^IO]`; `\\d \\D \\w \\W \\s \\S`, escaped punctuation (`\\.`); groups `(...)`, `(?:...)`,
`(?P<name>...)`; `|`; quantifiers `? * + {m} {m,} {m,n} {,n}`, lazy or not; `^` first, `$` last.
Anything else (backreferences, lookaround, inner anchors, flags) raises ConfigError. `re` itself
decides which characters a class or escape holds, one charset character at a time.

>>> dfa = compile_pattern(r"[A-Z]{2}\\d", Charset("0123AB"))
>>> dfa.accepts([5, 6, 2])  # "AB1"
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ctcocr.core.charset import Charset
from ctcocr.core.errors import ConfigError

MAX_NFA_STATES = 20_000
MAX_DFA_STATES = 5_000
_CLASS_ESCAPES = "dDwWsS"

# A parsed pattern: ("set", text) | ("cat", [node...]) | ("alt", [node...])
# | ("repeat", node, low, high or None). A set keeps its regex text until a charset is known.
Node = tuple


@dataclass(frozen=True)
class Dfa:
    """next_state (S, C) int: the state after class c, or -1 where no match can follow."""

    next_state: np.ndarray
    accepting: np.ndarray  # (S,) bool
    distance: np.ndarray  # (S,) int: fewest characters from the state to a match
    start: int = 0

    def accepts(self, classes: list[int]) -> bool:
        state = self.start
        for c in classes:
            state = int(self.next_state[state, c])
            if state < 0:
                return False
        return bool(self.accepting[state])


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.pattern, self.pos = pattern, 0

    def error(self, what: str) -> ConfigError:
        return ConfigError(
            f"pattern {self.pattern!r}: {what} at position {self.pos} is not supported: use "
            "literals, ., [classes], \\d \\w \\s, groups, |, and ? * + {m,n} quantifiers"
        )

    def peek(self) -> str:
        return self.pattern[self.pos] if self.pos < len(self.pattern) else ""

    def parse(self) -> Node:
        end = len(self.pattern)
        if self.pattern.startswith("^"):
            self.pos = 1
        if self.pattern.endswith("$") and not self.pattern.endswith("\\$") and end > self.pos:
            self.pattern = self.pattern[:-1]
        node = self.alternation()
        if self.pos < len(self.pattern):
            raise self.error(f"{self.peek()!r}")
        return node

    def alternation(self) -> Node:
        branches = [self.concat()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.concat())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def concat(self) -> Node:
        items = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.quantified(self.atom()))
        return ("cat", items)

    def atom(self) -> Node:
        char = self.peek()
        if char == "(":
            return self.group()
        if char == "[":
            return self.bracket()
        if char == "\\":
            return self.escape()
        if char in "*+?{":
            raise self.error(f"a quantifier {char!r} with nothing to repeat")
        if char in "^$":
            raise self.error(f"the anchor {char!r} inside the pattern")
        self.pos += 1
        return ("set", "." if char == "." else re.escape(char))

    def group(self) -> Node:
        self.pos += 1
        if self.pattern.startswith("?:", self.pos):
            self.pos += 2
        elif self.pattern.startswith("?P<", self.pos):
            close = self.pattern.find(">", self.pos)
            if close < 0:
                raise self.error("an unterminated group name")
            self.pos = close + 1
        elif self.peek() == "?":
            raise self.error("the group syntax '(?'")
        node = self.alternation()
        if self.peek() != ")":
            raise self.error("a missing ')'")
        self.pos += 1
        return node

    def bracket(self) -> Node:
        start, self.pos = self.pos, self.pos + 1
        if self.peek() == "^":
            self.pos += 1
        if self.peek() == "]":  # a ']' first in a class is a literal
            self.pos += 1
        while self.peek() not in ("]", ""):
            self.pos += 2 if self.peek() == "\\" else 1
        if self.peek() != "]":
            raise self.error("an unterminated '['")
        self.pos += 1
        return ("set", self.pattern[start : self.pos])

    def escape(self) -> Node:
        char = self.pattern[self.pos + 1 : self.pos + 2]
        if not char:
            raise self.error("a trailing backslash")
        if char.isalnum() and char not in _CLASS_ESCAPES:
            raise self.error(f"the escape '\\{char}'")
        self.pos += 2
        return ("set", "\\" + char)

    def quantified(self, node: Node) -> Node:
        while self.peek() and self.peek() in "*+?{":
            char = self.peek()
            self.pos += 1
            if char == "{":
                low, high = self.braces()
            else:
                low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
            if self.peek() == "?":  # lazy: same language for a full match
                self.pos += 1
            elif self.peek() == "+":
                raise self.error("a possessive quantifier")
            node = ("repeat", node, low, high)
        return node

    def braces(self) -> tuple[int, int | None]:
        close = self.pattern.find("}", self.pos)
        body = self.pattern[self.pos : close] if close >= 0 else ""
        match = re.fullmatch(r"(\d*)(,?)(\d*)", body)
        if close < 0 or not match or not (match[1] or match[3]):
            raise self.error("a malformed {m,n}")
        self.pos = close + 1
        low = int(match[1] or 0)
        high = int(match[3]) if match[3] else (None if match[2] else low)
        if high is not None and high < low:
            raise self.error(f"{{{body}}} with max below min")
        return low, high


def parse_pattern(pattern: str) -> Node:
    """Check the syntax (ConfigError if outside the supported subset) -> a parse tree."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"pattern {pattern!r} is not a regular expression ({exc})") from None
    return _Parser(pattern).parse()


class _Nfa:
    """Thompson construction: edges[state] = [(classes or None for epsilon, target)]."""

    def __init__(self, charset: Charset) -> None:
        self.charset = charset
        self.edges: list[list[tuple[frozenset[int] | None, int]]] = []
        self.sets: dict[str, frozenset[int]] = {}

    def new(self) -> int:
        if len(self.edges) >= MAX_NFA_STATES:
            raise ConfigError("the pattern is too large: use smaller {m,n} counts")
        self.edges.append([])
        return len(self.edges) - 1

    def classes(self, text: str) -> frozenset[int]:
        if text not in self.sets:
            regex = re.compile(text, re.DOTALL)
            chars = self.charset.chars
            self.sets[text] = frozenset(i + 1 for i, c in enumerate(chars) if regex.fullmatch(c))
        return self.sets[text]

    def build(self, node: Node, start: int) -> int:
        """Add `node` after state `start`; return its end state."""
        kind = node[0]
        if kind == "set":
            end = self.new()
            self.edges[start].append((self.classes(node[1]), end))
            return end
        if kind == "cat":
            for item in node[1]:
                start = self.build(item, start)
            return start
        if kind == "alt":
            end = self.new()
            for branch in node[1]:
                self.edges[self.build(branch, start)].append((None, end))
            return end
        _, inner, low, high = node
        for _ in range(low):
            start = self.build(inner, start)
        if high is None:  # a loop: inner may repeat without end
            loop = self.new()
            self.edges[start].append((None, loop))
            self.edges[self.build(inner, loop)].append((None, loop))
            return loop
        end = self.new()
        for _ in range(high - low):
            self.edges[start].append((None, end))
            start = self.build(inner, start)
        self.edges[start].append((None, end))
        return end

    def closure(self, states: set[int]) -> frozenset[int]:
        stack, seen = list(states), set(states)
        while stack:
            for classes, target in self.edges[stack.pop()]:
                if classes is None and target not in seen:
                    seen.add(target)
                    stack.append(target)
        return frozenset(seen)


def compile_pattern(pattern: str, charset: Charset) -> Dfa:
    """The DFA of `pattern` over `charset`'s classes, dead states removed.

    ConfigError if the syntax is outside the subset or no text over the charset matches.
    """
    nfa = _Nfa(charset)
    final = nfa.build(parse_pattern(pattern), nfa.new())
    subsets = [nfa.closure({0})]
    index = {subsets[0]: 0}
    rows: list[dict[int, int]] = []
    while len(rows) < len(subsets):  # subset construction, breadth first
        moves: dict[int, set[int]] = {}
        for state in subsets[len(rows)]:
            for classes, target in nfa.edges[state]:
                for c in classes or ():
                    moves.setdefault(c, set()).add(target)
        row = {}
        for c, targets in moves.items():
            subset = nfa.closure(targets)
            if subset not in index:
                if len(subsets) >= MAX_DFA_STATES:
                    raise ConfigError(f"pattern {pattern!r} is too complex: simplify it")
                index[subset] = len(subsets)
                subsets.append(subset)
            row[c] = index[subset]
        rows.append(row)
    accepting = np.array([final in subset for subset in subsets])
    distance = _distances(rows, accepting)
    if distance[0] < 0:
        raise ConfigError(
            f"no text over the model's charset {charset.chars!r} matches pattern {pattern!r}: "
            "check the pattern against the characters the model can read"
        )
    next_state = np.full((len(rows), charset.num_classes), -1, dtype=np.int64)
    for state, row in enumerate(rows):
        for c, target in row.items():
            if distance[target] >= 0:  # keep only moves after which a match is still possible
                next_state[state, c] = target
    return Dfa(next_state, accepting, distance)


def _distances(rows: list[dict[int, int]], accepting: np.ndarray) -> np.ndarray:
    """Fewest characters from each state to an accepting one (-1: none), by reverse BFS."""
    reverse: list[list[int]] = [[] for _ in rows]
    for state, row in enumerate(rows):
        for target in set(row.values()):
            reverse[target].append(state)
    distance = np.where(accepting, 0, -1)
    frontier = [int(s) for s in np.flatnonzero(accepting)]
    while frontier:
        following: list[int] = []
        for state in frontier:
            for previous in reverse[state]:
                if distance[previous] < 0:
                    distance[previous] = distance[state] + 1
                    following.append(previous)
        frontier = following
    return distance
