"""moto's ThreadedMotoServer on 127.0.0.1, on an ephemeral port, as a context manager."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from moto.server import ThreadedMotoServer

# moto accepts any credentials; these make boto3 sign requests without touching a real account.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@dataclass(frozen=True)
class MotoServer:
    host: str
    port: int

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def start_moto_server(host: str = "127.0.0.1") -> Iterator[MotoServer]:
    """Run a moto server until the block exits. It serves every AWS service moto emulates on one endpoint."""
    if host not in {"127.0.0.1", "localhost"}:
        raise ValueError(f"the emulated AWS binds the loopback interface only, not {host}")
    # werkzeug logs every request to stderr unless its logger is told otherwise (verbose=False does not).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    try:
        bound_host, port = server.get_host_and_port()
        yield MotoServer(host=bound_host, port=port)
    finally:
        server.stop()
