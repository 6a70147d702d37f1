"""How to turn logits into text: greedy by default, or a beam search under constraints.

`DecodeOptions` is the one description of a decoding request, for the Python API, the command
line (its fields become flags) and JSON (`from_dict`/`to_dict`, for the HTTP service).
`decode` applies the model's temperature to the logits, then decodes. No torch here.

>>> options = DecodeOptions(beam=5, length=(4, 6), allowed="0123456789")
>>> DecodeOptions.from_dict(options.to_dict()) == options
True
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ctcocr.core.charset import Charset
from ctcocr.core.errors import ConfigError, DataError, ExpressionError
from ctcocr.decoding.arithmetic import arithmetic_answer
from ctcocr.decoding.beam import aligned_confidences, batch_beam_search
from ctcocr.decoding.constraints import Constraints, build_constraints
from ctcocr.decoding.greedy import ctc_greedy_decode, log_softmax
from ctcocr.decoding.pattern import parse_pattern
from ctcocr.decoding.prediction import Prediction

MAX_BEAM = 256
# The beam a constrained search keeps when none is given. A beam of 1 commits to each step's
# best allowed text and cannot undo it: captcha_images_v2 read `lcp85` for `ep85x` with
# --length 5 alone (5-character texts); 3 and 10 read the same, better texts (docs/decoding.md).
CONSTRAINED_BEAM = 10
ANSWERS = ("arithmetic",)


@dataclass(frozen=True)
class DecodeOptions:
    """A decoding request. The defaults decode greedily, exactly as `ctc_greedy_decode`.

    Any constraint runs the beam search, so that the text always meets it: `beam` texts wide,
    CONSTRAINED_BEAM when not given (`width`); when nothing the model can read meets it, the
    prediction is empty with confidence 0.
    """

    beam: int | None = field(
        default=None,
        metadata={
            "help": f"beam search keeping the K best texts (default: 1, greedy; "
            f"{CONSTRAINED_BEAM} with --allowed, --length, --pattern or --lexicon)",
            "metavar": "K",
        },
    )
    allowed: str | None = field(
        default=None, metadata={"help": "read only these characters", "metavar": "CHARS"}
    )
    length: tuple[int, int] | None = field(
        default=None,
        metadata={"help": "only texts of length A to B (or exactly A)", "metavar": "A-B"},
    )
    pattern: str | None = field(
        default=None,
        metadata={"help": "a regular expression the whole text must match", "metavar": "REGEX"},
    )
    lexicon: tuple[str, ...] | None = field(
        default=None, metadata={"help": "only these texts: a file, one per line", "metavar": "FILE"}
    )
    min_confidence: float = field(
        default=0.0,
        metadata={"help": "mark predictions less confident than P as rejected", "metavar": "P"},
    )
    answer: Literal["arithmetic"] | None = field(
        default=None,
        metadata={"help": "also answer what was read: arithmetic gives 19 for 12+7=?"},
    )

    def __post_init__(self) -> None:
        beam = self.beam
        if beam is not None and (
            isinstance(beam, bool) or not isinstance(beam, int) or not 1 <= beam <= MAX_BEAM
        ):
            raise ConfigError(f"beam={beam!r}: give a whole number from 1 to {MAX_BEAM}")
        if self.allowed is not None and (not isinstance(self.allowed, str) or not self.allowed):
            raise ConfigError(f"allowed={self.allowed!r}: give a non-empty string of characters")
        if self.length is not None:
            object.__setattr__(self, "length", _length(self.length))
        if self.pattern is not None:
            if not isinstance(self.pattern, str) or not self.pattern:
                raise ConfigError(f"pattern={self.pattern!r}: give a regular expression")
            parse_pattern(self.pattern)
        if self.lexicon is not None:
            object.__setattr__(self, "lexicon", _lexicon(self.lexicon))
        confidence = self.min_confidence
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise ConfigError(f"min_confidence={confidence!r}: give a number from 0 to 1")
        if not 0.0 <= confidence <= 1.0:
            raise ConfigError(f"min_confidence={confidence}: give a number from 0 to 1")
        if self.answer is not None and self.answer not in ANSWERS:
            raise ConfigError(f"answer={self.answer!r}: use {', '.join(ANSWERS)}")

    @property
    def constrained(self) -> bool:
        return any(v is not None for v in (self.allowed, self.length, self.pattern, self.lexicon))

    @property
    def width(self) -> int:
        """The beam used: as given, else CONSTRAINED_BEAM with a constraint and 1 without."""
        if self.beam is not None:
            return self.beam
        return CONSTRAINED_BEAM if self.constrained else 1

    @property
    def greedy(self) -> bool:
        return self.width == 1 and not self.constrained

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["beam"] = self.width
        for key in ("length", "lexicon"):
            data[key] = list(data[key]) if data[key] is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecodeOptions:
        """Options from JSON; missing keys keep their defaults, unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"decode options must be a JSON object, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"unknown decode option(s) {unknown}: use {', '.join(names)}")
        return cls(**{k: v for k, v in data.items() if v is not None})


def _length(value: Any) -> tuple[int, int]:
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
    pair = tuple(value) if ok else ()
    if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ConfigError(f"length={value!r}: give two whole numbers [min, max]")
    low, high = pair
    if not 0 <= low <= high or high < 1:
        raise ConfigError(f"length={value!r}: need 0 <= min <= max and max >= 1")
    return low, high


def _lexicon(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError("lexicon: give a list of allowed texts")
    if not value or not all(isinstance(w, str) and w for w in value):
        raise ConfigError("lexicon: give at least one text, and no empty ones")
    return tuple(value)


def read_lexicon(path: Path) -> tuple[str, ...]:
    """Allowed texts, one per line (blank lines and surrounding spaces ignored)."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: cannot read the lexicon ({exc}): give a UTF-8 text file"
        ) from None
    words = tuple(dict.fromkeys(line.strip() for line in lines if line.strip()))
    if not words:
        raise DataError(f"{path}: the lexicon is empty: list one allowed text per line")
    return words


def constraints_for(options: DecodeOptions, charset: Charset) -> Constraints:
    """The compiled constraints (a pattern's DFA, a lexicon's trie), built once per model
    and set of constraints, whatever the beam width or confidence threshold."""
    return _compiled(options.allowed, options.length, options.pattern, options.lexicon, charset)


@functools.lru_cache(maxsize=16)
def _compiled(
    allowed: str | None,
    length: tuple[int, int] | None,
    pattern: str | None,
    lexicon: tuple[str, ...] | None,
    charset: Charset,
) -> Constraints:
    return build_constraints(charset, allowed, length, pattern, lexicon)


def decode(
    logits: np.ndarray,
    charset: Charset,
    options: DecodeOptions | None = None,
    temperature: float = 1.0,
) -> list[Prediction]:
    """Logits (B, T, C) -> one Prediction per image, decoded as `options` asks.

    The logits are divided by `temperature` first (the model's calibration, see
    calibration.py). Confidence is the probability of the text: of its best path when greedy,
    of all its paths in the beam when searching.
    """
    options = options or DecodeOptions()
    if logits.ndim != 3:
        raise ValueError(f"expected logits of shape (B, T, C), got {logits.shape}")
    scaled = logits if temperature == 1.0 else logits / np.float32(temperature)
    if options.greedy:
        predictions = ctc_greedy_decode(scaled, charset)
    else:
        constraints = constraints_for(options, charset)
        log_probs = log_softmax(scaled.astype(np.float64))  # (B, T, C)
        found = batch_beam_search(log_probs, options.width, constraints)
        predictions = [
            _prediction(texts, lp, charset) for texts, lp in zip(found, log_probs, strict=True)
        ]
    if options.min_confidence > 0:
        predictions = [
            dataclasses.replace(p, rejected=p.rejected or p.confidence < options.min_confidence)
            for p in predictions
        ]
    if options.answer == "arithmetic":
        predictions = [_answered(p) for p in predictions]
    return predictions


def _answered(prediction: Prediction) -> Prediction:
    try:
        return dataclasses.replace(prediction, answer=arithmetic_answer(prediction.text))
    except ExpressionError as exc:
        return dataclasses.replace(prediction, answer_error=str(exc))


def _prediction(
    found: list[tuple[tuple[int, ...], float]], log_probs: np.ndarray, charset: Charset
) -> Prediction:
    if not found:  # nothing the model can read meets the constraints in T steps
        return Prediction(text="", confidence=0.0, rejected=True)
    best, log_p = found[0]
    return Prediction(
        text=charset.decode(best),
        confidence=float(np.exp(log_p)),
        char_confidences=aligned_confidences(log_probs, best),
        candidates=tuple((charset.decode(p), float(np.exp(v))) for p, v in found),
    )
