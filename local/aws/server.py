"""moto's ThreadedMotoServer on 127.0.0.1, on an ephemeral port, as a context manager."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import moto.backends
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
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


def _own_tags(resource: Any) -> list[dict[str, str]]:
    """A resource's tags read from its own entry, as ``describe_tags(filters={"resource-id": [id]})`` returns them.

    moto's version scans (and regex-matches) every tag of the region for each resource it serialises, which makes
    describing one instance O(estate): at 1,000 instances that dominated a wave's AWS calls.
    """
    resource_id = resource.id
    if not resource_id:
        return []
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    tags = resource.ec2_backend.tags.get(resource_id) or {}
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": kind} for key, value in tags.items()
    ]


@functools.cache
def apply_speedups() -> None:
    """Patch two of moto's per-request costs that grow with the estate or are paid again on every request.

    Both keep moto's answers identical: an instance's tags come from its own entry instead of a scan of every
    tag, and the list of moto's service packages (read from disk to route each request) is read once. Applied
    once per process (cached).
    """
    TaggedEC2Resource.get_tags = _own_tags  # type: ignore[method-assign,assignment]
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules


@contextmanager
def start_moto_server(host: str = "127.0.0.1") -> Iterator[MotoServer]:
    """Run a moto server until the block exits. It serves every AWS service moto emulates on one endpoint."""
    if host not in {"127.0.0.1", "localhost"}:
        raise ValueError(f"the emulated AWS binds the loopback interface only, not {host}")
    # werkzeug logs every request to stderr unless its logger is told otherwise (verbose=False does not).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    apply_speedups()
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    try:
        bound_host, port = server.get_host_and_port()
        yield MotoServer(host=bound_host, port=port)
    finally:
        server.stop()
