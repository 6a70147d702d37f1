"""The HTTP service: FastAPI routes over one Recognizer, plus the page at `/`.

    POST /v1/recognize        one image: multipart field `file`, a raw image body, or
                              JSON {"image": "<base64>"}
    POST /v1/recognize/batch  several: multipart fields `files`, or JSON {"images": [...]}
                              Decoding options (ctcocr.decoding.decoder.DecodeOptions) come as JSON
                              "options": {"beam": 5, "length": [4, 6], ...}, or as query
                              parameters ?beam=5&length=4-6&allowed=...&pattern=...
    GET  /v1/model            what the model reads and how it was made
    GET  /healthz             liveness
    GET  /                    the page (web/index.html; its assets under /static)

The model is opened once per process; concurrent requests share its runs (batching.py).
A bad request gets a JSON `{"detail": ...}` and a 4xx,
never a 500: a body over `max_bytes` 413, an image over images.MAX_PIXELS 413, bytes in no
image format 415, a truncated image or a malformed request 422. Image checks are those of
ctcocr.data.images; the error's type picks the status.

>>> uvicorn.run(create_app("captcha.onnx"), host="127.0.0.1", port=8000)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from ctcocr.core.version import __version__
from ctcocr.runtime.recognizer import Recognizer
from ctcocr.serve.batching import Batcher
from ctcocr.serve.request_images import (
    MAX_BATCH,
    BatchJson,
    BodyLimit,
    ImageJson,
    request_images,
)
from ctcocr.serve.schemas import (
    ERRORS,
    BatchReading,
    Health,
    ModelInfo,
    Reading,
    body_doc,
    file_schema,
    model_info,
)

WEB = Path(__file__).parent / "web"
MAX_BODY_BYTES = 2_000_000
SINGLE_BODY = {
    "multipart/form-data": file_schema("file", many=False),
    "application/json": {"schema": ImageJson.model_json_schema()},
    "image/*": {"schema": {"type": "string", "format": "binary"}},
}
BATCH_BODY = {
    "multipart/form-data": file_schema("files", many=True),
    "application/json": {"schema": BatchJson.model_json_schema()},
}


def create_app(model: str | Path | None = None, max_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The service for `model` (a run folder or .onnx; None: the shipped model)."""
    reader = Recognizer(model)
    batcher = Batcher(reader, MAX_BATCH)  # concurrent requests share one model run

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await batcher.stop()

    app = FastAPI(
        title="ctcocr",
        version=__version__,
        description="Read short text in images.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    _add_reading_routes(app, batcher)
    _add_info_routes(app, reader)
    return app


def _add_reading_routes(app: FastAPI, batcher: Batcher) -> None:
    async def read(request: Request, batch: bool) -> list[Reading]:
        named, options = await request_images(request, batch)
        if len(named) > MAX_BATCH:
            raise HTTPException(422, f"{len(named)} images: send at most {MAX_BATCH} at once")
        predictions = await batcher.read(named, options)
        return [Reading(**p.to_dict()) for p in predictions]  # type: ignore[arg-type]

    @app.post(
        "/v1/recognize",
        responses=ERRORS,
        openapi_extra=body_doc(SINGLE_BODY),
        response_model_exclude_none=True,
    )
    async def recognize(request: Request) -> Reading:
        """Read the text in one image."""
        return (await read(request, batch=False))[0]

    @app.post(
        "/v1/recognize/batch",
        responses=ERRORS,
        openapi_extra=body_doc(BATCH_BODY),
        response_model_exclude_none=True,
    )
    async def recognize_batch(request: Request) -> BatchReading:
        """Read the text in up to 64 images, in order, in one model run."""
        return BatchReading(results=await read(request, batch=True))


def _add_info_routes(app: FastAPI, reader: Recognizer) -> None:
    @app.get("/v1/model")
    def model() -> ModelInfo:
        """What the model reads (charset, input) and how it was made."""
        return model_info(reader)

    @app.get("/healthz")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    app.mount("/static", StaticFiles(directory=WEB), name="static")


def run_server(model: Path | None, host: str, port: int, max_bytes: int) -> None:
    import uvicorn

    app = create_app(model, max_bytes)
    print(f"ctcocr serving on http://{host}:{port}/ (API docs at /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
