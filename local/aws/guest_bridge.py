"""The guest emulator across the process boundary of the moto server.

The moto server runs in a child process (local/aws/server.py) and serves SSM's DescribeInstanceInformation,
SendCommand and GetCommandInvocation through local/aws/ssm_extension.py; the guest emulator lives in the parent,
next to the clock and the Site Recovery emulator it notifies. :class:`GuestAgentServer` exposes the emulator's
few methods over HTTP on 127.0.0.1 (JSON, bounded requests, stopped with its block); :class:`RemoteGuest` is what
the child's extension calls instead of the emulator. The bridge also carries the parent's clock (``now``): the
emulated EC2's request rate limits refill on it (local/aws/ec2_throttle.py).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from aws_lambdas.gateways.ports import Invocation, ManagedInstance

MAX_REQUEST_BYTES = 1_000_000
REQUEST_TIMEOUT_SECONDS = 600.0  # a dispatch may run a Linux guest script for real (its manifest bounds it)
METHODS = (
    "known_instances",
    "managed_instances",
    "dispatch",
    "has_invocation",
    "invocation",
    "document_of",
    "command_statuses",
)


class GuestAgent(Protocol):
    """What the SSM extension needs of the guests (GuestEmulator in-process, RemoteGuest in the moto server)."""

    def known_instances(self) -> list[str]: ...

    def managed_instances(self, instance_ids: list[str]) -> dict[str, ManagedInstance]: ...

    def dispatch(
        self, command_id: str, document_name: str, instance_ids: list[str], parameters: dict[str, str]
    ) -> None: ...

    def has_invocation(self, command_id: str, instance_id: str) -> bool: ...

    def invocation(self, command_id: str, instance_id: str) -> Invocation: ...

    def document_of(self, command_id: str, instance_id: str) -> str: ...

    def command_statuses(self, command_ids: list[str]) -> dict[str, dict[str, str]]: ...


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


class GuestAgentServer:
    """Serves one guest emulator's methods on 127.0.0.1; attach the emulator once it exists."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        """``now``: the parent's clock (the stack's VirtualClock), answered to the child's ``now`` calls."""
        self._guest: GuestAgent | None = None
        self._now = now
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._reply(413, {"error": f"request of {length} bytes is over {MAX_REQUEST_BYTES}"})
                    return
                try:
                    call = json.loads(self.rfile.read(length))
                    self._reply(200, {"result": agent.call(str(call["method"]), dict(call.get("args") or {}))})
                except (KeyError, TypeError, ValueError) as exc:
                    self._reply(400, {"error": f"{type(exc).__name__}: {exc}"})

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def attach(self, guest: GuestAgent) -> None:
        self._guest = guest

    def call(self, method: str, args: dict[str, Any]) -> Any:
        if method == "now":
            return self._now().timestamp() if self._now is not None else time.time()
        if method not in METHODS:
            raise ValueError(f"no guest method {method!r}")
        if self._guest is None:
            raise ValueError("no guest emulator attached yet")
        return _encode(getattr(self._guest, method)(**args))

    @contextmanager
    def serving(self) -> Iterator[GuestAgentServer]:
        thread = threading.Thread(target=self._server.serve_forever, name="guest-agent", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=10)


class RemoteGuest:
    """The guest emulator of the parent process, called over :class:`GuestAgentServer`'s HTTP."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise ValueError(f"the guest agent is reached on the loopback interface only, not {url}")
        self.url = url

    def _call(self, method: str, **args: Any) -> Any:
        request = urllib.request.Request(  # noqa: S310 - a loopback http URL, checked above
            self.url, data=json.dumps({"method": method, "args": args}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:  # noqa: S310
            return json.loads(response.read())["result"]

    def now(self) -> float:
        """The parent's clock, in seconds since the epoch."""
        return float(self._call("now"))

    def known_instances(self) -> list[str]:
        return list(self._call("known_instances"))

    def managed_instances(self, instance_ids: list[str]) -> dict[str, ManagedInstance]:
        found = self._call("managed_instances", instance_ids=instance_ids)
        return {k: ManagedInstance(**v) for k, v in found.items()}

    def dispatch(
        self, command_id: str, document_name: str, instance_ids: list[str], parameters: dict[str, str]
    ) -> None:
        self._call(
            "dispatch",
            command_id=command_id,
            document_name=document_name,
            instance_ids=instance_ids,
            parameters=parameters,
        )

    def has_invocation(self, command_id: str, instance_id: str) -> bool:
        return bool(self._call("has_invocation", command_id=command_id, instance_id=instance_id))

    def invocation(self, command_id: str, instance_id: str) -> Invocation:
        return Invocation(**self._call("invocation", command_id=command_id, instance_id=instance_id))

    def document_of(self, command_id: str, instance_id: str) -> str:
        return str(self._call("document_of", command_id=command_id, instance_id=instance_id))

    def command_statuses(self, command_ids: list[str]) -> dict[str, dict[str, str]]:
        return dict(self._call("command_statuses", command_ids=command_ids))
