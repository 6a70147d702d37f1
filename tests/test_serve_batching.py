"""Concurrent requests share model runs, and each still gets its own answer or its own error."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import HTTPException

from ctcocr import DecodeOptions, Recognizer
from ctcocr.data.synth import png_samples
from ctcocr.serve.batching import Batcher


@pytest.fixture(scope="module")
def reader() -> Recognizer:
    return Recognizer()  # the shipped model: readings worth comparing


def read_all(batcher: Batcher, requests: list[tuple[list[bytes], DecodeOptions]]) -> list:
    async def main() -> list:
        pending = [
            batcher.read([(f"{i}-{j}.png", png) for j, png in enumerate(pngs)], options)
            for i, (pngs, options) in enumerate(requests)
        ]
        try:
            return await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_waiting_requests_share_one_model_run_in_order(reader: Recognizer) -> None:
    pngs = png_samples(9, seed=31)
    batcher = Batcher(reader)
    results = read_all(
        batcher, [([png], DecodeOptions()) for png in pngs[:6]] + [(pngs[6:], DecodeOptions())]
    )
    expected = reader.predict_batch(pngs)
    assert [r[0] for r in results[:6]] == expected[:6]
    assert results[6] == expected[6:]  # a batch request keeps its order
    assert batcher.runs == 1


def test_a_bad_image_fails_its_own_request_only(reader: Recognizer) -> None:
    pngs = png_samples(3, seed=32)
    truncated = pngs[2][: len(pngs[2]) // 2]
    batcher = Batcher(reader)
    results = read_all(
        batcher,
        [
            ([pngs[0]], DecodeOptions()),
            ([b"not an image"], DecodeOptions()),
            ([pngs[1], truncated], DecodeOptions()),
            ([pngs[1]], DecodeOptions()),
        ],
    )
    assert results[0] == [reader.predict(pngs[0])]
    assert isinstance(results[1], HTTPException) and results[1].status_code == 415
    assert isinstance(results[2], HTTPException) and results[2].status_code == 422
    assert "2-1.png" in results[2].detail  # names the image at fault
    assert results[3] == [reader.predict(pngs[1])]


def test_requests_with_other_decoding_options_are_decoded_their_own_way(
    reader: Recognizer,
) -> None:
    png = png_samples(1, seed=33)[0]
    beam = DecodeOptions(beam=5)
    impossible = DecodeOptions(allowed="ΩΣ")  # not in the model's charset
    batcher = Batcher(reader)
    greedy, searched, refused = read_all(
        batcher, [([png], DecodeOptions()), ([png], beam), ([png], impossible)]
    )
    assert greedy == [reader.predict(png)]
    assert searched == [reader.predict(png, beam)] and searched[0].candidates
    assert isinstance(refused, HTTPException) and refused.status_code == 422


def test_a_new_event_loop_gets_a_new_worker(reader: Recognizer) -> None:
    png = png_samples(1, seed=34)[0]
    batcher = Batcher(reader)
    for _ in range(2):  # asyncio.run makes a fresh loop each time, as test clients do
        assert read_all(batcher, [([png], DecodeOptions())]) == [[reader.predict(png)]]


def test_a_closed_batcher_answers_what_it_was_given_then_ends(reader: Recognizer) -> None:
    """What a reload relies on: the replaced model's Batcher drops no request."""
    pngs = png_samples(4, seed=35)
    batcher = Batcher(reader)

    async def main() -> tuple[list, list, bool]:
        queued = [
            asyncio.ensure_future(batcher.read([("q.png", png)], DecodeOptions())) for png in pngs
        ]
        await asyncio.sleep(0)  # the worker starts on the first, the others wait in the queue
        batcher.close()
        answered = await asyncio.gather(*queued)
        late = await batcher.read([("late.png", pngs[0])], DecodeOptions())  # after the close
        await asyncio.sleep(0.05)
        return answered, late, batcher._worker is not None and batcher._worker.done()

    answered, late, ended = asyncio.run(main())
    assert answered == [[reader.predict(png)] for png in pngs]
    assert late == [reader.predict(pngs[0])]
    assert ended  # nothing left waiting on the old model
