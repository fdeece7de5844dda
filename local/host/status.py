"""What the local host reports (instance status, changes, counters) and the records it passes between its parts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .history import format_timestamp


@dataclass(frozen=True)
class InstanceStatus:
    """What ``status()`` reports about one orchestration instance."""

    instance_id: str
    name: str
    runtime_status: str
    input: Any
    output: Any
    custom_status: Any
    created_time: datetime
    last_updated_time: datetime
    history_length: int
    history: list[dict[str, Any]] | None = None

    def to_api_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "instanceId": self.instance_id,
            "createdTime": format_timestamp(self.created_time),
            "lastUpdatedTime": format_timestamp(self.last_updated_time),
            "input": self.input,
            "output": self.output,
            "runtimeStatus": self.runtime_status,
            "customStatus": self.custom_status,
        }
        if self.history is not None:
            data["history"] = self.history
        return data


@dataclass(frozen=True)
class InstanceChange:
    """Passed to listeners whenever an instance's runtime status or custom status changes."""

    instance_id: str
    name: str
    runtime_status: str
    custom_status: Any
    previous_status: str | None
    previous_custom_status: Any
    at: datetime


@dataclass
class HostStats:
    """Counters for benchmarks and the CLI."""

    episodes: int = 0
    events_replayed: int = 0
    #: The longest history any episode replayed, including executions that have since continued as new.
    longest_replay: int = 0
    activities_executed: int = 0
    activity_failures: int = 0
    messages_delivered: int = 0
    messages_dead_lettered: int = 0
    timer_triggers_fired: int = 0
    trigger_errors: int = 0
    clock_jumps: int = 0
    #: Real seconds the activities took and CPU seconds their threads used (what sizes a worker's thread pool:
    #: an activity that waits most of its time lets several run per core), and CPU seconds of the episodes.
    activity_wall_seconds: float = 0.0
    activity_cpu_seconds: float = 0.0
    episode_cpu_seconds: float = 0.0
    #: Orchestrator replays sent to the worker processes (the others ran in the host's process).
    worker_replays: int = 0
    #: Episodes per orchestrator and what woke them (``migrate_vm: task_completed``; several kinds joined by ``+``).
    episodes_by_trigger: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class WorkItem:
    work_id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input_json: str | None


@dataclass
class Pending:
    """Side effects of a transaction applied once it has committed."""

    ready: set[str] = field(default_factory=set)
    work: list[WorkItem] = field(default_factory=list)
    changes: list[InstanceChange] = field(default_factory=list)


def loads_or_none(text: str | None) -> Any:
    return json.loads(text) if text is not None else None
