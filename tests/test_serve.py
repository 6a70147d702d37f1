"""The HTTP service, through FastAPI's test client: every route, and every bad request."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ctcocr import Recognizer
from ctcocr.data.images import MAX_PIXELS
from ctcocr.runtime.shipped import DEFAULT, MODELS
from ctcocr.serve.app import MAX_BATCH, create_app

LIMIT = 200_000


@pytest.fixture(scope="module")
def client(tiny_onnx: Path) -> TestClient:
    return TestClient(create_app(tiny_onnx, max_bytes=LIMIT))


@pytest.fixture(scope="module")
def reader(tiny_onnx: Path) -> Recognizer:
    return Recognizer(tiny_onnx)


def _png(dataset: Path, index: int = 0) -> bytes:
    return sorted((dataset / "images").glob("*.png"))[index].read_bytes()


def _expected(reader: Recognizer, data: bytes) -> dict:
    return reader.predict(data).to_dict()


def test_recognize_multipart_file(client, reader, tiny_dataset):
    data = _png(tiny_dataset)
    response = client.post("/v1/recognize", files={"file": ("a.png", data, "image/png")})
    assert response.status_code == 200
    assert response.json() == _expected(reader, data)


def test_recognize_raw_body(client, reader, tiny_dataset):
    data = _png(tiny_dataset, 1)
    response = client.post("/v1/recognize", content=data, headers={"content-type": "image/png"})
    assert response.status_code == 200
    assert response.json()["text"] == _expected(reader, data)["text"]


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
def test_recognize_json_base64(client, reader, tiny_dataset, prefix):
    data = _png(tiny_dataset, 2)
    body = {"image": prefix + base64.b64encode(data).decode()}
    response = client.post("/v1/recognize", json=body)
    assert response.status_code == 200
    assert response.json() == _expected(reader, data)


def test_recognize_batch_multipart_and_json_keep_order(client, reader, tiny_dataset):
    images = [_png(tiny_dataset, i) for i in range(5)]
    expected = [_expected(reader, data)["text"] for data in images]
    files = [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
    response = client.post("/v1/recognize/batch", files=files)
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == expected
    body = {"images": [base64.b64encode(data).decode() for data in images]}
    response = client.post("/v1/recognize/batch", json=body)
    assert [r["text"] for r in response.json()["results"]] == expected


def test_model_route_describes_the_model(client, tiny_onnx, reader):
    info = client.get("/v1/model").json()
    assert info["model"] == tiny_onnx.name
    assert info["charset"] == reader.charset
    assert (info["input_width"], info["input_height"], info["channels"]) == (128, 64, 1)
    assert info["blank_index"] == 0 and info["architecture"] == "crnn"
    assert info["metadata"]["quantization"] == "none"
    assert "ctcocr.run_spec" not in info["metadata"]


def test_one_model_is_also_listed_and_served_by_name(client, reader, tiny_dataset):
    listing = client.get("/v1/models").json()
    assert listing["default"] == "tiny"
    assert [(m["name"], m["info"]["charset"], m["error"]) for m in listing["models"]] == [
        ("tiny", reader.charset, None)
    ]
    data = _png(tiny_dataset, 4)
    response = client.post("/v1/models/tiny/recognize", content=data)
    assert response.json() == _expected(reader, data)
    missing = client.post("/v1/models/other/recognize", content=data)
    _assert_error(missing, 404, "'other'", "'tiny'")


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    schema = client.get("/openapi.json").json()
    assert {"/v1/recognize", "/v1/recognize/batch", "/v1/model", "/healthz"} <= set(schema["paths"])
    assert {
        "/v1/models",
        "/v1/models/{name}/recognize",
        "/v1/models/{name}/recognize/batch",
    } <= set(schema["paths"])
    content = schema["paths"]["/v1/recognize"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/*"} <= set(content)
    assert client.get("/docs").status_code == 200


def test_page_and_its_assets_come_from_the_app(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text
        assert client.get(asset).status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN


def _assert_error(response, status: int, *needles: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for needle in needles:
        assert needle in str(detail)


def test_body_over_the_limit_is_413(client):
    big = b"\x89PNG" + bytes(LIMIT)
    response = client.post("/v1/recognize", content=big, headers={"content-type": "image/png"})
    _assert_error(response, 413, "limit")


def test_body_over_the_limit_without_content_length_is_413(client):
    def chunks():
        for _ in range(LIMIT // 10_000 + 2):
            yield bytes(10_000)

    response = client.post("/v1/recognize", content=chunks())
    _assert_error(response, 413, "limit")


def test_not_an_image_is_415(client):
    response = client.post("/v1/recognize", files={"file": ("a.txt", b"hello", "text/plain")})
    _assert_error(response, 415, "not a readable image")


def test_truncated_image_is_422(client, tiny_dataset):
    data = _png(tiny_dataset)
    response = client.post("/v1/recognize", content=data[: len(data) // 2])
    _assert_error(response, 422, "not a readable image")


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims width x height pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


def test_too_many_pixels_is_413(client):
    side = int(MAX_PIXELS**0.5) + 10
    response = client.post("/v1/recognize", content=_png_header_only(side, side))
    _assert_error(response, 413, "pixels")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"image": "@@not base64@@"}, "base64"),
        ({"picture": "AAAA"}, "image"),
        ([1, 2], "image"),
    ],
)
def test_bad_json_is_422(client, body, needle):
    _assert_error(client.post("/v1/recognize", json=body), 422, needle)


def test_deeply_nested_json_is_422_not_500(client):
    deep = b"[" * 200_000  # json.loads recurses once per bracket
    for route in ("/v1/recognize", "/v1/recognize/batch"):
        response = client.post(route, content=deep, headers={"content-type": "application/json"})
        _assert_error(response, 422, "nested too deeply")


def test_malformed_json_and_empty_bodies_are_422(client):
    bad = client.post("/v1/recognize", content=b"{", headers={"content-type": "application/json"})
    _assert_error(bad, 422, "JSON")
    _assert_error(client.post("/v1/recognize"), 422, "empty body")
    wrong_field = client.post("/v1/recognize", files={"image": ("a.png", b"x", "image/png")})
    _assert_error(wrong_field, 422, "'file'")


def test_batch_errors_name_the_image_and_limit_the_count(client, tiny_dataset):
    good = base64.b64encode(_png(tiny_dataset)).decode()
    bad = base64.b64encode(b"not an image").decode()
    _assert_error(
        client.post("/v1/recognize/batch", json={"images": [good, bad]}), 415, "images[1]"
    )
    tiny = io.BytesIO()
    Image.new("L", (8, 8)).save(tiny, "PNG")
    many = [base64.b64encode(tiny.getvalue()).decode()] * (MAX_BATCH + 1)
    _assert_error(client.post("/v1/recognize/batch", json={"images": many}), 422, "at most")
    raw = client.post("/v1/recognize/batch", content=b"x", headers={"content-type": "image/png"})
    _assert_error(raw, 422, "files")


def test_unknown_route_and_method_are_json_errors(client):
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/recognize").status_code == 405
    assert "detail" in client.get("/v1/recognize").json()


@pytest.mark.skipif(not (MODELS / f"{DEFAULT}.onnx").is_file(), reason="no shipped model yet")
def test_serve_without_a_model_uses_the_shipped_one():
    info = TestClient(create_app()).get("/v1/model").json()
    assert info["model"] == f"{DEFAULT}.onnx"


def test_load_image_error_types_pick_the_status(tiny_dataset):
    from ctcocr.core.errors import ImageError, ImageTooLargeError, NotAnImageError
    from ctcocr.data.images import load_image
    from ctcocr.serve.request_images import status_of

    side = int(MAX_PIXELS**0.5) + 10
    cases = [
        (_png_header_only(side, side), ImageTooLargeError, 413),
        (b"hello", NotAnImageError, 415),
        (_png(tiny_dataset)[:300], ImageError, 422),
    ]
    for data, kind, status in cases:
        with pytest.raises(kind) as caught:
            load_image(data, "upload")
        assert "upload" in str(caught.value)
        assert status_of(caught.value) == status


def test_decoding_options_as_json_and_query(client, reader, tiny_dataset):
    from ctcocr.decoding.decoder import DecodeOptions

    data = _png(tiny_dataset, 3)
    options = DecodeOptions(beam=4, length=(2, 3))
    expected = reader.predict(data, options).to_dict()
    body = {"image": base64.b64encode(data).decode(), "options": {"beam": 4, "length": [2, 3]}}
    by_json = client.post("/v1/recognize", json=body)
    assert by_json.status_code == 200
    assert by_json.json() == expected
    assert 2 <= len(by_json.json()["text"]) <= 3
    assert by_json.json()["candidates"]
    by_query = client.post(
        "/v1/recognize?beam=4&length=2-3", files={"file": ("a.png", data, "image/png")}
    )
    assert by_query.json() == expected


def test_an_arithmetic_answer_comes_back(client, tiny_dataset):
    response = client.post("/v1/recognize?answer=arithmetic", content=_png(tiny_dataset))
    assert response.status_code == 200
    assert response.json().get("answer") or response.json().get("answer_error")


@pytest.mark.parametrize(
    "query",
    ["?beam=zero", "?length=6-4", "?colour=red", "?allowed=%C3%A9"],
)
def test_bad_decoding_options_are_422(client, tiny_dataset, query):
    data = _png(tiny_dataset)
    response = client.post(f"/v1/recognize{query}", content=data)
    assert response.status_code == 422
    assert "decoding options" in response.json()["detail"] or "query" in response.json()["detail"]


def test_the_bound_port_answers_without_a_delayed_ack_wait(tiny_onnx, tiny_dataset):
    """`ctcocr serve` binds its own socket (to fail clearly on a port in use); answers on it
    must not wait ~40 ms for the client's delayed ACK, as they did on a socket not marked TCP."""
    import statistics
    import threading
    import time

    import httpx
    import uvicorn

    from ctcocr.serve.server import bind

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tiny_onnx), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        data = _png(tiny_dataset)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            latencies = []
            for _ in range(20):
                start = time.perf_counter()
                assert http.post("/v1/recognize", content=data).status_code == 200
                latencies.append(time.perf_counter() - start)
        assert statistics.median(latencies) < 0.025, latencies
    finally:
        server.should_exit = True
        thread.join(timeout=10)
