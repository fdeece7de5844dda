"""What the parts of :class:`~local.host.host.LocalHost` share: its state and the few methods one part calls on
another, declared once for the mixins (:mod:`.operations`, :mod:`.activities`, :mod:`.triggers`) that the host
class combines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import queue as stdlib_queue
    import threading
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from local.clock import Clock

    from .index import FunctionIndex
    from .ncrontab import CronSchedule
    from .queue import EmbeddedQueue
    from .status import HostStats, Pending, WorkItem
    from .store import Store


class HostParts:
    """The host's state, and the methods the parts call on each other (defined by the host or another part)."""

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

    def _create_instance(
        self,
        db: Any,
        pending: Pending,
        name: str,
        instance_id: str,
        input_json: str | None,
        parent: dict[str, Any] | None,
    ) -> None:
        raise NotImplementedError

    def _delete_instance(self, db: Any, instance_id: str) -> None:
        raise NotImplementedError

    def _enqueue(
        self, db: Any, pending: Pending, instance_id: str, execution_id: str | None, item: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    def _apply(self, pending: Pending) -> None:
        raise NotImplementedError

    def _drain_results(self, *, block: bool) -> bool:
        raise NotImplementedError

    def _dispatch_work(self) -> None:
        raise NotImplementedError
