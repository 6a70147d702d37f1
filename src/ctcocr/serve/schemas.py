"""What the service answers, as pydantic models (they make the OpenAPI page at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ctcocr.runtime.onnx_backend import SPEC_KEY
from ctcocr.runtime.recognizer import Recognizer


class Candidate(BaseModel):
    text: str
    probability: float


class Reading(BaseModel):
    text: str
    confidence: float
    char_confidences: list[float]
    rejected: bool = False
    candidates: list[Candidate] | None = None  # with beam search only
    answer: str | None = None  # with "answer": "arithmetic": the value of what was read
    answer_error: str | None = None  # ... or why what was read is not an expression


class BatchReading(BaseModel):
    results: list[Reading]


class ModelInfo(BaseModel):
    model: str
    architecture: str
    charset: str
    blank_index: int
    input_width: int
    input_height: int
    channels: int
    resize: str
    time_steps: int
    ctcocr_version: str
    metadata: dict[str, str]


class ModelEntry(BaseModel):
    name: str  # the run folder's name or the .onnx file's stem: /v1/models/{name}/recognize
    info: ModelInfo | None  # None: no file under this name has opened yet
    error: str | None  # why its latest file was refused (the model in `info` still serves)


class ModelList(BaseModel):
    default: str | None  # the model of /v1/recognize; None: name one
    models: list[ModelEntry]


class Health(BaseModel):
    status: str


class ErrorBody(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        413: "body over the size limit, or an image with too many pixels",
        415: "not an image",
        422: "a truncated image or a malformed request",
    }.items()
}


def body_doc(content: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": content}}


def file_schema(field: str, many: bool) -> dict[str, Any]:
    binary: dict[str, Any] = {"type": "string", "format": "binary"}
    value = {"type": "array", "items": binary} if many else binary
    return {"schema": {"type": "object", "properties": {field: value}, "required": [field]}}


def model_info(reader: Recognizer) -> ModelInfo:
    spec = reader.spec
    return ModelInfo(
        model=reader.path.name,
        architecture=spec.model.architecture,
        charset=spec.charset.chars,
        blank_index=0,
        input_width=spec.preprocess.width,
        input_height=spec.preprocess.height,
        channels=spec.preprocess.channels,
        resize=spec.preprocess.resize,
        time_steps=spec.model.time_steps,
        ctcocr_version=spec.version,
        metadata={k: v for k, v in reader.metadata.items() if k != SPEC_KEY},
    )
