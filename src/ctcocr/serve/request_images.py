"""What the service reads from a request: the images (multipart, raw body or JSON base64),
the decoding options (JSON "options" or query parameters), and a body-size limit that holds
before any route runs. Problems become HTTPExceptions with the status a client can act on."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctcocr.core.config_flags import parse_range
from ctcocr.core.errors import ConfigError, ImageError, ImageTooLargeError, NotAnImageError
from ctcocr.data.images import load_image
from ctcocr.decoding.decoder import DecodeOptions

MAX_BATCH = 64


class ImageJson(BaseModel):
    image: str  # base64, optionally as a data: URL
    options: dict[str, Any] | None = None  # DecodeOptions fields, e.g. {"beam": 5}


class BatchJson(BaseModel):
    images: list[str]
    options: dict[str, Any] | None = None


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


def base64_bytes(text: str, name: str) -> bytes:
    if text.startswith("data:"):  # a data URL: data:image/png;base64,....
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(422, f"{name}: not valid base64 ({exc})") from exc


async def _parse_json(request: Request, schema: type[BaseModel]) -> Any:
    body = await request.body()
    try:
        return schema.model_validate(json.loads(body))
    except RecursionError as exc:  # json.loads recurses once per nested [ or {
        raise HTTPException(422, "JSON body nested too deeply: send a flat JSON object") from exc
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


async def request_images(request: Request, batch: bool) -> tuple[Named, DecodeOptions]:
    """(name, encoded bytes) for each image in the request, whatever its form, and the
    decoding options (how to turn the model's scores into text)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    query = _query_options(request)
    if kind == "multipart/form-data":
        files = await _form_files(request, ("files", "file") if batch else ("file",))
        return files, _options(query)
    if kind == "application/json":
        if batch:
            body = await _parse_json(request, BatchJson)
            named = [
                (f"images[{i}]", base64_bytes(t, f"images[{i}]")) for i, t in enumerate(body.images)
            ]
        else:
            body = await _parse_json(request, ImageJson)
            named = [("image", base64_bytes(body.image, "image"))]
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


def open_all(named: list[tuple[str, bytes]]) -> list[Image.Image]:
    try:
        return [load_image(data, name) for name, data in named]
    except ImageError as error:
        raise HTTPException(status_of(error), str(error)) from error
