"""Several models behind one service: each under its name, reloaded when its file changes,
a broken file refused while the old model keeps serving, and bad folders refused at start."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ctcocr import Recognizer
from ctcocr.core.errors import ConfigError, ModelFileError
from ctcocr.data.synth import png_samples
from ctcocr.serve.app import create_app


@pytest.fixture(scope="module")
def shipped_onnx() -> Path:
    """The shipped model: it reads what the tiny one does not, so a swap shows."""
    path = Recognizer("captcha").path
    if path.suffix != ".onnx":
        pytest.skip("the shipped model is not an .onnx file in this install")
    return path


@pytest.fixture(scope="module")
def png(tiny_onnx: Path, shipped_onnx: Path) -> bytes:
    """A CAPTCHA the two models read differently."""
    tiny, shipped = Recognizer(tiny_onnx), Recognizer(shipped_onnx)
    for data in png_samples(20, seed=77):
        if tiny.predict(data).text != shipped.predict(data).text:
            return data
    raise AssertionError("the tiny and the shipped model read 20 CAPTCHAs alike")


@pytest.fixture
def folder(tmp_path: Path, tiny_onnx: Path, shipped_onnx: Path, tiny_run: Path) -> Path:
    """small.onnx, shipped.onnx and the run folder run/, among things that are not models."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(tiny_onnx, models / "small.onnx")
    shutil.copyfile(shipped_onnx, models / "shipped.onnx")
    shutil.copytree(tiny_run, models / "run")
    (models / "notes.txt").write_text("not a model")
    (models / "other").mkdir()  # a folder with no run in it
    shutil.copyfile(tiny_onnx, models / ".small.1234.onnx")  # a write_atomic temporary
    return models


def read_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["text"]


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the service did not see the change"
        time.sleep(0.05)


def replace(source: Path, target: Path) -> None:
    """What a deployer does: copy beside, then rename over (atomic)."""
    temporary = target.with_name(f".{target.name}.new")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def test_a_folder_serves_each_model_under_its_name(folder, png, tiny_onnx, shipped_onnx, tiny_run):
    client = TestClient(create_app(folder))
    listing = client.get("/v1/models").json()
    assert listing["default"] is None
    assert [m["name"] for m in listing["models"]] == ["run", "shipped", "small"]
    for entry, source in zip(listing["models"], (tiny_run, shipped_onnx, tiny_onnx), strict=True):
        reader = Recognizer(source)
        assert entry["error"] is None
        assert entry["info"]["charset"] == reader.charset
        assert entry["info"]["input_width"] == reader.spec.preprocess.width
        assert entry["info"]["input_height"] == reader.spec.preprocess.height
        assert entry["info"]["architecture"] == reader.spec.model.architecture
        assert entry["info"]["ctcocr_version"] == reader.spec.version
    for name, source in (("shipped", shipped_onnx), ("small", tiny_onnx), ("run", tiny_run)):
        expected = Recognizer(source).predict(png).to_dict()
        one = client.post(f"/v1/models/{name}/recognize", content=png)
        assert one.status_code == 200 and one.json() == expected
        files = [("files", ("a.png", png, "image/png"))] * 2
        batch = client.post(f"/v1/models/{name}/recognize/batch", files=files)
        assert [r["text"] for r in batch.json()["results"]] == [expected["text"]] * 2
    assert client.get("/v1/models/shipped").json()["model"] == "shipped.onnx"


def test_several_models_and_no_default_the_plain_routes_name_them(folder, png):
    client = TestClient(create_app(folder))
    for response in (client.post("/v1/recognize", content=png), client.get("/v1/model")):
        assert response.status_code == 409
        assert "run, shipped, small" in response.json()["detail"]
        assert "--default" in response.json()["detail"]


def test_the_default_model_answers_the_plain_routes(folder, png, shipped_onnx, tiny_onnx):
    client = TestClient(create_app(folder, default="shipped"))
    assert read_text(client.post("/v1/recognize", content=png)) == (
        Recognizer(shipped_onnx).predict(png).text
    )
    assert client.get("/v1/model").json()["model"] == "shipped.onnx"
    assert client.get("/v1/models").json()["default"] == "shipped"
    alone = folder.parent / "alone"
    alone.mkdir()
    shutil.copyfile(tiny_onnx, alone / "only.onnx")
    only = TestClient(create_app(alone))  # the only model is the default
    assert (
        read_text(only.post("/v1/recognize", content=png))
        == Recognizer(tiny_onnx).predict(png).text
    )


def test_an_unknown_model_is_404_naming_the_models(folder, png):
    client = TestClient(create_app(folder))
    for response in (
        client.post("/v1/models/nothing/recognize", content=png),
        client.post("/v1/models/nothing/recognize/batch", json={"images": []}),
        client.get("/v1/models/nothing"),
    ):
        assert response.status_code == 404
        assert "'nothing'" in response.json()["detail"]
        assert "'run', 'shipped', 'small'" in response.json()["detail"]


def test_bad_folders_are_refused_at_start(tmp_path, tiny_onnx, tiny_run):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no models here")
    with pytest.raises(ModelFileError, match="no models in this folder"):
        create_app(empty)
    clash = tmp_path / "clash"
    clash.mkdir()
    shutil.copytree(tiny_run, clash / "a")
    shutil.copyfile(tiny_onnx, clash / "a.onnx")
    with pytest.raises(ModelFileError, match="two models are named 'a'") as caught:
        create_app(clash)
    assert str(clash / "a") in str(caught.value) and str(clash / "a.onnx") in str(caught.value)
    with pytest.raises(ConfigError, match=r"no model of that name .* \(there are: m\)"):
        create_app(_one_model(tmp_path, tiny_onnx), default="x")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelFileError, match=r"bad\.onnx"):
        create_app(broken)


def test_a_model_that_does_not_open_at_start_is_listed_with_why(tmp_path, tiny_onnx, png):
    folder = _one_model(tmp_path, tiny_onnx)
    (folder / "bad.onnx").write_bytes(b"not an onnx model")
    client = TestClient(create_app(folder, default="m"))
    listing = client.get("/v1/models").json()["models"]
    assert [(m["name"], m["info"] is None) for m in listing] == [("bad", True), ("m", False)]
    assert "bad.onnx" in listing[0]["error"] and "export it again" in listing[0]["error"]
    refused = client.post("/v1/models/bad/recognize", content=png)
    assert refused.status_code == 404 and "bad.onnx" in refused.json()["detail"]
    assert client.post("/v1/recognize", content=png).status_code == 200
    with pytest.raises(ModelFileError, match=r"bad\.onnx"):
        create_app(folder, default="bad")


def _one_model(tmp_path: Path, model: Path) -> Path:
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copyfile(model, folder / "m.onnx")
    return folder


def test_bad_folders_are_one_line_from_the_command(cli, tmp_path, tiny_onnx):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("serve", empty, "--port", "0")
    assert result.code != 0
    assert "no models in this folder" in result.err and "Traceback" not in result.err
    assert "serving on" not in result.out


def test_a_port_in_use_is_one_clear_line(cli, tiny_onnx):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", tiny_onnx, "--port", port)
    assert result.code != 0
    assert result.out == ""  # nothing claims to serve
    assert f"127.0.0.1:{port}" in result.err and "--port" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_swapping_a_model_under_load_drops_no_request(tmp_path, tiny_onnx, shipped_onnx, png):
    folder = _one_model(tmp_path, tiny_onnx)
    app = create_app(folder, reload_interval=0.02)
    old, new = (Recognizer(m).predict(png).text for m in (tiny_onnx, shipped_onnx))
    outcomes: Counter[int | str] = Counter()
    texts: list[str] = []

    async def until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def load() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            stop = asyncio.Event()

            async def one_client() -> None:
                while not stop.is_set():
                    try:
                        response = await asyncio.wait_for(
                            client.post("/v1/models/m/recognize", content=png), 10
                        )
                    except TimeoutError:
                        outcomes["no answer in 10 s"] += 1
                        continue
                    outcomes[response.status_code] += 1
                    if response.status_code == 200:
                        texts.append(response.json()["text"])

            clients = [asyncio.create_task(one_client()) for _ in range(16)]
            await until(lambda: len(texts) >= 100)  # under load before the swap
            await asyncio.to_thread(replace, shipped_onnx, folder / "m.onnx")
            swapped_at = len(texts)
            await until(lambda: texts.count(new) >= 100)
            stop.set()
            await asyncio.gather(*clients)
            assert texts[:swapped_at] == [old] * swapped_at

    asyncio.run(load())
    assert set(outcomes) == {200}, outcomes  # 0 failed requests
    assert texts.count(new) >= 100 and texts[-16:] == [new] * 16  # the new model answers


def test_a_broken_file_is_refused_and_the_old_model_keeps_serving(
    tmp_path, tiny_onnx, shipped_onnx, png, caplog
):
    folder = _one_model(tmp_path, tiny_onnx)
    client = TestClient(create_app(folder, reload_interval=0.01))
    old = read_text(client.post("/v1/models/m/recognize", content=png))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 half a model")
    with caplog.at_level(logging.WARNING, logger="ctcocr.serve"):
        replace(broken, folder / "m.onnx")
        wait_for(lambda: client.get("/v1/models").json()["models"][0]["error"] is not None)
    entry = client.get("/v1/models").json()["models"][0]
    assert "m.onnx" in entry["error"] and entry["info"]["model"] == "m.onnx"
    assert any(
        "refused model 'm'" in r.message and "keeps serving" in r.message for r in caplog.records
    )
    assert read_text(client.post("/v1/models/m/recognize", content=png)) == old
    assert read_text(client.post("/v1/recognize", content=png)) == old  # still the default
    replace(shipped_onnx, folder / "m.onnx")  # a good file again: served, the error gone
    new = Recognizer(shipped_onnx).predict(png).text
    wait_for(lambda: read_text(client.post("/v1/models/m/recognize", content=png)) == new)
    assert client.get("/v1/models").json()["models"][0]["error"] is None


def test_new_models_come_and_removed_ones_go(tmp_path, tiny_onnx, shipped_onnx, tiny_run, png):
    folder = _one_model(tmp_path, tiny_onnx)
    client = TestClient(create_app(folder, reload_interval=0.01))
    replace(shipped_onnx, folder / "extra.onnx")
    # a name not served yet is looked for at once: the first request finds it
    expected = Recognizer(shipped_onnx).predict(png).text
    assert read_text(client.post("/v1/models/extra/recognize", content=png)) == expected
    shutil.copytree(tiny_run, folder / "extra")  # a second "extra": refused, the first stays
    wait_for(lambda: "two models" in str(client.get("/v1/models").json()))
    entry = next(m for m in client.get("/v1/models").json()["models"] if m["name"] == "extra")
    assert str(folder / "extra.onnx") in entry["error"] and entry["info"]["model"] == "extra.onnx"
    assert read_text(client.post("/v1/models/extra/recognize", content=png)) == expected
    (folder / "extra.onnx").unlink()
    shutil.rmtree(folder / "extra")
    wait_for(lambda: client.post("/v1/models/extra/recognize", content=png).status_code == 404)
    gone = client.post("/v1/models/extra/recognize", content=png)
    assert "'m'" in gone.json()["detail"]
    assert [m["name"] for m in client.get("/v1/models").json()["models"]] == ["m"]
    assert (
        read_text(client.post("/v1/recognize", content=png))
        == Recognizer(tiny_onnx).predict(png).text
    )
