"""`ctcocr serve`: bind the port first, then open the models, then say where it serves.

The port is bound before anything is printed or loaded, so a port already in use is one clear
line and a non-zero exit, not "serving on ..." followed by uvicorn's own error.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from pathlib import Path

from ctcocr.core.errors import ConfigError
from ctcocr.serve.app import create_app
from ctcocr.serve.models import ModelSet


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds one; ConfigError naming the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every answer waited ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if os.name != "nt":  # on Windows it would let two servers share the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or str(exc)
        fix = (
            f"stop what listens there, or pick another port with --port (e.g. --port {port + 1})"
            if getattr(exc, "errno", None) == errno.EADDRINUSE
            else "pick another address with --host or port with --port"
        )
        raise ConfigError(f"cannot serve on {host}:{port} ({reason}): {fix}") from exc
    return sock


def run_server(
    model: str | Path | None,
    host: str,
    port: int,
    max_bytes: int,
    default: str | None = None,
    reload_interval: float = 1.0,
) -> None:
    """Bind, open the models, say where, serve until interrupted."""
    import uvicorn

    sock = bind(host, port)
    # Opened, reloaded, refused and removed models: one line each on stderr, while it serves.
    log, handler = logging.getLogger("ctcocr.serve"), logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ctcocr serve: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        app = create_app(model, max_bytes, default, reload_interval)
        _say_where(app.state.models, host, sock.getsockname()[1])
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    finally:
        log.removeHandler(handler)
        sock.close()


def _say_where(models: ModelSet, host: str, port: int) -> None:
    if models.folder is not None:
        default = models.default or "none: name one in the route, or --default NAME"
        print(
            f"{len(models.models)} model(s) from {models.folder}: {', '.join(models.names())} "
            f"(default: {default})",
            flush=True,
        )
    print(f"ctcocr serving on http://{host}:{port}/ (API docs at /docs)", flush=True)
