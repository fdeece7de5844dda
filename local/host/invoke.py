"""Calling app functions the way the Python worker does: trigger values built with azure.functions converters."""

from __future__ import annotations

import json
import re
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import azure.functions as func
from azure.functions.durable_functions import ActivityTriggerConverter
from azure.functions.meta import Datum
from azure.functions.servicebus import ServiceBusMessageInConverter
from azure.functions.timer import TimerRequestConverter

from .history import format_timestamp
from .index import IndexedFunction
from .loop import run_on_loop
from .queue import QueueMessage


@dataclass(frozen=True)
class InvocationContext:
    """The ``context`` argument a function may declare (the worker's ``azure.functions.Context``)."""

    invocation_id: str
    function_name: str
    function_directory: str
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


def call_function(function: IndexedFunction, trigger_value: Any, client_json: str | None) -> Any:
    """Invoke ``function`` with its trigger value and, if declared, the durable client binding JSON."""
    kwargs: dict[str, Any] = {function.trigger_param: trigger_value}
    client_param = function.client_param
    if client_param is not None:
        if client_json is None:
            raise RuntimeError(f"function {function.name!r} needs a durable client but the host has none")
        kwargs[client_param] = client_json
    if function.accepts_context:
        kwargs["context"] = InvocationContext(uuid.uuid4().hex, function.name, "")
    if function.is_async:
        return run_on_loop(function.callable(**kwargs))
    return function.callable(**kwargs)


# -- activities ---------------------------------------------------------------------------------------------


def decode_activity_input(input_json: str | None) -> Any:
    """The activity argument, decoded by the SDK's converter exactly as the worker decodes it."""
    return ActivityTriggerConverter.decode(
        Datum(input_json if input_json is not None else "null", "json"), trigger_metadata=None
    )


def encode_activity_output(value: Any) -> str:
    return str(ActivityTriggerConverter.encode(value, expected_type=None).value)


def failure_details(function_name: str, kind: str, exc: BaseException) -> tuple[str, str]:
    """``Reason`` and ``Details`` of a failed activity, as the orchestrator's exception text shows them."""
    reason = f"{kind} function '{function_name}' failed: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
    return reason, details


# -- Service Bus ----------------------------------------------------------------------------------------------


def service_bus_message(message: QueueMessage) -> func.ServiceBusMessage:
    """The ``ServiceBusMessage`` the worker builds from the host's trigger data."""
    metadata: dict[str, Datum] = {
        "MessageId": Datum(message.message_id, "string"),
        "DeliveryCount": Datum(message.delivery_count, "int"),
        "SequenceNumber": Datum(message.sequence_number, "int"),
        "EnqueuedTimeUtc": Datum(format_timestamp(message.enqueued_time), "string"),
        "UserProperties": Datum(json.dumps(message.user_properties), "json"),
        "ApplicationProperties": Datum(json.dumps(message.user_properties), "json"),
    }
    optional: dict[str, Any] = {
        "ContentType": message.content_type,
        "CorrelationId": message.correlation_id,
        "Subject": message.subject,
        "Label": message.subject,
        "LockToken": message.lock_token,
        "LockedUntil": format_timestamp(message.locked_until) if message.locked_until else None,
        "ScheduledEnqueueTimeUtc": (
            format_timestamp(message.scheduled_enqueue_time) if message.scheduled_enqueue_time else None
        ),
    }
    metadata.update({key: Datum(value, "string") for key, value in optional.items() if value is not None})
    decoded = ServiceBusMessageInConverter.decode(Datum(message.body, "bytes"), trigger_metadata=metadata)
    assert isinstance(decoded, func.ServiceBusMessage)
    return decoded


# -- timers ---------------------------------------------------------------------------------------------------


def timer_request(*, due: datetime, next_due: datetime, now: datetime, past_due: bool) -> func.TimerRequest:
    payload = {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": {
            "Last": format_timestamp(due),
            "Next": format_timestamp(next_due),
            "LastUpdated": format_timestamp(now),
        },
        "IsPastDue": past_due,
    }
    decoded = TimerRequestConverter.decode(Datum(json.dumps(payload), "json"), trigger_metadata=None)
    assert isinstance(decoded, func.TimerRequest)
    return decoded


# -- HTTP -----------------------------------------------------------------------------------------------------

_PARAM = re.compile(r"^\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(?P<optional>\?)?\}$")


def match_route(template: str, path: str) -> dict[str, str] | None:
    """Route parameters if ``path`` matches the function's route template (``status/{request_id}``)."""
    wanted = [p for p in template.strip("/").split("/") if p]
    given = [p for p in path.strip("/").split("/") if p]
    params: dict[str, str] = {}
    for position, part in enumerate(wanted):
        match = _PARAM.match(part)
        if position >= len(given):
            if match and match.group("optional"):
                continue
            return None
        if match:
            params[match.group("name")] = given[position]
        elif part.lower() != given[position].lower():
            return None
    if len(given) > len(wanted):
        return None
    return params


def http_request(
    method: str,
    path: str,
    *,
    body: bytes | str | dict[str, Any] | list[Any] | None,
    headers: dict[str, str] | None,
    params: dict[str, str] | None,
    route_params: dict[str, str],
) -> func.HttpRequest:
    headers = dict(headers or {})
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = body or b""
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in (params or {}).items())
    url = f"http://127.0.0.1/api/{path.strip('/')}" + (f"?{query}" if query else "")
    return func.HttpRequest(
        method.upper(), url, headers=headers, params=params or {}, route_params=route_params, body=payload
    )
