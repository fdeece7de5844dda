"""What a durable client does to the local host (start, raise, terminate, purge, query), its queues and HTTP
triggers: thread-safe, and also served over HTTP by :mod:`local.host.client_api`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import azure.functions as func
from azure.durable_functions.models.utils.df_serialization import df_dumps

from .client_api import ClientApiError
from .engine import TERMINAL_STATUSES
from .history import EventType, event, format_timestamp, parse_timestamp
from .index import HTTP, ORCHESTRATION
from .invoke import call_function, http_request, match_route
from .parts import HostParts
from .queue import QueueMessage, SendResult
from .status import InstanceStatus, Pending, loads_or_none


class ClientOperations(HostParts):
    """The client side of :class:`~local.host.host.LocalHost` (a mixin over its state)."""

    def start(self, orchestrator: str, input: Any = None, instance_id: str | None = None) -> str:
        """Schedule a new orchestration instance; returns its id."""
        return self.start_json(orchestrator, df_dumps(input) if input is not None else None, instance_id)

    def start_json(self, orchestrator: str, input_json: str | None, instance_id: str | None = None) -> str:
        if self.index.find(ORCHESTRATION, orchestrator) is None:
            known = ", ".join(f.name for f in self.index.of_type(ORCHESTRATION)) or "none"
            raise ClientApiError(
                400,
                f"The function '{orchestrator}' doesn't exist or is not an orchestrator "
                f"function (orchestrators: {known})",
            )
        instance_id = instance_id or uuid.uuid4().hex
        pending = Pending()
        with self._store.transaction() as db:
            self._create_instance(db, pending, orchestrator, instance_id, input_json, parent=None)
        self._apply(pending)
        return instance_id

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Deliver an external event (the orchestration sees ``data`` as sent)."""
        self.raise_event_json(instance_id, name, json.dumps(data))

    def raise_event_json(self, instance_id: str, name: str, data_json: str | None) -> None:
        if not name:
            raise ClientApiError(400, "event name must be a non-empty string")
        pending = Pending()
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT status, execution_id FROM instances WHERE instance_id = ?", (instance_id,)
            ).fetchone()
            if row is None:
                raise ClientApiError(404, f"No instance with ID {instance_id} found.")
            if row[0] in TERMINAL_STATUSES:
                raise ClientApiError(410, f"Instance with ID {instance_id} is gone: either completed or failed")
            self._enqueue(
                db,
                pending,
                instance_id,
                None,
                event(EventType.EVENT_RAISED, self.clock.now(), Name=name, Input=data_json),
            )
        self._apply(pending)

    def terminate(self, instance_id: str, reason: str = "") -> None:
        pending = Pending()
        with self._store.transaction() as db:
            row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None:
                raise ClientApiError(404, f"No instance with ID '{instance_id}' found.")
            if row[0] in TERMINAL_STATUSES:
                raise ClientApiError(410, f"Instance '{instance_id}' is already {row[0]}")
            self._enqueue(
                db, pending, instance_id, None, event(EventType.EXECUTION_TERMINATED, self.clock.now(), Input=reason)
            )
        self._apply(pending)

    def purge(self, instance_id: str) -> int:
        """Delete a finished instance and its history; returns how many were deleted (0 or 1)."""
        with self._store.transaction() as db:
            row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None or row[0] not in TERMINAL_STATUSES:
                return 0
            self._delete_instance(db, instance_id)
        return 1

    def purge_by(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: list[str] | None = None,
    ) -> int:
        found = self.instances(created_from=created_from, created_to=created_to, statuses=statuses)
        return sum(self.purge(s.instance_id) for s in found if s.runtime_status in TERMINAL_STATUSES)

    def status(self, instance_id: str, *, show_history: bool = False) -> InstanceStatus | None:
        """The instance's runtime status, input, output, custom status and history length (None if unknown)."""
        with self._store.reading() as db:
            row = db.execute(
                "SELECT instance_id, name, status, input_json, output_json, custom_status_json, created_at, "
                "updated_at, history_len FROM instances WHERE instance_id = ?",
                (instance_id,),
            ).fetchone()
            history = None
            if row is not None and show_history:
                history = [
                    json.loads(r[0])
                    for r in db.execute(
                        "SELECT event_json FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
                    )
                ]
        return self._status_from_row(row, history) if row else None

    def instances(
        self,
        *,
        prefix: str | None = None,
        statuses: list[str] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        with_input: bool = True,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[InstanceStatus]:
        """Instances matching every given filter, oldest first (``with_input=False``: their inputs left out).

        ``after`` (the stored created time and the instance id of a previous page's last instance) and ``limit``
        read one page."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if after is not None:
            where.append("(created_at, instance_id) > (?, ?)")
            args.extend(after)
        if prefix:
            where.append("instance_id LIKE ? ESCAPE '\\'")
            args.append(prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if created_from:
            where.append("created_at >= ?")
            args.append(format_timestamp(created_from))
        if created_to:
            where.append("created_at <= ?")
            args.append(format_timestamp(created_to))
        with self._store.reading() as db:
            rows = db.execute(
                f"SELECT instance_id, name, status, {'input_json' if with_input else 'NULL'}, output_json, "  # noqa: S608
                "custom_status_json, created_at, "
                f"updated_at, history_len FROM instances WHERE {' AND '.join(where)} "
                f"ORDER BY created_at, instance_id{' LIMIT ?' if limit is not None else ''}",
                [*args, limit] if limit is not None else args,
            ).fetchall()
        return [self._status_from_row(r, None) for r in rows]

    @staticmethod
    def _status_from_row(row: tuple[Any, ...], history: list[dict[str, Any]] | None) -> InstanceStatus:
        return InstanceStatus(
            instance_id=row[0],
            name=row[1],
            runtime_status=row[2],
            input=loads_or_none(row[3]),
            output=loads_or_none(row[4]),
            custom_status=loads_or_none(row[5]),
            created_time=parse_timestamp(row[6]),
            last_updated_time=parse_timestamp(row[7]),
            history_length=row[8],
            history=history,
        )

    # -- queue operations -----------------------------------------------------------------------------------

    def send(
        self,
        queue: str,
        body: bytes | str | dict[str, Any] | list[Any],
        message_id: str | None = None,
        **properties: Any,
    ) -> SendResult:
        """Send a message to an embedded queue (see :meth:`EmbeddedQueue.send` for the properties)."""
        return self.queue.send(queue, body, message_id=message_id, **properties)

    def dead_letters(self, queue: str) -> list[QueueMessage]:
        return self.queue.dead_letters(queue)

    def complete_dead_letter(self, queue: str, sequence_number: int) -> None:
        """Remove a dead-lettered message (replaying one is a new send, then this: see ``cli.dlq``)."""
        self.queue.complete_dead_letter(queue, sequence_number)

    # -- HTTP triggers --------------------------------------------------------------------------------------

    def invoke_http(
        self,
        name_or_route: str,
        method: str = "GET",
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        """Call an HTTP-triggered function by name or by a path matching its route; returns its response."""
        functions = self.index.of_type(HTTP)
        target, route_params, path = None, {}, name_or_route
        for function in functions:
            if function.name == name_or_route:
                target, path = function, function.route
                break
        if target is None:
            for function in functions:
                matched = match_route(function.route, name_or_route)
                if matched is not None and method.upper() in function.methods:
                    target, route_params = function, matched
                    break
        if target is None:
            known = ", ".join(f"{f.name} ({'/'.join(f.methods)} {f.route})" for f in functions) or "none"
            raise LookupError(f"no HTTP function named or routed {method.upper()} {name_or_route!r} (known: {known})")
        request = http_request(method, path, body=body, headers=headers, params=params, route_params=route_params)
        response = call_function(target, request, self._client_json)
        if isinstance(response, str):
            return func.HttpResponse(response)
        if not isinstance(response, func.HttpResponse):
            raise TypeError(f"HTTP function {target.name!r} returned {type(response).__name__}, not HttpResponse")
        return response
