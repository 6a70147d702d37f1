"""The page, end to end in a real headless Chromium: pick an image, see what the model read."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctcocr import Recognizer

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def page_model(tiny_onnx: Path) -> Path:
    """The shipped model, which reads real text; the tiny one before a model is shipped."""
    from ctcocr.runtime.shipped import DEFAULT, MODELS

    default = MODELS / f"{DEFAULT}.onnx"
    return default if default.is_file() else tiny_onnx


def _serve(app: object) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    app_server = uvicorn.Server(config)
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not app_server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(page_model: Path) -> Iterator[str]:
    from ctcocr.serve.app import create_app

    yield from _serve(create_app(page_model))


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory, tiny_onnx: Path) -> Path:
    """A folder of two models that read differently: the page's picker shows."""
    from ctcocr.runtime.shipped import DEFAULT, MODELS

    shipped_model = MODELS / f"{DEFAULT}.onnx"

    if not shipped_model.is_file():
        pytest.skip("no shipped model to serve beside the tiny one")
    folder = tmp_path_factory.mktemp("models")
    shutil.copyfile(shipped_model, folder / "shipped.onnx")
    shutil.copyfile(tiny_onnx, folder / "tiny.onnx")
    return folder


@pytest.fixture(scope="module")
def folder_server(two_models: Path) -> Iterator[str]:
    from ctcocr.serve.app import create_app

    yield from _serve(create_app(two_models))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ctcocr-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=900,700",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_picking_an_image_shows_its_text_and_confidences(server, browser, page_model, tiny_dataset):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = sorted((tiny_dataset / "images").glob("*.png"))[3]
    expected = Recognizer(page_model).predict(image)
    browser.get(server + "/")
    assert "ctcocr" in browser.title
    browser.find_element(By.ID, "file").send_keys(str(image))
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 30).until(lambda _: result.is_displayed())
    shown = browser.find_element(By.ID, "text").text
    confidence = browser.find_element(By.ID, "confidence").text
    chars = browser.find_elements(By.CSS_SELECTOR, "#chars .char")
    assert shown == (expected.text or "(nothing read)")
    assert confidence == f"{100 * expected.confidence:.1f}%"
    assert [c.text.split()[0] for c in chars] == list(expected.text)
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None
    assert not browser.find_element(By.ID, "picker").is_displayed()  # one model: no choice
    screenshot = os.environ.get("CTCOCR_SCREENSHOT")
    if screenshot:  # for a person to look at: CTCOCR_SCREENSHOT=page.png pytest -m browser
        browser.save_screenshot(screenshot)


def test_a_file_that_is_not_an_image_shows_an_error(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    fake = tmp_path / "notes.png"
    fake.write_bytes(b"not an image")
    browser.get(server + "/")
    browser.find_element(By.ID, "file").send_keys(str(fake))
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 30).until(lambda _: error.is_displayed())
    assert "not a readable image" in error.text


def test_the_picker_chooses_the_model_that_reads(folder_server, browser, two_models, tiny_dataset):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    image = sorted((tiny_dataset / "images").glob("*.png"))[5]
    readings = {
        name: Recognizer(two_models / f"{name}.onnx").predict(image).text or "(nothing read)"
        for name in ("shipped", "tiny")
    }
    assert readings["shipped"] != readings["tiny"]
    browser.get(folder_server + "/")
    picker = browser.find_element(By.ID, "picker")
    WebDriverWait(browser, 30).until(lambda _: picker.is_displayed())
    select = Select(browser.find_element(By.ID, "model-select"))
    assert [o.text for o in select.options] == ["shipped", "tiny"]
    select.select_by_value("tiny")
    browser.find_element(By.ID, "file").send_keys(str(image))
    text = browser.find_element(By.ID, "text")
    WebDriverWait(browser, 30).until(lambda _: text.text == readings["tiny"])
    assert "tiny.onnx" in browser.find_element(By.ID, "model").text
    select.select_by_value("shipped")  # the same image, read again by the other model
    WebDriverWait(browser, 30).until(lambda _: text.text == readings["shipped"])
    assert "shipped.onnx" in browser.find_element(By.ID, "model").text
