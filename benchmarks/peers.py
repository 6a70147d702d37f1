"""The pretrained peers, each as one function from PNG/JPEG bytes to text, for the benchmarks.

ddddocr (13 MB ONNX, answers in lower case) and captcha-whisperer (a CRNN+CTC ONNX reader,
upper case and digits) come from `pip install -e '.[bench]'` (`make bench` installs them). A peer
that is not installed is left out, with a note, rather than failing the whole benchmark.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

Reader = Callable[[bytes], str]


def ddddocr_reader() -> Reader | None:
    try:
        import ddddocr
    except ImportError:
        return None
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner on construction
        ocr = ddddocr.DdddOcr(show_ad=False)
    return lambda data: str(ocr.classification(data))


def whisperer_reader() -> Reader | None:
    try:
        from captcha_whisperer import CaptchaRecognizer
    except ImportError:
        return None
    recognizer = CaptchaRecognizer(threads=1)
    return lambda data: str(recognizer.recognize_bytes(data)["text"])


def available_peers() -> tuple[dict[str, Reader], list[str]]:
    """{name: reader} of the peers installed here, and a note for each one that is not."""
    found: dict[str, Reader] = {}
    notes = []
    for name, make in (("ddddocr", ddddocr_reader), ("captcha-whisperer", whisperer_reader)):
        reader = make()
        if reader is None:
            notes.append(f"{name} is not installed (pip install -e '.[bench]'): its column skipped")
        else:
            found[name] = reader
    return found, notes
