"""The HTTP service: FastAPI routes over one model or a folder of models, plus the page at `/`.

    POST /v1/recognize        one image: multipart field `file`, a raw image body, or
                              JSON {"image": "<base64>"}
    POST /v1/recognize/batch  several: multipart fields `files`, or JSON {"images": [...]}
                              Decoding options (ctcocr.decoding.decoder.DecodeOptions) come as JSON
                              "options": {"beam": 5, "length": [4, 6], ...}, or as query
                              parameters ?beam=5&length=4-6&allowed=...&pattern=...
    POST /v1/models/{name}/recognize, /v1/models/{name}/recognize/batch
                              the same, read by the model served as `name`
    GET  /v1/models           every model served: name, charset, input size, or why it is refused
    GET  /v1/models/{name}    one of them
    GET  /v1/model            the default model: what it reads and how it was made
    GET  /healthz             liveness
    GET  /                    the page (web/index.html; its assets under /static)

The routes without a name read with the default model: the only one, or `default`; with several
and no default they answer 409 with the names. A folder's models are reloaded when their files
change (models.py). Each model is opened once; concurrent requests share its runs (batching.py).
A bad request gets a JSON `{"detail": ...}` and a 4xx,
never a 500: a body over `max_bytes` 413, an image over images.MAX_PIXELS 413, bytes in no
image format 415, a truncated image or a malformed request 422, an unknown model 404.
Image checks are those of ctcocr.data.images; the error's type picks the status.

>>> uvicorn.run(create_app("models/", default="captcha"), host="127.0.0.1", port=8000)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from ctcocr.core.version import __version__
from ctcocr.serve.models import ModelSet, Served
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
    ModelEntry,
    ModelInfo,
    ModelList,
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
NAMED_ERRORS = {**ERRORS, 404: {"description": "no model of that name (the names are listed)"}}
DEFAULT_ERRORS = {**ERRORS, 409: {"description": "several models and no default: name one"}}


def create_app(
    model: str | Path | None = None,
    max_bytes: int = MAX_BODY_BYTES,
    default: str | None = None,
    reload_interval: float = 1.0,
) -> FastAPI:
    """The service for `model`: a run folder or .onnx (None: the shipped model), or a folder
    of them, each served under its name, `default` for the routes without a name, and
    reloaded when its files change (looked at every `reload_interval` seconds at most)."""
    models = ModelSet.open(model, default, reload_interval, MAX_BATCH)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await models.stop()

    app = FastAPI(
        title="ctcocr",
        version=__version__,
        description="Read short text in images.",
        lifespan=lifespan,
    )
    app.state.models = models
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    _add_reading_routes(app, models)
    _add_model_routes(app, models)
    _add_page_routes(app)
    return app


Pick = Callable[[], Awaitable[Served]]


async def _read(request: Request, pick: Pick, batch: bool) -> list[Reading]:
    served = await pick()  # before the body: an unknown model is a 404 whatever was sent
    named, options = await request_images(request, batch)
    if len(named) > MAX_BATCH:
        raise HTTPException(422, f"{len(named)} images: send at most {MAX_BATCH} at once")
    # The model picked above answers even if a reload replaces it meanwhile.
    predictions = await served.batcher.read(named, options)
    return [Reading(**p.to_dict()) for p in predictions]  # type: ignore[arg-type]


def _add_reading_routes(app: FastAPI, models: ModelSet) -> None:
    one, many = body_doc(SINGLE_BODY), body_doc(BATCH_BODY)

    @app.post(
        "/v1/recognize",
        responses=DEFAULT_ERRORS,
        openapi_extra=one,
        response_model_exclude_none=True,
    )
    async def recognize(request: Request) -> Reading:
        """Read the text in one image with the default model."""
        return (await _read(request, models.get_default, batch=False))[0]

    @app.post(
        "/v1/recognize/batch",
        responses=DEFAULT_ERRORS,
        openapi_extra=many,
        response_model_exclude_none=True,
    )
    async def recognize_batch(request: Request) -> BatchReading:
        """Read the text in up to 64 images, in order, in one model run."""
        return BatchReading(results=await _read(request, models.get_default, batch=True))

    @app.post(
        "/v1/models/{name}/recognize",
        responses=NAMED_ERRORS,
        openapi_extra=one,
        response_model_exclude_none=True,
    )
    async def recognize_with(name: str, request: Request) -> Reading:
        """Read the text in one image with the model served as `name`."""
        return (await _read(request, lambda: models.get(name), batch=False))[0]

    @app.post(
        "/v1/models/{name}/recognize/batch",
        responses=NAMED_ERRORS,
        openapi_extra=many,
        response_model_exclude_none=True,
    )
    async def recognize_batch_with(name: str, request: Request) -> BatchReading:
        """Read up to 64 images, in order, with the model served as `name`."""
        return BatchReading(results=await _read(request, lambda: models.get(name), batch=True))


def _add_model_routes(app: FastAPI, models: ModelSet) -> None:
    @app.get("/v1/models")
    def list_models() -> ModelList:
        """Every model served, by name (charset, input size, architecture, version), and the
        names whose latest file was refused, with why."""
        models.check()
        served, problems = models.models, models.problems()
        entries = [
            ModelEntry(
                name=name,
                info=model_info(served[name].reader) if name in served else None,
                error=problems.get(name),
            )
            for name in sorted(set(served) | set(problems))
        ]
        return ModelList(default=models.default, models=entries)

    @app.get("/v1/models/{name}", responses={404: NAMED_ERRORS[404]})
    async def one_model(name: str) -> ModelInfo:
        """What the model served as `name` reads, and how it was made."""
        return model_info((await models.get(name)).reader)

    @app.get("/v1/model", responses={409: DEFAULT_ERRORS[409]})
    async def model() -> ModelInfo:
        """What the default model reads (charset, input) and how it was made."""
        return model_info((await models.get_default()).reader)


def _add_page_routes(app: FastAPI) -> None:
    @app.get("/healthz")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    app.mount("/static", StaticFiles(directory=WEB), name="static")
