"""The routes ``DurableOrchestrationClient`` calls through its ``rpcBaseUrl``, served with aiohttp on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .history import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from .host import LocalHost
    from .status import InstanceStatus

BASE_PATH = "/durabletask/"
#: The instance query's paging, as the extension's ``HttpApiHandler`` and ``OrchestrationStatusQueryCondition`` do it.
CONTINUATION_HEADER = "x-ms-continuation-token"
DEFAULT_PAGE_SIZE = 100


class ClientApiError(Exception):
    """A client request the host refuses; ``status`` is the HTTP status the extension would answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def payload_json(body_text: str) -> str | None:
    """The JSON text of an input or event payload posted by the SDK client.

    The client serialises the value itself and aiohttp's ``json=`` encodes that string once more, so the body
    parses to a string holding the payload's JSON. The host keeps that inner JSON, so orchestrator code gets
    back the object the caller sent; a body that parses to anything else is kept as its own JSON.
    """
    if not body_text.strip():
        return None
    parsed = json.loads(body_text)
    if parsed is None:
        return None
    if isinstance(parsed, str):
        try:
            json.loads(parsed)
        except ValueError:
            return json.dumps(parsed)
        return parsed
    return json.dumps(parsed)


def _page_token(last: InstanceStatus) -> str:
    """An opaque continuation token: the next page starts after this instance (its created time, then its id)."""
    key = [format_timestamp(last.created_time), last.instance_id]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _page_key(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        created, instance_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError) as bad:
        raise ValueError(token) from bad
    return str(created), str(instance_id)


def _statuses(query: str | None) -> list[str] | None:
    if not query:
        return None
    return [s.strip() for s in query.split(",") if s.strip()]


class ClientApi:
    """aiohttp application bound to one host."""

    def __init__(self, host: LocalHost) -> None:
        self._host = host
        self.app = web.Application()
        self.app.add_routes(
            [
                web.post(BASE_PATH + "orchestrators/{name}", self.start),
                web.post(BASE_PATH + "orchestrators/{name}/{instance_id}", self.start),
                web.get(BASE_PATH + "instances/", self.query),
                web.get(BASE_PATH + "instances", self.query),
                web.get(BASE_PATH + "instances/{instance_id}", self.get_status),
                web.post(BASE_PATH + "instances/{instance_id}/raiseEvent/{event}", self.raise_event),
                web.post(BASE_PATH + "instances/{instance_id}/terminate", self.terminate),
                web.delete(BASE_PATH + "instances/", self.purge_by),
                web.delete(BASE_PATH + "instances", self.purge_by),
                web.delete(BASE_PATH + "instances/{instance_id}", self.purge),
            ]
        )

    async def start(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            input_json = payload_json(await request.text())
            instance_id = self._host.start_json(name, input_json, request.match_info.get("instance_id"))
        except (ClientApiError, ValueError) as exc:
            message = exc.message if isinstance(exc, ClientApiError) else f"invalid JSON input: {exc}"
            return web.json_response({"ExceptionMessage": message, "Message": message}, status=400)
        return web.json_response({"id": instance_id, **self._host.management_urls(instance_id)}, status=202)

    async def get_status(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        show_history = request.query.get("showHistory", "").lower() == "true"
        status = self._host.status(instance_id, show_history=show_history)
        if status is None:
            return web.Response(status=404)
        code = {"Completed": 200, "Failed": 400, "Terminated": 400}.get(status.runtime_status, 202)
        return web.json_response(status.to_api_json(), status=code)

    async def query(self, request: web.Request) -> web.Response:
        """The Durable HTTP API's instance query, one page per request as the extension answers it: ``top``
        instances (``OrchestrationStatusQueryCondition.PageSize``, 100 unless asked), the next page's token in the
        ``x-ms-continuation-token`` header (empty on the last page), read back from the request's header of that
        name; ``showInput=false`` leaves each instance's input out."""
        created_from = request.query.get("createdTimeFrom")
        created_to = request.query.get("createdTimeTo")
        try:
            after = _page_key(request.headers.get(CONTINUATION_HEADER))
        except ValueError:
            return web.json_response(f"invalid {CONTINUATION_HEADER}", status=400)
        top = request.query.get("top", "")
        page_size = int(top) if top.isdigit() and int(top) > 0 else DEFAULT_PAGE_SIZE
        found = self._host.instances(
            prefix=request.query.get("instanceIdPrefix"),
            statuses=_statuses(request.query.get("runtimeStatus")),
            created_from=parse_timestamp(created_from) if created_from else None,
            created_to=parse_timestamp(created_to) if created_to else None,
            with_input=request.query.get("showInput", "true").lower() != "false",
            after=after,
            limit=page_size + 1,
        )
        page, more = found[:page_size], len(found) > page_size
        token = _page_token(page[-1]) if more else ""
        return web.json_response([s.to_api_json() for s in page], status=200, headers={CONTINUATION_HEADER: token})

    async def raise_event(self, request: web.Request) -> web.Response:
        try:
            data_json = payload_json(await request.text())
        except ValueError:
            return web.json_response("Only application/json request content is supported", status=400)
        try:
            self._host.raise_event_json(request.match_info["instance_id"], request.match_info["event"], data_json)
        except ClientApiError as exc:
            return web.json_response(exc.message, status=exc.status)
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.Response:
        try:
            self._host.terminate(request.match_info["instance_id"], request.query.get("reason", ""))
        except ClientApiError as exc:
            return web.json_response(exc.message, status=exc.status)
        return web.Response(status=202)

    async def purge(self, request: web.Request) -> web.Response:
        deleted = self._host.purge(request.match_info["instance_id"])
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted}, status=200)

    async def purge_by(self, request: web.Request) -> web.Response:
        created_from = request.query.get("createdTimeFrom")
        created_to = request.query.get("createdTimeTo")
        deleted = self._host.purge_by(
            created_from=parse_timestamp(created_from) if created_from else None,
            created_to=parse_timestamp(created_to) if created_to else None,
            statuses=_statuses(request.query.get("runtimeStatus")),
        )
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted}, status=200)


class ClientApiServer:
    """Runs :class:`ClientApi` on the shared loop, on 127.0.0.1 and an ephemeral port."""

    def __init__(self, host: LocalHost) -> None:
        self._api = ClientApi(host)
        self._runner: web.AppRunner | None = None
        self.port: int = 0

    async def start(self) -> None:
        self._runner = web.AppRunner(self._api.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        sockets: Any = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{BASE_PATH}"
