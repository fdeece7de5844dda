"""Plug an emulator into azure-core: a transport with no sockets whose ``sleep()`` moves the emulator's clock.

``build_emulated_client(emulator)`` returns a real ``SiteRecoveryManagementClient`` (real serialization, real
retry policy, real LRO header handling) that talks to the emulator. Any in-process service with the same
``handle()`` and ``clock`` (:class:`InProcessService`, e.g. the ARM resources emulator) rides the same transport.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any, Protocol

from azure.core.credentials import AccessToken
from azure.core.exceptions import ServiceResponseTimeoutError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from local.clock import Clock
from local.site_recovery.emulator import EmulatorResponse, EmulatorTimeoutError, SiteRecoveryEmulator


class InProcessService(Protocol):
    """What the transport needs of an emulator: answer one request, and a clock to sleep on."""

    @property
    def clock(self) -> Clock: ...

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> EmulatorResponse: ...


class EmulatorCredential:
    """A token credential for the emulator: hands out a fixed, obviously fake bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("emulator-token", int(time.time()) + 3600)


class _InMemoryResponse(HttpResponseImpl):
    def __init__(self, request: HttpRequest, status: int, headers: dict[str, str], body: bytes) -> None:
        def stream(**kwargs: Any) -> Iterator[bytes]:
            yield body

        super().__init__(
            request=request,
            internal_response=io.BytesIO(body),
            status_code=status,
            reason=_REASONS.get(status, ""),
            content_type=headers.get("Content-Type"),
            headers=case_insensitive_dict(headers),
            stream_download_generator=stream,
        )
        self._content = body


_REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


class EmulatorTransport(HttpTransport):  # type: ignore[type-arg]
    """An azure-core transport answering from an emulator (:class:`InProcessService`) in-process."""

    def __init__(self, emulator: InProcessService) -> None:
        self.emulator = emulator

    def send(self, request: Any, **kwargs: Any) -> HttpResponse:
        body = getattr(request, "content", None)
        if body is None:
            body = getattr(request, "data", None)
        if isinstance(body, str):
            body = body.encode()
        try:
            answer = self.emulator.handle(request.method, request.url, dict(request.headers), body)
        except EmulatorTimeoutError as error:
            raise ServiceResponseTimeoutError(str(error)) from error
        return _InMemoryResponse(request, answer.status, answer.headers, answer.body)

    def sleep(self, duration: float) -> None:
        self.emulator.clock.sleep(duration)

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> EmulatorTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        return None


def build_emulated_client(
    emulator: SiteRecoveryEmulator, *, subscription_id: str | None = None, **kwargs: Any
) -> SiteRecoveryManagementClient:
    """A real ``SiteRecoveryManagementClient`` wired to ``emulator`` (base URL, transport, fake credential).

    Extra keyword arguments go to the client (for example ``retry_total=2``).
    """
    return SiteRecoveryManagementClient(
        credential=EmulatorCredential(),
        subscription_id=subscription_id or emulator.estate.subscription_id,
        base_url=emulator.base_url,
        transport=EmulatorTransport(emulator),
        **kwargs,
    )


def build_emulated_compute_client(emulator: SiteRecoveryEmulator, subscription_id: str) -> ComputeManagementClient:
    """A real ``ComputeManagementClient`` wired to ``emulator``'s Compute family (the test VMs)."""
    return ComputeManagementClient(
        credential=EmulatorCredential(),
        subscription_id=subscription_id,
        base_url=emulator.base_url,
        transport=EmulatorTransport(emulator),
    )
