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

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ctcocr.core.charset import BLANK
from ctcocr.decoding.constraints import UNREACHABLE, Constraints, State

NEG_INF = -np.inf
Prefix = tuple[int, ...]


class Beam(NamedTuple):
    """Each image's surviving prefixes, their constraint states, and their two log-probabilities;
    rows of the arrays past an image's last prefix are padding (-inf)."""

    prefixes: list[list[Prefix]]  # B lists of up to K prefixes
    states: list[list[State]]
    blank: np.ndarray  # (B, K) log P(prefix, last step blank)
    char: np.ndarray  # (B, K) log P(prefix, last step its last character)


def prefix_beam_search(
    log_probs: np.ndarray, width: int, constraints: Constraints | None = None
) -> list[tuple[Prefix, float]]:
    """log_probs (T, C), log-softmax over classes -> up to `width` (classes, log P) pairs,
    most probable first; only texts the constraints accept. Empty if none survives."""
    return batch_beam_search(log_probs[None], width, constraints)[0]


def batch_beam_search(
    log_probs: np.ndarray, width: int, constraints: Constraints | None = None
) -> list[list[tuple[Prefix, float]]]:
    """`prefix_beam_search` for a batch, log_probs (B, T, C): the images advance together,
    so each numpy operation serves the whole batch."""
    count, steps, num_classes = log_probs.shape
    constraints = constraints or Constraints.unconstrained(num_classes)
    if constraints.distance(constraints.start) > steps:
        return [[] for _ in range(count)]
    beam = Beam(
        [[()] for _ in range(count)],
        [[constraints.start] for _ in range(count)],
        np.zeros((count, 1)),
        np.full((count, 1), NEG_INF),
    )
    for t in range(steps):
        beam = _step(beam, log_probs[:, t], steps - 1 - t, width, constraints)
    total = np.logaddexp(beam.blank, beam.char)
    results = []
    for b in range(count):
        found = [
            (prefix, float(total[b, k]))
            for k, (prefix, state) in enumerate(zip(beam.prefixes[b], beam.states[b], strict=True))
            if constraints.accepts(state)
        ]
        results.append(sorted(found, key=lambda pair: -pair[1]))
    return results


def _step(beam: Beam, step: np.ndarray, left: int, width: int, constraints: Constraints) -> Beam:
    """Advance by one time step with log-probabilities `step` (B, C); `left` steps follow."""
    blank, char = beam.blank, beam.char
    count, kept = blank.shape
    total = np.logaddexp(blank, char)  # (B, K)
    rows = np.arange(count)[:, None]  # indexes each image's row
    last, distance, needed = _beam_arrays(beam, constraints, step.shape[1])
    # Staying: a blank after anything, or the last character held one more step.
    stay_blank = total + step[:, None, BLANK]
    stay_char = np.where(last != BLANK, char + step[rows, last], NEG_INF)
    # Growing by class c: only after a blank step if c repeats the last character.
    repeats = np.arange(step.shape[1]) == last[..., None]  # (B, K, C)
    grow = np.where(repeats, blank[..., None], total[..., None]) + step[:, None, :]
    grow = np.where(distance <= left, grow, NEG_INF)  # the constraints' moves, in time
    # A grown prefix that is already in the beam adds to that entry instead.
    for b, prefixes in enumerate(beam.prefixes):
        index = {p: k for k, p in enumerate(prefixes)}
        for k, prefix in enumerate(prefixes):
            source = index.get(prefix[:-1]) if prefix else None
            if source is not None:
                stay_char[b, k] = np.logaddexp(stay_char[b, k], grow[b, source, prefix[-1]])
                grow[b, source, prefix[-1]] = NEG_INF
    viable = needed <= left  # (B, K): the prefix can still be finished in time
    stay_blank = np.where(viable, stay_blank, NEG_INF)
    stay_char = np.where(viable, stay_char, NEG_INF)
    # Only the `width` best growths per image can enter the beam: pick them without sorting.
    flat = grow.reshape(count, -1)  # (B, K * C)
    take = min(width, flat.shape[1])
    picked = np.argpartition(-flat, take - 1, axis=1)[:, :take]  # (B, take)
    scores = np.concatenate([np.logaddexp(stay_blank, stay_char), flat[rows, picked]], axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :width]  # (B, width)
    alive = np.isfinite(scores[rows, order])
    stays = order < kept
    same = np.minimum(order, kept - 1)
    # Entries j >= kept are growths: picked[j - kept] = parent * C + class.
    code = picked[rows, np.maximum(order - kept, 0)]
    parent, grown = np.divmod(code, step.shape[1])
    new_blank = np.where(stays & alive, stay_blank[rows, same], NEG_INF)
    new_char = np.where(stays, stay_char[rows, same], flat[rows, code])
    new_prefixes, new_states = _survivors(beam, constraints, order, parent, grown, alive)
    # The alive entries come first in each row (sorted by score); the rest is padding.
    return Beam(new_prefixes, new_states, new_blank, np.where(alive, new_char, NEG_INF))


def _survivors(
    beam: Beam,
    constraints: Constraints,
    order: np.ndarray,
    parent: np.ndarray,
    grown: np.ndarray,
    alive: np.ndarray,
) -> tuple[list[list[Prefix]], list[list[State]]]:
    """The prefixes and states kept, per image: entry j < K stays as beam entry j; a later
    entry is beam entry `parent` grown by class `grown`. All arrays (B, width)."""
    kept = beam.blank.shape[1]
    new_prefixes: list[list[Prefix]] = []
    new_states: list[list[State]] = []
    for b, (prefixes, states) in enumerate(zip(beam.prefixes, beam.states, strict=True)):
        row_prefixes, row_states = [], []
        entries = zip(order[b].tolist(), parent[b].tolist(), grown[b].tolist(), strict=True)
        for (j, k, c), keep in zip(entries, alive[b].tolist(), strict=True):
            if not keep:
                continue
            if j < kept:
                row_prefixes.append(prefixes[j])
                row_states.append(states[j])
            else:
                row_prefixes.append((*prefixes[k], c))
                row_states.append(constraints.moves(states[k]).targets[c])
        new_prefixes.append(row_prefixes)
        new_states.append(row_states)
    return new_prefixes, new_states


def _beam_arrays(
    beam: Beam, constraints: Constraints, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> last class of each prefix (B, K), characters still needed after each class
    (B, K, C; UNREACHABLE where it may not follow), and for the prefix itself (B, K)."""
    count, kept = beam.blank.shape
    last = np.zeros((count, kept), dtype=np.int64)
    distance = np.full((count, kept, num_classes), UNREACHABLE, dtype=np.int64)
    needed = np.full((count, kept), UNREACHABLE, dtype=np.int64)
    for b, (prefixes, states) in enumerate(zip(beam.prefixes, beam.states, strict=True)):
        for k, (prefix, state) in enumerate(zip(prefixes, states, strict=True)):
            moves = constraints.moves(state)
            last[b, k] = prefix[-1] if prefix else BLANK
            distance[b, k] = moves.distance
            needed[b, k] = moves.needed
    return last, distance, needed


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


def text_log_probability(log_probs: np.ndarray, texts: Sequence[Sequence[int]]) -> np.ndarray:
    """log P(text) summed over all its paths (the CTC forward algorithm), for a batch:
    log_probs (N, T, C), one text (class indices) per item -> (N,)."""
    count, steps, _ = log_probs.shape
    lengths = np.array([len(t) for t in texts])
    states = 2 * max(lengths.max(initial=0), 0) + 1
    extended = np.zeros((count, states), dtype=np.int64)  # blank, c1, blank, c2, ..., blank
    for n, text in enumerate(texts):
        extended[n, 1 : 2 * len(text) : 2] = text
    valid = np.arange(states) < (2 * lengths + 1)[:, None]  # (N, S)
    # A state may skip the blank before it unless it repeats the character two states back.
    skip = np.zeros((count, states), dtype=bool)
    skip[:, 3::2] = extended[:, 3::2] != extended[:, 1:-2:2]
    emit = np.take_along_axis(log_probs, np.repeat(extended[:, None], steps, axis=1), axis=2)
    alpha = np.full((count, states), NEG_INF)
    alpha[:, 0] = emit[:, 0, 0]
    if states > 1:
        alpha[:, 1] = np.where(lengths > 0, emit[:, 0, 1], NEG_INF)
    pad = np.full((count, 2), NEG_INF)
    for t in range(1, steps):
        shifted = np.concatenate([pad, alpha], axis=1)  # (N, S + 2)
        from_skip = np.where(skip, shifted[:, :-2], NEG_INF)
        alpha = np.logaddexp(np.logaddexp(alpha, shifted[:, 1:-1]), from_skip) + emit[:, t]
        alpha = np.where(valid, alpha, NEG_INF)
    rows = np.arange(count)
    last_blank = alpha[rows, 2 * lengths]
    last_char = np.where(lengths > 0, alpha[rows, np.maximum(2 * lengths - 1, 0)], NEG_INF)
    return np.logaddexp(last_blank, last_char)
