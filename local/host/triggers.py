"""Service Bus and timer triggers of the local host (Service Bus delivery and NCRONTAB schedules)."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from .history import format_timestamp, parse_timestamp
from .index import SERVICE_BUS, TIMER
from .invoke import call_function, service_bus_message, timer_request
from .parts import HostParts

logger = logging.getLogger(__name__)


class TriggerDispatch(HostParts):
    """The trigger side of :class:`~local.host.host.LocalHost` (a mixin over its state)."""

    def _deliver_messages(self) -> bool:
        delivered = False
        for function in self.index.of_type(SERVICE_BUS):
            queue_name = app_setting(str(function.trigger["queueName"]))
            while True:
                message = self.queue.receive(queue_name)
                if message is None:
                    break
                delivered = True
                self.stats.messages_delivered += 1
                try:
                    call_function(function, service_bus_message(message), self._client_json)
                except Exception as exc:
                    # As the Functions host does for a Python trigger without the SDK-type binding's message
                    # actions: abandon, so the broker redelivers up to the max delivery count and then
                    # dead-letters with its generic reason. Whatever the exception says stays in the logs.
                    self.stats.trigger_errors += 1
                    if self.queue.abandon(message):
                        self.stats.messages_dead_lettered += 1
                    logger.info(
                        "service bus trigger %s failed on message %s: %s", function.name, message.message_id, exc
                    )
                    continue
                self.queue.complete(message)
                self._drain_results(block=False)
                self._dispatch_work()
        return delivered

    def _init_cron(self) -> None:
        if not self._cron:
            return
        now = format_timestamp(self.clock.now())
        with self._store.transaction() as db:
            for name in self._cron:
                db.execute("INSERT OR IGNORE INTO cron (function_name, last_due) VALUES (?, ?)", (name, now))

    def _cron_last(self) -> dict[str, datetime]:
        with self._store.reading() as db:
            return {
                name: parse_timestamp(last) for name, last in db.execute("SELECT function_name, last_due FROM cron")
            }

    def _next_cron_due(self) -> datetime | None:
        last = self._cron_last()
        dues = [schedule.next_after(last[name]) for name, schedule in self._cron.items() if name in last]
        return min(dues) if dues else None

    def _fire_cron(self) -> bool:
        if not self._cron:
            return False
        fired = False
        now = self.clock.now()
        last = self._cron_last()
        for name, schedule in self._cron.items():
            if name not in last:
                continue
            due = schedule.next_after(last[name])
            if due > now:
                continue
            latest = due
            missed = 0
            while True:
                following = schedule.next_after(latest)
                if following > now:
                    break
                latest, missed = following, missed + 1
            with self._store.transaction() as db:
                db.execute("UPDATE cron SET last_due = ? WHERE function_name = ?", (format_timestamp(latest), name))
            function = self.index.get(TIMER, name)
            request = timer_request(
                due=latest,
                next_due=schedule.next_after(latest),
                now=now,
                past_due=missed > 0 or (now - latest) > timedelta(seconds=1),
            )
            fired = True
            self.stats.timer_triggers_fired += 1
            try:
                call_function(function, request, self._client_json)
            except Exception:
                self.stats.trigger_errors += 1
                logger.exception("timer trigger %s failed", name)
        return fired


def app_setting(value: str) -> str:
    """Resolve a binding expression ``%NAME%`` from the environment, as the Functions host does app settings."""
    if len(value) > 2 and value.startswith("%") and value.endswith("%"):
        name = value[1:-1]
        resolved = os.environ.get(name)
        if resolved is None:
            raise KeyError(f"app setting {name} is not set (the binding uses {value})")
        return resolved
    return value
