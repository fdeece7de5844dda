"""What the parts of :class:`~local.host.host.LocalHost` share: its state, the writes every part makes (create or
delete an instance, enqueue an event, apply what a committed transaction decided), and the two methods one part
calls on another, for the mixins (:mod:`.operations`, :mod:`.activities`, :mod:`.triggers`) the host combines."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .client_api import ClientApiError
from .engine import PENDING, TERMINAL_STATUSES, EngineState
from .history import execution_started, format_timestamp
from .status import InstanceChange, Pending

if TYPE_CHECKING:
    import queue as stdlib_queue
    import threading
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from local.clock import Clock

    from .index import FunctionIndex
    from .ncrontab import CronSchedule
    from .queue import EmbeddedQueue
    from .status import HostStats, WorkItem
    from .store import Store

logger = logging.getLogger(__name__)


class HostParts:
    """The host's state and the writes every part makes; ``_drain_results`` and ``_dispatch_work`` are
    :class:`~local.host.activities.ActivityDispatch`'s."""

    index: FunctionIndex
    clock: Clock
    stats: HostStats
    queue: EmbeddedQueue
    _store: Store
    _client_json: str | None
    _cron: dict[str, CronSchedule]
    _lock: threading.RLock
    _stats_lock: threading.Lock
    _work: deque[WorkItem]
    _in_flight: int
    _results: stdlib_queue.Queue[tuple[WorkItem, bool, str, str]]
    _pool: ThreadPoolExecutor
    _ready: dict[str, None]
    _histories: dict[str, list[str]]
    _listeners: list[Callable[[InstanceChange], None]]

    def _create_instance(
        self,
        db: Any,
        pending: Pending,
        name: str,
        instance_id: str,
        input_json: str | None,
        parent: dict[str, Any] | None,
    ) -> None:
        existing = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
        if existing is not None:
            if existing[0] not in TERMINAL_STATUSES:
                raise ClientApiError(
                    400, f"An orchestration with instance ID '{instance_id}' already exists with status {existing[0]}"
                )
            self._delete_instance(db, instance_id)
        now = self.clock.now()
        execution_id = uuid.uuid4().hex
        db.execute(
            "INSERT INTO instances (instance_id, name, execution_id, status, input_json, created_at, updated_at, "
            "parent_json, engine_json, history_len) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                instance_id,
                name,
                execution_id,
                PENDING,
                input_json,
                format_timestamp(now),
                format_timestamp(now),
                json.dumps(parent) if parent else None,
                EngineState().to_json(),
            ),
        )
        started = execution_started(
            now, name=name, input_json=input_json, instance_id=instance_id, execution_id=execution_id, parent=parent
        )
        self._enqueue(db, pending, instance_id, execution_id, started)
        pending.changes.append(InstanceChange(instance_id, name, PENDING, None, None, None, now))

    def _delete_instance(self, db: Any, instance_id: str) -> None:
        for table in ("instances", "history", "inbox", "timers", "work"):
            db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))  # noqa: S608
        self._histories.pop(instance_id, None)

    def _enqueue(
        self, db: Any, pending: Pending, instance_id: str, execution_id: str | None, item: dict[str, Any]
    ) -> None:
        db.execute(
            "INSERT INTO inbox (instance_id, execution_id, event_json) VALUES (?, ?, ?)",
            (instance_id, execution_id, json.dumps(item, separators=(",", ":"))),
        )
        pending.ready.add(instance_id)

    def _apply(self, pending: Pending) -> None:
        with self._lock:
            for instance_id in pending.ready:
                self._ready[instance_id] = None
            self._work.extend(pending.work)
        for change in pending.changes:
            for listener in self._listeners:
                try:
                    listener(change)
                except Exception:
                    logger.exception("instance-change listener failed")

    def _drain_results(self, *, block: bool) -> bool:
        raise NotImplementedError

    def _dispatch_work(self) -> None:
        raise NotImplementedError
