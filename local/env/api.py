"""The local environment's HTTP front door on 127.0.0.1: the function app's API, a Service-Bus-style send
endpoint for the embedded queue, and the environment's own routes.

- ``/api/<route>``: the function app's HTTP triggers, invoked by the local host as the Functions host routes
  ``https://<app>.azurewebsites.net/api/<route>`` (same request, same response).
- ``POST /servicebus/<queue>/messages``: Service Bus's REST "Send Message" shape
  (https://learn.microsoft.com/rest/api/servicebus/send-message-to-queue): the body is the message, the
  ``BrokerProperties`` header a JSON object (``MessageId``, ``CorrelationId``, ``Label``), other
  ``x-ms-property-*``-free custom headers are not read; 201 when sent (also when duplicate detection drops it,
  as the broker answers), 400 for bad ``BrokerProperties``, 410 for a queue that does not exist.
- ``/local/...``: status, estate, advance, waves, dead letters (list, replay), report data, stop.

Handlers only parse and answer; the work runs on the daemon's main thread (:meth:`Environment.call`).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from local.env import views
from local.env.identity import authenticated_headers
from local.host.queue import QueueError
from shared.errors import PermanentError

if TYPE_CHECKING:
    from local.env.daemon import Environment

#: The largest request body accepted (a Service Bus Standard message is at most 256 KB; requests are smaller).
MAX_BODY = 1024 * 1024


class _ReplyError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


class ApiServer:
    """A threaded HTTP server bound to 127.0.0.1, stopped on exit."""

    def __init__(self, environment: Environment, port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"environment": environment})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    environment: Environment
    server_version = "ec2-to-azure-local"

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are not logged (bodies may hold request details)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        try:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                raise _ReplyError(413, {"error": f"body larger than {MAX_BODY} bytes"})
            body = self.rfile.read(length) if length else b""
            if parts[:1] == ["api"]:
                self._function_app(method, "/".join(parts[1:]), body, dict(parse_qsl(url.query)))
                return
            if parts[:1] == ["servicebus"] and len(parts) == 3 and parts[2] == "messages" and method == "POST":
                self._send_message(parts[1], body)
                return
            if parts[:1] == ["local"]:
                self._answer(200, self._local(method, parts[1:], body))
                return
            raise _ReplyError(404, {"error": f"no route {method} {url.path}"})
        except _ReplyError as reply:
            self._answer(reply.status, reply.body)
        except PermanentError as error:
            self._answer(404 if error.code == "NotFound" else 409, {"error": error.message})
        except (ValueError, LookupError) as error:
            self._answer(400, {"error": str(error)})
        except Exception as error:
            self._answer(500, {"error": f"{type(error).__name__}: {error}"})

    def _answer(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _function_app(self, method: str, route: str, body: bytes, params: dict[str, str]) -> None:
        host = self.environment.stack.host
        headers = authenticated_headers({key.lower(): value for key, value in self.headers.items()})

        def invoke() -> Any:
            return host.invoke_http(route, method, body or None, headers=headers, params=params)

        try:
            response = self.environment.call(invoke)
        except LookupError:
            raise _ReplyError(404, {"error": f"no function app route {method} /api/{route}"}) from None
        self._answer(response.status_code, response.get_body(), response.mimetype or "application/json")

    def _send_message(self, queue: str, body: bytes) -> None:
        try:
            properties = json.loads(self.headers.get("BrokerProperties") or "{}")
        except ValueError:
            raise _ReplyError(400, {"error": "BrokerProperties: not a JSON object"}) from None
        if not isinstance(properties, dict):
            raise _ReplyError(400, {"error": "BrokerProperties: not a JSON object"})
        host = self.environment.stack.host

        def send() -> Any:
            return host.send(
                queue,
                body,
                message_id=properties.get("MessageId"),
                content_type=self.headers.get("content-type"),
                correlation_id=properties.get("CorrelationId"),
                subject=properties.get("Label"),
            )

        try:
            self.environment.call(send)
        except QueueError as error:
            raise _ReplyError(410, {"error": str(error)}) from None
        self._answer(201, b"", self.headers.get("content-type") or "application/octet-stream")

    def _local(self, method: str, parts: list[str], body: bytes) -> Any:  # noqa: PLR0911 - one return per route
        environment = self.environment
        stack = environment.stack
        route = (method, "/".join(parts[:1]))
        if route == ("GET", "status"):
            return environment.call(
                lambda: {
                    "virtual_now": environment.clock.now().isoformat(),
                    "speed": environment.speed,
                    "scenario": stack.scenario.name,
                    "waves": views.waves(stack),
                    "stats": dict(vars(stack.host.stats)),
                }
            )
        if route == ("GET", "estate"):
            return environment.call(lambda: views.estate(stack))
        if route == ("POST", "advance"):
            seconds = float((json.loads(body or b"{}") or {}).get("seconds", 0))
            return environment.call(lambda: environment.advance(timedelta(seconds=seconds)))
        if route == ("GET", "dead-letters"):
            return environment.call(lambda: views.dead_letters(stack))
        if method == "POST" and parts[:1] == ["dead-letters"] and len(parts) == 3 and parts[2] == "replay":
            return environment.call(lambda: views.replay(stack, parts[1]))
        if route == ("GET", "report") and len(parts) == 2:
            data = environment.call(lambda: views.report_data(stack, parts[1]))
            if data is None:
                raise _ReplyError(404, {"error": f"no wave {parts[1]}"})
            return data
        if route == ("POST", "stop"):
            environment.stopping.set()
            return {"stopping": True}
        raise _ReplyError(404, {"error": f"no route {method} /local/{'/'.join(parts)}"})
