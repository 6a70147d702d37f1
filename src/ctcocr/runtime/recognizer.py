"""The public face of ctcocr: open a model once, read text from images.

>>> from ctcocr import Recognizer
>>> reader = Recognizer("runs/captcha")
>>> reader.predict("2b827.png").text
'2b827'

This module never imports torch at import time: a run folder loads the torch backend when it
is opened; an exported `.onnx` file runs on onnxruntime, so it needs no torch at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ctcocr.core.errors import ImageError, ModelFileError
from ctcocr.core.run_folder import RunSpec, read_spec
from ctcocr.data.images import ImageInput, open_readable, preprocess_batch
from ctcocr.decoding.decoder import DecodeOptions, decode
from ctcocr.decoding.prediction import Prediction


class Backend(Protocol):
    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(B, C, H, W) float32 -> (B, T, num_classes)."""
        ...


class Recognizer:
    """Reads the text in images with a trained model. Construct once; thread-safe."""

    def __init__(
        self, model: str | Path | None = None, device: str = "cpu", threads: int = 0
    ) -> None:
        """`model`: a run folder (PyTorch) or an exported `.onnx` file (onnxruntime, no torch);
        None opens the shipped general model, and "general" or "captcha" name a shipped model
        (runtime/shipped.py). `threads` sets onnxruntime's intra-op threads (0: one per core)."""
        from ctcocr.runtime.onnx_backend import OnnxBackend
        from ctcocr.runtime.shipped import resolve_model

        path = resolve_model(model)
        if not path.exists():
            raise ModelFileError(f"{path}: no such model: give the --out folder of a training")
        self.path = path
        self._backend: Backend
        if path.is_file() and path.suffix.lower() == ".onnx":
            onnx_backend = OnnxBackend(path, threads)
            self.spec: RunSpec = onnx_backend.spec
            self._backend = onnx_backend
            return
        if not path.is_dir():
            raise ModelFileError(
                f"{path}: not a model this version can open: give a training's run folder "
                "or a .onnx file from `ctcocr export`"
            )
        self.spec = read_spec(path)
        from ctcocr.runtime.torch_backend import (
            TorchBackend,  # torch is only needed for run folders
        )

        self._backend = TorchBackend(path, self.spec, device)

    @property
    def charset(self) -> str:
        return self.spec.charset.chars

    @property
    def metadata(self) -> dict[str, str]:
        """An exported model's ONNX metadata (see export/onnx_export.py); {} for a run folder."""
        return dict(getattr(self._backend, "metadata", {}))

    def predict(self, image: ImageInput, options: DecodeOptions | None = None) -> Prediction:
        """Read one image: a path, encoded bytes, a PIL image or a numpy array.

        A numpy array holds pixels as (H, W), (H, W, 3) RGB or (H, W, 4) RGBA: uint8 values
        0-255, or floats in [0, 1] (scaled by 255). Floats outside [0, 1] (a float array of
        0-255 values), NaN, or integers outside 0-255 raise ImageError rather than being
        read as some other picture. An image that cannot be read raises ImageError.

        >>> reader.predict("plate.png", DecodeOptions(beam=5, pattern=r"[A-Z]{3}\\d{4}")).text
        'ABC1234'

        An arithmetic CAPTCHA's value comes beside the text; `answer_error` says why there
        is none when the reading is not an expression:

        >>> question = reader.predict("sum.png", DecodeOptions(answer="arithmetic"))
        >>> question.text, question.answer, question.answer_error
        ('12+7=?', '19', None)
        """
        return self.predict_batch([image], options=options)[0]

    def predict_batch(
        self,
        images: Sequence[ImageInput],
        batch_size: int = 64,
        options: DecodeOptions | None = None,
    ) -> list[Prediction]:
        """Read many images, `batch_size` at a time; one Prediction per image, in order."""
        predictions: list[Prediction] = []
        for logits in self._chunk_logits(images, batch_size):
            predictions += self.decode(logits, options)
        return predictions

    def predict_each(
        self,
        images: Sequence[ImageInput],
        batch_size: int = 64,
        options: DecodeOptions | None = None,
    ) -> list[Prediction | ImageError]:
        """Like predict_batch, but an image that cannot be read gives its ImageError in its
        place instead of stopping the rest: for reading folders of files one may be damaged.

        >>> [r.text if isinstance(r, Prediction) else "?" for r in reader.predict_each(paths)]
        ['2b827', '?', 'x4m8n']
        """
        results: list[Prediction | ImageError] = []
        for start in range(0, len(images), batch_size):
            opened, failed = open_readable(images[start : start + batch_size])
            read = iter(self.predict_batch(opened, batch_size, options))
            results += [failed.get(i) or next(read) for i in range(len(opened) + len(failed))]
        return results

    def logits(self, images: Sequence[ImageInput], batch_size: int = 64) -> np.ndarray:
        """The raw per-step scores: float32 (B, T, num_classes), class 0 = blank.

        For looking inside the model (`ctcocr explain`, calibration);
        `decoding.greedy.log_softmax` turns them into log-probabilities.
        """
        chunks = list(self._chunk_logits(images, batch_size))
        if not chunks:
            return np.zeros(
                (0, self.spec.model.time_steps, self.spec.charset.num_classes), np.float32
            )
        return np.concatenate(chunks)

    def _chunk_logits(self, images: Sequence[ImageInput], batch_size: int) -> Iterator[np.ndarray]:
        """The logits of `images`, `batch_size` at a time, one session run per chunk.

        (Reading the next chunk's files on a second thread while the model runs was measured
        and gained nothing on 2 cores: opening and resizing hold the GIL most of the time, and
        onnxruntime already uses both cores.)"""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: read at least one image at a time")
        for start in range(0, len(images), batch_size):
            chunk = list(images[start : start + batch_size])
            yield self._backend.logits(preprocess_batch(chunk, self.spec.preprocess))

    def decode(
        self,
        logits: np.ndarray,
        options: DecodeOptions | None = None,
        temperature: float | None = None,
    ) -> list[Prediction]:
        """Decode raw logits (B, T, C) with the model's temperature (or the one given)."""
        used = self.spec.temperature if temperature is None else temperature
        return decode(logits, self.spec.charset, options, used)

    def __repr__(self) -> str:
        model = self.spec.model
        return f"Recognizer({str(self.path)!r}, {model.architecture}, charset={self.charset!r})"
