"""CTC prefix beam search in numpy, with constraints applied inside the search.

A prefix's probability is the sum over every path that collapses to it, split in two: paths
whose last step is blank (`blank`) and paths whose last step is the prefix's last character
(`char`), because a repeated character extends only the first kind. All values are natural
logarithms. At each time step every prefix may stay as it is (blank, or its last character
again) or grow by one class that the constraints allow from its state and after which an
accepted text still fits in the steps left; the `width` most probable prefixes survive.

With an unlimited width this is exact: the probability of every string (Graves 2012, §7.3;
`tests/test_beam.py` checks it against summing all C**T paths).

>>> log_probs = np.log(np.array([[0.1, 0.9], [0.6, 0.4]]))  # (T=2, C=2): blank, "A"
>>> [(text, round(float(np.exp(p)), 2)) for text, p in prefix_beam_search(log_probs, 2)]
[((1,), 0.94), ((), 0.06)]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ctcocr.charset import BLANK
from ctcocr.constraints import Constraints, State

NEG_INF = -np.inf
Prefix = tuple[int, ...]


class Beam(NamedTuple):
    """The surviving prefixes, their constraint states, and their two log-probabilities."""

    prefixes: list[Prefix]
    states: list[State]
    blank: np.ndarray  # (K,) log P(prefix, last step blank)
    char: np.ndarray  # (K,) log P(prefix, last step its last character)


def prefix_beam_search(
    log_probs: np.ndarray, width: int, constraints: Constraints | None = None
) -> list[tuple[Prefix, float]]:
    """log_probs (T, C), log-softmax over classes -> up to `width` (classes, log P) pairs,
    most probable first; only texts the constraints accept. Empty if none survives."""
    steps, num_classes = log_probs.shape
    constraints = constraints or Constraints.unconstrained(num_classes)
    if constraints.distance(constraints.start) > steps:
        return []
    beam = Beam([()], [constraints.start], np.array([0.0]), np.array([NEG_INF]))
    for t in range(steps):
        beam = _step(beam, log_probs[t], steps - 1 - t, width, constraints)
        if not beam.prefixes:
            return []
    total = np.logaddexp(beam.blank, beam.char)
    found = [
        (prefix, float(value))
        for prefix, value, state in zip(beam.prefixes, total, beam.states, strict=True)
        if constraints.accepts(state)
    ]
    return sorted(found, key=lambda pair: -pair[1])


def _step(beam: Beam, step: np.ndarray, left: int, width: int, constraints: Constraints) -> Beam:
    """Advance by one time step with log-probabilities `step` (C,); `left` steps follow."""
    prefixes, blank, char = beam.prefixes, beam.blank, beam.char
    total = np.logaddexp(blank, char)
    last = np.array([p[-1] if p else BLANK for p in prefixes])  # (K,)
    # Staying: a blank after anything, or the last character held one more step.
    stay_blank = total + step[BLANK]
    stay_char = np.where(last != BLANK, char + step[last], NEG_INF)
    # Growing by class c: only after a blank step if c repeats the last character.
    repeats = np.arange(len(step))[None, :] == last[:, None]
    grow = np.where(repeats, blank[:, None], total[:, None]) + step[None, :]  # (K, C)
    moves = [constraints.moves(s) for s in beam.states]
    distance = np.stack([m.distance for m in moves])  # (K, C); blank: UNREACHABLE
    grow = np.where(distance <= left, grow, NEG_INF)
    # A grown prefix that is already in the beam adds to that entry instead.
    index = {p: k for k, p in enumerate(prefixes)}
    for k, prefix in enumerate(prefixes):
        source = index.get(prefix[:-1]) if prefix else None
        if source is not None:
            stay_char[k] = np.logaddexp(stay_char[k], grow[source, prefix[-1]])
            grow[source, prefix[-1]] = NEG_INF
    viable = np.array([m.needed <= left for m in moves])  # can still finish in time
    stay_blank = np.where(viable, stay_blank, NEG_INF)
    stay_char = np.where(viable, stay_char, NEG_INF)
    # Only the `width` best growths can enter the beam: pick them without sorting all.
    flat = grow.ravel()
    take = min(width, int(np.isfinite(flat).sum()))
    picked = np.argpartition(-flat, take - 1)[:take] if take else np.zeros(0, np.int64)
    scores = np.concatenate([np.logaddexp(stay_blank, stay_char), flat[picked]])
    order = np.argsort(-scores, kind="stable")[:width]
    order = order[np.isfinite(scores[order])]
    kept = len(prefixes)
    stays = order < kept
    # Entries j >= kept are growths: picked[j - kept] = parent * C + class.
    padded = np.concatenate([picked, [0]])
    parent, grown = np.divmod(padded[np.where(stays, -1, order - kept)], len(step))
    same = np.minimum(order, kept - 1)
    new_prefixes, new_states = [], []
    for j, k, c in zip(order.tolist(), parent.tolist(), grown.tolist(), strict=True):
        if j < kept:
            new_prefixes.append(prefixes[j])
            new_states.append(beam.states[j])
        else:
            new_prefixes.append((*prefixes[k], c))
            new_states.append(moves[k].targets[c])
    return Beam(
        new_prefixes,
        new_states,
        np.where(stays, stay_blank[same], NEG_INF),
        np.where(stays, stay_char[same], grow[parent, grown]),
    )


def aligned_confidences(log_probs: np.ndarray, text: Prefix) -> tuple[float, ...]:
    """For each character of `text`, the highest probability among the time steps that emit
    it on the most probable path that reads `text` (Viterbi forced alignment); the greedy
    decoder's definition, for a text that is not the best path's."""
    if not text:
        return ()
    steps = log_probs.shape[0]
    extended = np.zeros(2 * len(text) + 1, dtype=np.int64)  # blank, c1, blank, c2, ..., blank
    extended[1::2] = text
    # A state may skip the blank before it unless it repeats the character two states back.
    skip = np.zeros(len(extended), dtype=bool)
    skip[3::2] = extended[3::2] != extended[1:-2:2]
    score = np.full(len(extended), NEG_INF)
    score[:2] = log_probs[0, extended[:2]]
    back = np.zeros((steps, len(extended)), dtype=np.int64)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, steps):
        from_prev = np.concatenate([[NEG_INF], score[:-1]])
        from_skip = np.where(skip, np.concatenate([[NEG_INF, NEG_INF], score[:-2]]), NEG_INF)
        options = np.stack([score, from_prev, from_skip])  # (3, S)
        back[t] = options.argmax(axis=0)
        score = options.max(axis=0) + log_probs[t, extended]
    state = len(extended) - 1 if score[-1] >= score[-2] else len(extended) - 2
    best = np.zeros(len(text))
    for t in range(steps - 1, -1, -1):
        if state % 2:
            best[state // 2] = max(best[state // 2], float(np.exp(log_probs[t, extended[state]])))
        state -= int(back[t, state])
    return tuple(round(float(c), 6) for c in best)
