"""Fuzzing the HTTP service: whatever the body, content type, JSON or query, never a 5xx.

Random bytes, damaged real PNGs, random JSON (nested, wrong types, odd decoding options),
multipart bodies with random parts, random content types and query strings go to every
reading route, with the tiny model. A 2xx or a 4xx with a JSON `detail` is fine; a 5xx, or a
reply that is not JSON, is a bug. Kept fast: a few hundred requests, no deadline.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ctcocr.data.synth import png_samples
from ctcocr.serve.app import create_app

FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,  # no .hypothesis folder in the checkout
    suppress_health_check=[HealthCheck.too_slow],
)
PNG = png_samples(1, seed=5)[0]
ROUTES = (
    "/v1/recognize",
    "/v1/recognize/batch",
    "/v1/models/tiny/recognize",
    "/v1/models/tiny/recognize/batch",
    "/v1/models/nothing/recognize",
)
OPTION_NAMES = ("beam", "allowed", "length", "pattern", "lexicon", "min_confidence", "answer")
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-16",
        "image/png",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=xyz",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
    ]
) | HEADER_TEXT.map(lambda text: text.strip())

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@st.composite
def damaged_png(draw: st.DrawFn) -> bytes:
    """The real PNG, cut short and with a few bytes changed."""
    data = bytearray(PNG[: draw(st.integers(0, len(PNG)))])
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


image_bytes = st.binary(max_size=600) | damaged_png() | st.just(PNG)
image_texts = (
    image_bytes.map(lambda data: base64.b64encode(data).decode())
    | image_bytes.map(lambda data: "data:image/png;base64," + base64.b64encode(data).decode())
    | st.text(max_size=40)
)
options = st.dictionaries(
    st.sampled_from(OPTION_NAMES) | st.text(max_size=8), json_values, max_size=4
)
json_bodies = (
    st.fixed_dictionaries({"image": image_texts}, optional={"options": options | json_values})
    | st.fixed_dictionaries(
        {"images": st.lists(image_texts, max_size=4)}, optional={"options": options | json_values}
    )
    | json_values
)
queries = st.dictionaries(
    st.sampled_from(OPTION_NAMES) | st.text(max_size=8), HEADER_TEXT, max_size=3
)


@pytest.fixture(scope="module")
def client(tiny_onnx: Path) -> TestClient:
    return TestClient(create_app(tiny_onnx, max_bytes=50_000), raise_server_exceptions=False)


def assert_answered(response) -> None:
    assert response.status_code < 500, response.text
    body = response.json()  # every answer, error or not, is JSON
    if response.status_code >= 400:
        assert isinstance(body["detail"], str | list) and body["detail"]


@FUZZ
@given(route=st.sampled_from(ROUTES), kind=CONTENT_TYPES, body=image_bytes, query=queries)
@example(route="/v1/recognize", kind="application/json", body=b"[" * 20_000, query={})
def test_any_bytes_with_any_content_type(client, route, kind, body, query):
    headers = {"content-type": kind} if kind else {}
    assert_answered(client.post(route, content=body, headers=headers, params=query))


@FUZZ
@given(route=st.sampled_from(ROUTES), body=json_bodies, query=queries)
@example(route="/v1/recognize", body={"image": "", "options": {"beam": 10**30}}, query={})
@example(route="/v1/recognize/batch", body={"images": [], "options": []}, query={})
def test_any_json(client, route, body, query):
    text = json.dumps(body, allow_nan=True)
    headers = {"content-type": "application/json"}
    assert_answered(client.post(route, content=text, headers=headers, params=query))


@FUZZ
@given(
    route=st.sampled_from(ROUTES),
    parts=st.lists(
        st.tuples(
            st.sampled_from(["file", "files", "image", ""]) | st.text(max_size=5), image_bytes
        ),
        max_size=4,
    ),
    fields=st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=2),
    query=queries,
)
def test_any_multipart(client, route, parts, fields, query):
    files = [(name, (f"{i}.png", data, "image/png")) for i, (name, data) in enumerate(parts)]
    response = client.post(route, files=files or None, data=fields or None, params=query)
    assert_answered(response)
