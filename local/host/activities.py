"""Activities of the local host: dispatched to its thread pool, their answers enqueued to their orchestrations."""

from __future__ import annotations

import queue as stdlib_queue
import time

from .history import EventType, event
from .index import ACTIVITY
from .invoke import call_function, decode_activity_input, encode_activity_output, failure_details
from .parts import HostParts
from .status import Pending, WorkItem


class ActivityDispatch(HostParts):
    """The activity side of :class:`~local.host.host.LocalHost` (a mixin over its state)."""

    def _dispatch_work(self) -> None:
        with self._lock:
            items = list(self._work)
            self._work.clear()
            self._in_flight += len(items)
        for item in items:
            self._pool.submit(self._execute_activity, item)

    def _execute_activity(self, item: WorkItem) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            function = self.index.get(ACTIVITY, item.name)
            value = decode_activity_input(item.input_json)
            result = call_function(function, value, self._client_json)
            answer: tuple[WorkItem, bool, str, str] = (item, True, encode_activity_output(result), "")
        except Exception as exc:
            reason, details = failure_details(item.name, "Activity", exc)
            answer = (item, False, reason, details)
        with self._stats_lock:
            self.stats.activity_wall_seconds += time.perf_counter() - wall
            self.stats.activity_cpu_seconds += time.thread_time() - cpu
        self._results.put(answer)

    def _drain_results(self, *, block: bool) -> bool:
        results = []
        try:
            if block:
                results.append(self._results.get(timeout=30))
            while True:
                results.append(self._results.get_nowait())
        except stdlib_queue.Empty:
            pass
        if not results:
            return False
        pending = Pending()
        now = self.clock.now()
        with self._store.transaction() as db:
            for item, ok, payload, details in results:
                self._in_flight -= 1
                self.stats.activities_executed += 1
                if not ok:
                    self.stats.activity_failures += 1
                deleted = db.execute("DELETE FROM work WHERE work_id = ?", (item.work_id,)).rowcount
                if not deleted:
                    continue  # the instance finished, was terminated or purged meanwhile
                if ok:
                    completion = event(EventType.TASK_COMPLETED, now, TaskScheduledId=item.task_id, Result=payload)
                else:
                    completion = event(
                        EventType.TASK_FAILED, now, TaskScheduledId=item.task_id, Reason=payload, Details=details
                    )
                self._enqueue(db, pending, item.instance_id, item.execution_id, completion)
        self._apply(pending)
        return True
