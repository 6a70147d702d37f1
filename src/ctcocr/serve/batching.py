"""Read concurrent requests together: one model run for all the images waiting.

While a model run is busy, the requests that arrive queue up; the next run takes every one of
them (up to `max_images`), so the service pays one thread hop and one onnxruntime call per
batch instead of per request, and never waits on purpose: a request alone runs at once.

Each request keeps its own outcome: a bad image fails its own request only (415/422/413), and
requests are grouped by their decoding options, so a beam search never slows greedy ones.

When a model is reloaded (models.py), its old Batcher is closed: it answers every request it
was given, before or after, then its worker ends and the old model can be freed.

>>> batcher = Batcher(Recognizer("captcha.onnx"))
>>> await batcher.read([("a.png", png_bytes)], DecodeOptions())
[Prediction(text='2B8X7', ...)]
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import cast

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool
from PIL import Image

from ctcocr.core.errors import CtcocrError
from ctcocr.decoding.decoder import DecodeOptions
from ctcocr.decoding.prediction import Prediction
from ctcocr.runtime.recognizer import Recognizer
from ctcocr.serve.request_images import open_all

Outcome = list[Prediction] | Exception


@dataclass
class Job:
    named: list[tuple[str, bytes]]  # (name for errors, encoded image)
    options: DecodeOptions
    future: asyncio.Future[list[Prediction]]


class Batcher:
    """One queue and one worker task per event loop, in front of one Recognizer."""

    def __init__(self, reader: Recognizer, max_images: int = 64) -> None:
        self.reader, self.max_images = reader, max_images
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.runs = 0  # model runs so far: requests / runs is the mean batch
        self.closed = False

    async def read(
        self, named: list[tuple[str, bytes]], options: DecodeOptions
    ) -> list[Prediction]:
        """The predictions for one request's images, in order."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            # a new server loop (or test client), or a stopped worker: start a fresh one
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = loop.create_task(self._serve())
        job = Job(named, options, loop.create_future())
        self._queue.put_nowait(job)
        return await job.future

    async def stop(self) -> None:
        """Cancel the worker (the server is shutting down)."""
        if self._worker is not None:
            self._worker.cancel()
            self._worker, self._loop = None, None

    def close(self) -> None:
        """Finish the queued work, then end the worker; a later read still gets its answer.
        Safe to call from any thread (the reload thread calls it)."""
        self.closed = True
        loop, worker, queue = self._loop, self._worker, self._queue
        if loop is not None and not loop.is_closed() and worker is not None:
            # wakes an idle worker, which then sees `closed` and an empty queue, and ends
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(queue.put_nowait, None)

    async def _serve(self) -> None:
        while not (self.closed and self._queue.empty()):
            first = await self._queue.get()
            if first is None:
                continue  # the wake-up from close()
            jobs = [first]
            count = len(jobs[0].named)
            while count < self.max_images and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is not None:
                    jobs.append(job)
                    count += len(job.named)
            try:
                outcomes = await run_in_threadpool(self._read_jobs, jobs)
            except Exception as exc:  # never let one batch stop the worker
                outcomes = [exc] * len(jobs)
            self.runs += 1
            for job, outcome in zip(jobs, outcomes, strict=True):
                if job.future.done():  # the client went away
                    continue
                if isinstance(outcome, Exception):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _read_jobs(self, jobs: list[Job]) -> list[Outcome]:
        """Open every job's images, then one predict_batch per set of decoding options."""
        outcomes: list[Outcome | None] = [None] * len(jobs)
        groups: dict[DecodeOptions, list[tuple[int, list[Image.Image]]]] = {}
        for index, job in enumerate(jobs):
            try:
                groups.setdefault(job.options, []).append((index, open_all(job.named)))
            except HTTPException as exc:
                outcomes[index] = exc
        for options, members in groups.items():
            images = [image for _, job_images in members for image in job_images]
            try:
                predictions = self.reader.predict_batch(images, self.max_images, options)
            except CtcocrError as exc:  # a constraint this model cannot meet
                error = HTTPException(422, f"decoding options: {exc}")
                for index, _ in members:
                    outcomes[index] = error
                continue
            start = 0
            for index, job_images in members:
                outcomes[index] = predictions[start : start + len(job_images)]
                start += len(job_images)
        return cast(list[Outcome], outcomes)  # every job got its predictions or its error
