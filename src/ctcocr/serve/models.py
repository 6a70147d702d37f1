"""The models a service reads with, by name, kept in step with their folder while it serves.

`ctcocr serve MODEL` serves one model; `ctcocr serve DIR` serves every model in DIR
(model_folder.py) and, every `interval` seconds at most, when a request comes, looks at the
files again (a stat each, no reading) in a thread of its own:

- a changed file is opened beside the old model; only once it has opened does its name point
  to it, so a request never waits on a load and never fails for one. The old model's Batcher
  answers every request it was given, then ends;
- a new file is served under its name; a name nobody serves yet is looked for at once, so a
  model copied in answers its first request;
- a file that does not open is refused: one line in the log, the old model keeps serving, and
  /v1/models shows the error under its name until a file that opens replaces it;
- a removed file's name goes away (404, with the names there are).

>>> models = ModelSet.open(Path("models"), default="captcha")
>>> served = await models.get("plates")
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException

from ctcocr.core.errors import ConfigError, CtcocrError, ModelFileError
from ctcocr.runtime.recognizer import Recognizer
from ctcocr.serve.batching import Batcher
from ctcocr.serve.model_folder import (
    Stamp,
    check_folder,
    find_models,
    is_run_folder,
    model_name,
    stamp,
)

log = logging.getLogger("ctcocr.serve")


@dataclass(frozen=True)
class Served:
    """One model as served: its name, the reader, the Batcher in front of it, its files' stamp."""

    name: str
    path: Path
    reader: Recognizer
    batcher: Batcher
    stamp: Stamp


def open_served(name: str, path: Path, max_images: int) -> Served:
    before = stamp(path)  # taken first: a file changed while it opens is opened again next time
    reader = Recognizer(path)
    return Served(name, path, reader, Batcher(reader, max_images), before)


class ModelSet:
    """The served models by name, the default one for the routes without a name, and the
    errors of files that were refused."""

    def __init__(
        self,
        served: dict[str, Served],
        default: str | None,
        folder: Path | None = None,
        interval: float = 1.0,
        max_images: int = 64,
    ) -> None:
        # Both dicts are replaced, never changed in place: the reload thread builds a new one
        # and assigns it, so a request sees the old models or the new, and lists them safely.
        self.models = served
        self.errors: dict[str, str] = {}  # name: why its latest file was refused
        self.clashes: dict[str, str] = {}  # name: the entries of the folder that share it
        self.default, self.folder, self.interval = default, folder, interval
        self.max_images = max_images
        self._tried: dict[str, Stamp] = {name: s.stamp for name, s in served.items()}
        self._lock = threading.Lock()  # one look at the folder at a time
        self._checked = time.monotonic()

    @classmethod
    def open(
        cls,
        model: str | Path | None,
        default: str | None = None,
        interval: float = 1.0,
        max_images: int = 64,
    ) -> ModelSet:
        """One model (a run folder, an .onnx, None: the shipped one) or a folder of models."""
        path = None if model is None else Path(model)
        if path is None or not path.is_dir() or is_run_folder(path):
            reader = Recognizer(model)  # as given: the Recognizer knows the shipped models
            name = model_name(reader.path) or reader.path.stem
            if default not in (None, name):
                raise ConfigError(f"--default {default}: serving one model, {name!r}")
            served = Served(name, reader.path, reader, Batcher(reader, max_images), ())
            return cls({name: served}, name, max_images=max_images)
        return cls._open_folder(path, default, interval, max_images)

    @classmethod
    def _open_folder(
        cls, folder: Path, default: str | None, interval: float, max_images: int
    ) -> ModelSet:
        found = check_folder(folder)
        if default is not None and default not in found:
            raise ConfigError(
                f"--default {default}: no model of that name in {folder} "
                f"(there are: {', '.join(found)})"
            )
        models = cls({}, None, folder, interval, max_images)
        models.refresh()  # opens each model as a reload would, refusing those that do not open
        if not models.models or (default is not None and default not in models.models):
            raise ModelFileError("; ".join(models.problems().values()))
        models.default = default if default is not None or len(found) > 1 else next(iter(found))
        return models

    def names(self) -> list[str]:
        return sorted(self.models)

    def problems(self) -> dict[str, str]:
        """name: why it is not served as its folder now holds it."""
        return {**self.errors, **self.clashes}

    async def get(self, name: str) -> Served:
        """The model served as `name`; an HTTP 404 naming the ones there are."""
        self.check()
        if name not in self.models and self.folder is not None:
            from fastapi.concurrency import run_in_threadpool

            await run_in_threadpool(self.refresh)  # perhaps just copied in
        served = self.models.get(name)
        if served is None:
            problem = self.problems().get(name)
            why = f" ({problem})" if problem else ""
            raise HTTPException(
                404, f"no model {name!r}{why}: this service reads with {self._listed()}"
            )
        return served

    async def get_default(self) -> Served:
        """The model of the routes without a name (/v1/recognize, /v1/model)."""
        if self.default is None:
            self.check()
            raise HTTPException(
                409,
                f"this service reads with several models ({', '.join(self.names())}) and none "
                "is the default: POST to /v1/models/{name}/recognize, or start it with "
                "--default NAME",
            )
        return await self.get(self.default)

    def _listed(self) -> str:
        names = self.names()
        return ", ".join(map(repr, names)) if names else "no model now"

    def check(self) -> None:
        """Called on each request: at most every `interval` seconds, look at the folder again
        in a thread, so that this request goes on at once with the models there are now."""
        if self.folder is None or self.interval <= 0 or self._lock.locked():
            return
        now = time.monotonic()
        if now - self._checked >= self.interval:
            self._checked = now
            threading.Thread(target=self.refresh, name="ctcocr-reload", daemon=True).start()

    def refresh(self) -> None:
        """Look at the folder now: open changed and new models, drop removed ones."""
        if self.folder is None:
            return
        with self._lock:
            try:
                found, clashes = find_models(self.folder)
            except ModelFileError as exc:  # the folder went away: keep serving what is open
                log.warning("%s", exc)
                return
            for name, path in found.items():
                self._update(name, path)
            for name in set(self.models) - set(found) - set(clashes):
                log.info("model %r removed: %s is gone", name, self.models[name].path)
                retired = self.models[name]
                self.models = {k: v for k, v in self.models.items() if k != name}
                retired.batcher.close()
            for name, error in clashes.items():
                if self.clashes.get(name) != error:
                    log.warning("refused model %r: %s", name, error)
            self.errors = {k: v for k, v in self.errors.items() if k in found}
            self.clashes = clashes
            self._tried = {k: v for k, v in self._tried.items() if k in found}

    def _update(self, name: str, path: Path) -> None:
        current = stamp(path)
        if self._tried.get(name) == current:
            return  # unchanged since it was last opened or refused
        self._tried[name] = current
        try:
            new = open_served(name, path, self.max_images)
        except Exception as exc:  # whatever a damaged file raises, the service goes on
            error = str(exc) if isinstance(exc, CtcocrError) else f"{path}: {exc!r}"
            self.errors = {**self.errors, name: error}
            kept = "; the model opened before keeps serving" if name in self.models else ""
            log.warning("refused model %r: %s%s", name, error, kept)
            return
        old = self.models.get(name)
        self.models = {**self.models, name: new}
        self.errors = {k: v for k, v in self.errors.items() if k != name}
        log.info("%s model %r from %s", "reloaded" if old else "opened", name, path)
        if old is not None:
            old.batcher.close()  # answers what it holds, then ends; the old model is freed

    async def stop(self) -> None:
        for served in list(self.models.values()):
            await served.batcher.stop()
