"""Durable Functions history events, in the JSON shape the Functions host sends to the Python SDK."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EventType(IntEnum):
    """``HistoryEventType`` numbers of the Durable Task Framework."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


class ActionType(IntEnum):
    """Action numbers in the orchestrator's replay-schema V2/V3 output."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


# Actions that take the next sequence number (the EventId of their scheduling event) when issued.
ID_ACTIONS = frozenset(
    {
        ActionType.CALL_ACTIVITY,
        ActionType.CALL_ACTIVITY_WITH_RETRY,
        ActionType.CALL_SUB_ORCHESTRATOR,
        ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        ActionType.CREATE_TIMER,
    }
)


def format_timestamp(when: datetime) -> str:
    """A UTC timestamp ending in ``Z``, as the host writes them."""
    if when.tzinfo is None:
        raise ValueError("history timestamps must be timezone-aware")
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Read a timestamp written by the host or the SDK (``...Z``, up to 7 fractional digits)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if "." in value:
        head, _, rest = value.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def event(event_type: EventType, when: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """One history event; ``IsPlayed`` is false until a later episode replays it."""
    return {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(when),
        **fields,
    }


def execution_started(
    when: datetime,
    *,
    name: str,
    input_json: str | None,
    instance_id: str,
    execution_id: str,
    parent: dict[str, Any] | None,
) -> dict[str, Any]:
    parent_instance = None
    if parent:
        parent_instance = {
            "Name": parent["name"],
            "OrchestrationInstance": {"InstanceId": parent["instance_id"], "ExecutionId": parent["execution_id"]},
            "TaskScheduleId": parent["task_id"],
        }
    return event(
        EventType.EXECUTION_STARTED,
        when,
        Name=name,
        Version="",
        Input=input_json,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent_instance,
        Tags=None,
    )
