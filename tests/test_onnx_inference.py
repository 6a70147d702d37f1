"""Recognizer on an exported .onnx file: torch-free, same answers as the run it came from."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ctcocr import Recognizer
from ctcocr.core.charset import GENERAL_CHARSET
from ctcocr.core.errors import ImageError, ModelFileError
from ctcocr.runtime.shipped import DEFAULT, MODELS


def _images(dataset: Path) -> list[Path]:
    return sorted((dataset / "images").glob("*.png"))


def test_onnx_recognizer_reads_like_the_torch_recognizer(tiny_run, tiny_onnx, tiny_dataset):
    images = _images(tiny_dataset)
    from_torch = Recognizer(tiny_run).predict_batch(images)
    from_onnx = Recognizer(tiny_onnx).predict_batch(images, batch_size=16)
    assert [p.text for p in from_onnx] == [p.text for p in from_torch]
    assert np.allclose([p.confidence for p in from_onnx], [p.confidence for p in from_torch])


def test_onnx_recognizer_takes_every_input_kind(tiny_onnx, tiny_dataset):
    from PIL import Image

    path = _images(tiny_dataset)[0]
    reader = Recognizer(tiny_onnx)
    expected = reader.predict(path)
    pil = Image.open(path)
    for image in (str(path), path.read_bytes(), pil, np.asarray(pil)):
        assert reader.predict(image) == expected
    assert reader.predict_batch([]) == []


def test_onnx_recognizer_is_thread_safe(tiny_onnx, tiny_dataset):
    images = _images(tiny_dataset)
    reader = Recognizer(tiny_onnx)
    expected = [reader.predict(image) for image in images]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(reader.predict, images))
    assert found == expected


def test_batches_read_chunk_by_chunk_as_one_at_a_time(tiny_onnx, tiny_dataset, tmp_path):
    images = _images(tiny_dataset)[:7]
    reader = Recognizer(tiny_onnx)
    expected = [reader.predict(image) for image in images]
    assert reader.predict_batch(images, batch_size=3) == expected  # 3 chunks
    assert np.array_equal(reader.logits(images, batch_size=2), reader.logits(images))
    assert reader.predict_batch([], batch_size=3) == []
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ImageError, match=r"broken\.png"):  # in the third chunk
        reader.predict_batch([*images[:6], broken], batch_size=3)
    with pytest.raises(ValueError, match="batch_size=0"):
        reader.predict_batch(images, batch_size=0)


BLOCKED_TORCH = """
import json, sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
from ctcocr import Recognizer
reader = Recognizer(sys.argv[1])
predictions = reader.predict_batch(sys.argv[2:])
assert "torch" not in sys.modules or sys.modules["torch"] is None
print(json.dumps([p.to_dict() for p in predictions]))
"""


def test_inference_works_with_torch_blocked_from_import(tiny_run, tiny_onnx, tiny_dataset):
    images = [str(p) for p in _images(tiny_dataset)[:12]]
    src = Path(__file__).parents[1] / "src"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BLOCKED_TORCH), str(tiny_onnx), *images],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    texts = [row["text"] for row in json.loads(done.stdout)]
    assert texts == [p.text for p in Recognizer(tiny_run).predict_batch(images)]


def test_a_run_folder_needs_torch_and_says_so_when_blocked(tiny_run):
    code = "import sys; sys.modules['torch'] = None\nfrom ctcocr import Recognizer\n"
    code += f"Recognizer({str(tiny_run)!r})"
    src = Path(__file__).parents[1] / "src"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and "torch" in done.stderr


def test_predict_and_evaluate_accept_an_onnx_file(cli, tiny_run, tiny_onnx, tiny_dataset):
    images = _images(tiny_dataset)[:5]
    from_onnx = cli("predict", tiny_onnx, *images, "--json")
    from_run = cli("predict", tiny_run, *images, "--json")
    assert from_onnx.code == 0, from_onnx.err
    assert [r["text"] for r in json.loads(from_onnx.out)] == [
        r["text"] for r in json.loads(from_run.out)
    ]
    scores = cli("evaluate", tiny_onnx, tiny_dataset, "--json")
    assert scores.code == 0, scores.err
    assert json.loads(scores.out)["count"] == 48


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="ctcocr export"):
        Recognizer(fake)


def test_an_onnx_file_without_ctcocr_metadata_is_refused(tiny_onnx, tmp_path):
    import onnx

    model = onnx.load(str(tiny_onnx))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(ModelFileError, match="without ctcocr metadata"):
        Recognizer(bare)


def shipping(name: str) -> pytest.MarkDecorator:
    path = MODELS / f"{name}.onnx"
    return pytest.mark.skipif(not path.is_file(), reason=f"no shipped {name} model yet")


shipped = shipping(DEFAULT)


@shipping("general")
def test_the_general_model_is_small_and_reads_every_style_s_characters():
    assert (MODELS / "general.onnx").stat().st_size <= 5_000_000
    reader = Recognizer("general")
    assert reader.charset == GENERAL_CHARSET
    assert (reader.spec.preprocess.width, reader.spec.preprocess.height) == (160, 48)
    assert Recognizer(MODELS / "general").charset == GENERAL_CHARSET  # its run, for --init


@shipping("general-fast")
def test_the_fast_general_model_reads_what_the_general_one_reads_with_fewer_layers():
    fast, general = Recognizer("general-fast"), Recognizer("general")
    assert fast.charset == general.charset == GENERAL_CHARSET
    assert fast.spec.preprocess == general.spec.preprocess
    assert fast.spec.model.depths == (1, 1, 1, 1) and general.spec.model.depths == (1, 1, 2, 2)
    assert (MODELS / "general-fast.onnx").stat().st_size < (MODELS / "general.onnx").stat().st_size
    from ctcocr.data.synth import png_samples

    run = Recognizer(MODELS / "general-fast")  # its run, for --init general-fast
    assert run.spec.model == fast.spec.model
    images = png_samples(8, 3)
    assert [p.text for p in fast.predict_batch(images)] == [
        p.text for p in run.predict_batch(images)
    ]


@shipping("captcha")
def test_the_default_style_model_is_small_and_describes_itself():
    assert (MODELS / "captcha.onnx").stat().st_size <= 2_000_000
    reader = Recognizer("captcha")
    assert reader.spec.preprocess.width == 128 and reader.spec.preprocess.height == 64
    assert reader.charset == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert reader.metadata["quantization"] in ("none", "fp16", "static", "dynamic")


@shipped
def test_predict_without_a_model_uses_the_shipped_one(cli, tiny_dataset):
    image = _images(tiny_dataset)[0]
    result = cli("predict", image, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)[0]["text"] == Recognizer().predict(image).text


def test_predict_with_only_a_model_asks_for_images(cli, tiny_onnx):
    result = cli("predict", tiny_onnx)
    assert result.code == 2 and "name the images" in result.err


@shipping("captcha")
def test_shipped_model_reads_fresh_default_captchas():
    from ctcocr.data.synth import CaptchaSynth, SynthConfig

    synth = CaptchaSynth(SynthConfig(), seed=2024)
    samples = [synth.sample(i) for i in range(40)]
    predictions = Recognizer("captcha").predict_batch([image for image, _ in samples])
    correct = sum(p.text == label for p, (_, label) in zip(predictions, samples, strict=True))
    assert correct >= 30  # the shipped model reads about 94% (README); 0 and O are ambiguous


def test_ctcocr_metadata_that_is_not_an_object_is_refused(tiny_onnx, tmp_path):
    import onnx

    from ctcocr.runtime.onnx_backend import SPEC_KEY

    model = onnx.load(str(tiny_onnx))
    for entry in model.metadata_props:
        if entry.key == SPEC_KEY:
            entry.value = "[1, 2]"
    odd = tmp_path / "odd.onnx"
    onnx.save(model, str(odd))
    with pytest.raises(ModelFileError, match="damaged ctcocr metadata"):
        Recognizer(odd)
