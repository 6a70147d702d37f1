"""What a model read in one image: the result type of every decoder and of `Recognizer.predict`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prediction:
    """What a recognizer read in one image.

    `confidence` is the probability of the text: greedy decoding gives that of the best CTC
    path (the product over time steps of the winning class's probability), beam search the
    sum over all the text's paths. `char_confidences` holds, for each output character, the
    highest probability among the time steps that emitted it. `rejected` is True when the
    confidence is below the `min_confidence` asked for, or when no text meets the decoding
    constraints (then `text` is empty and `confidence` 0). A beam search fills `candidates`:
    the best texts with their probabilities, most probable first. With `--answer arithmetic`
    (`DecodeOptions(answer="arithmetic")`), `answer` holds the value of the expression read,
    or `answer_error` says why the text is not one.
    """

    text: str
    confidence: float
    char_confidences: tuple[float, ...] = ()
    rejected: bool = False
    candidates: tuple[tuple[str, float], ...] = ()
    answer: str | None = None
    answer_error: str | None = None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "text": self.text,
            "confidence": self.confidence,
            "char_confidences": list(self.char_confidences),
            "rejected": self.rejected,
        }
        if self.candidates:
            data["candidates"] = [{"text": t, "probability": p} for t, p in self.candidates]
        if self.answer is not None or self.answer_error is not None:
            data["answer"] = self.answer
            data["answer_error"] = self.answer_error
        return data
