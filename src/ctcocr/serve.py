"""The HTTP service: FastAPI routes over one Recognizer, plus the page at `/`.

    POST /v1/recognize        one image: multipart field `file`, a raw image body, or
                              JSON {"image": "<base64>"}
    POST /v1/recognize/batch  several: multipart fields `files`, or JSON {"images": [...]}
                              Decoding options (ctcocr.decoding.DecodeOptions) come as JSON
                              "options": {"beam": 5, "length": [4, 6], ...}, or as query
                              parameters ?beam=5&length=4-6&allowed=...&pattern=...
    GET  /v1/model            what the model reads and how it was made
    GET  /healthz             liveness
    GET  /                    the page (web/index.html; its assets under /static)

The model is opened once per process. A bad request gets a JSON `{"detail": ...}` and a 4xx,
never a 500: a body over `max_bytes` 413, an image over images.MAX_PIXELS 413, bytes in no
image format 415, a truncated image or a malformed request 422. Image checks are those of
ctcocr.images; the error's type picks the status.

>>> uvicorn.run(create_app("captcha.onnx"), host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctcocr import __version__
from ctcocr.decoding import DecodeOptions
from ctcocr.errors import (
    ConfigError,
    CtcocrError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
)
from ctcocr.images import load_image
from ctcocr.onnx_backend import SPEC_KEY
from ctcocr.options import parse_range
from ctcocr.recognizer import Recognizer

WEB = Path(__file__).parent / "web"
MAX_BODY_BYTES = 2_000_000
MAX_BATCH = 64


class Candidate(BaseModel):
    text: str
    probability: float


class Reading(BaseModel):
    text: str
    confidence: float
    char_confidences: list[float]
    rejected: bool = False
    candidates: list[Candidate] | None = None  # with beam search only


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


class Health(BaseModel):
    status: str


class ErrorBody(BaseModel):
    detail: str


class ImageJson(BaseModel):
    image: str  # base64, optionally as a data: URL
    options: dict[str, Any] | None = None  # DecodeOptions fields, e.g. {"beam": 5}


class BatchJson(BaseModel):
    images: list[str]
    options: dict[str, Any] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        413: "body over the size limit, or an image with too many pixels",
        415: "not an image",
        422: "a truncated image or a malformed request",
    }.items()
}


class BodyLimit:
    """ASGI middleware: read the whole body (at most `max_bytes`) before any route sees it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        too_large = JSONResponse(
            {"detail": f"request body over the limit of {self.max_bytes:,} bytes"}, 413
        )
        if declared.isdigit() and int(declared) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the route will notice
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await too_large(scope, receive, send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def status_of(error: ImageError) -> int:
    if isinstance(error, ImageTooLargeError):
        return 413
    return 415 if isinstance(error, NotAnImageError) else 422


def decode_base64(text: str, name: str) -> bytes:
    if text.startswith("data:"):  # a data URL: data:image/png;base64,....
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(422, f"{name}: not valid base64 ({exc})") from exc


async def _parse_json(request: Request, schema: type[BaseModel]) -> Any:
    try:
        return schema.model_validate(json.loads(await request.body()))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
        example = '{"image": "<base64>"}' if schema is ImageJson else '{"images": ["<base64>"]}'
        detail = f"JSON body must be {example} ({str(exc).splitlines()[0]})"
        raise HTTPException(422, detail) from exc


async def _form_files(request: Request, fields: tuple[str, ...]) -> list[tuple[str, bytes]]:
    try:
        form = await request.form(max_files=MAX_BATCH + 1)
    except Exception as exc:  # starlette raises several types for a malformed multipart body
        raise HTTPException(422, f"malformed multipart body ({exc})") from exc
    uploads = [item for field in fields for item in form.getlist(field)]
    files = [item for item in uploads if isinstance(item, UploadFile)]
    if not files:
        raise HTTPException(422, f"multipart body without a file field named {fields[0]!r}")
    return [
        (item.filename or f"{fields[0]}[{i}]", await item.read()) for i, item in enumerate(files)
    ]


Named = list[tuple[str, bytes]]


async def _request_images(request: Request, batch: bool) -> tuple[Named, DecodeOptions]:
    """(name, encoded bytes) for each image in the request, whatever its form, and how to
    decode them."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    query = _query_options(request)
    if kind == "multipart/form-data":
        files = await _form_files(request, ("files", "file") if batch else ("file",))
        return files, _options(query)
    if kind == "application/json":
        if batch:
            body = await _parse_json(request, BatchJson)
            named = [
                (f"images[{i}]", decode_base64(t, f"images[{i}]"))
                for i, t in enumerate(body.images)
            ]
        else:
            body = await _parse_json(request, ImageJson)
            named = [("image", decode_base64(body.image, "image"))]
        return named, _options({**query, **(body.options or {})})
    if batch:
        raise HTTPException(422, "send a batch as multipart fields 'files' or JSON 'images'")
    body = await request.body()
    if not body:
        raise HTTPException(422, "empty body: send an image (raw, multipart 'file' or JSON)")
    return [("body", body)], _options(query)


def _query_options(request: Request) -> dict[str, Any]:
    """Decoding options from the query string: ?beam=5&length=4-6&allowed=0123&pattern=..."""
    query: dict[str, Any] = dict(request.query_params)
    try:
        if "beam" in query:
            query["beam"] = int(query["beam"])
        if "min_confidence" in query:
            query["min_confidence"] = float(query["min_confidence"])
        if "length" in query:
            query["length"] = list(parse_range(query["length"]))
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise HTTPException(422, f"query parameters: {exc}") from exc
    return query


def _options(values: dict[str, Any]) -> DecodeOptions:
    try:
        return DecodeOptions.from_dict(values)
    except (ConfigError, TypeError) as exc:
        raise HTTPException(422, f"decoding options: {exc}") from exc


def _decode_all(named: list[tuple[str, bytes]]) -> list[Image.Image]:
    try:
        return [load_image(data, name) for name, data in named]
    except ImageError as error:
        raise HTTPException(status_of(error), str(error)) from error


def _body_doc(content: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": content}}


def _file_schema(field: str, many: bool) -> dict[str, Any]:
    binary: dict[str, Any] = {"type": "string", "format": "binary"}
    value = {"type": "array", "items": binary} if many else binary
    return {"schema": {"type": "object", "properties": {field: value}, "required": [field]}}


def create_app(model: str | Path | None = None, max_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The service for `model` (a run folder or .onnx; None: the shipped model)."""
    reader = Recognizer(model, threads=1)  # many requests at once: one core each
    app = FastAPI(title="ctcocr", version=__version__, description="Read short text in images.")
    app.add_middleware(BodyLimit, max_bytes=max_bytes)

    async def read(request: Request, batch: bool) -> list[Reading]:
        named, options = await _request_images(request, batch)
        if len(named) > MAX_BATCH:
            raise HTTPException(422, f"{len(named)} images: send at most {MAX_BATCH} at once")
        images = await run_in_threadpool(_decode_all, named)
        try:
            predictions = await run_in_threadpool(reader.predict_batch, images, 64, options)
        except CtcocrError as exc:  # a constraint this model cannot meet, e.g. an unknown char
            raise HTTPException(422, f"decoding options: {exc}") from exc
        return [Reading(**p.to_dict()) for p in predictions]  # type: ignore[arg-type]

    single = {
        "multipart/form-data": _file_schema("file", many=False),
        "application/json": {"schema": ImageJson.model_json_schema()},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    }
    many = {
        "multipart/form-data": _file_schema("files", many=True),
        "application/json": {"schema": BatchJson.model_json_schema()},
    }

    @app.post(
        "/v1/recognize",
        responses=ERRORS,
        openapi_extra=_body_doc(single),
        response_model_exclude_none=True,
    )
    async def recognize(request: Request) -> Reading:
        """Read the text in one image."""
        return (await read(request, batch=False))[0]

    @app.post(
        "/v1/recognize/batch",
        responses=ERRORS,
        openapi_extra=_body_doc(many),
        response_model_exclude_none=True,
    )
    async def recognize_batch(request: Request) -> BatchReading:
        """Read the text in up to 64 images, in order, in one model run."""
        return BatchReading(results=await read(request, batch=True))

    @app.get("/v1/model")
    def model_info() -> ModelInfo:
        """What the model reads (charset, input) and how it was made."""
        return _model_info(reader)

    @app.get("/healthz")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return app


def _model_info(reader: Recognizer) -> ModelInfo:
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


def run_server(model: Path | None, host: str, port: int, max_bytes: int) -> None:
    import uvicorn

    app = create_app(model, max_bytes)
    print(f"ctcocr serving on http://{host}:{port}/ (API docs at /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
