"""The outbox: lifecycle events kept with the orchestration until the topic has them.

An orchestration never publishes in the middle of a step. :meth:`Outbox.add` keeps an event in the orchestration's
state (carried across ``continue_as_new`` in :class:`shared.pipeline.VmCheckpoint`). The pending batch rides with
the next step activity the orchestration calls (:meth:`Outbox.riders` / :meth:`Outbox.rode`; the activity publishes
it after its own work, :mod:`functions.activities._step`), so events cost no activity and no episode of their own.
What is still pending when the orchestration is about to wait for longer than :data:`MAX_EVENT_DELAY` goes to its
own activity (:meth:`Outbox.publish`, :func:`functions.activities.events.publish_events`) first, so an event is
never held back longer than that by a wait; the step never depends on the topic. A failed publish (a topic outage)
leaves the batch in the outbox for the next natural point; only when the orchestration is about to end does
:meth:`Outbox.deliver` insist, retrying on durable timers by the named policy :data:`functions.retry.EVENT_PUBLISH`
(about a day), and even then an undeliverable outbox never changes the VM's outcome.

Every event's id is deterministic (orchestration id and sequence) and is the Service Bus message id, so a batch
published again after a lost answer is dropped by the topic's duplicate detection (the local event log writes an id
once): an outage delays events and never duplicates them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from datetime import datetime, timedelta
from typing import Any

from functions import retry
from functions.activities import events as event_activities
from functions.workflows.retrying import describe
from shared.pipeline import MigrationEvent

Flow = Generator[Any, Any, Any]

#: Events per publish: a Service Bus batch must fit one message batch (256 KB on Standard); ours are ~1 KB each.
MAX_BATCH = 50

#: The longest a wait may hold pending events back before they are published on their own (seconds): guest command
#: polls and short boots ride on the next step; waits for jobs, replication and approval publish first.
MAX_EVENT_DELAY = 120.0


class Outbox:
    """Pending events of one orchestration, published in batches before its waits."""

    def __init__(self, context: Any, pending: Iterable[MigrationEvent] = ()) -> None:
        self.context = context
        self.pending: list[MigrationEvent] = list(pending)
        self.failures = 0
        self.last_error = ""
        self._failed_at: datetime | None = None

    def add(self, event: MigrationEvent) -> None:
        self.pending.append(event)

    def riders(self) -> list[MigrationEvent]:
        """The batch to send with the next step activity (it publishes them after its work)."""
        return self.pending[:MAX_BATCH]

    def rode(self, batch: list[MigrationEvent], status: Any) -> None:
        """What became of a batch that rode with an activity: ``"published"`` (gone from the outbox), an error (kept,
        and no separate publish is tried at this same orchestration time) or nothing said (kept)."""
        if not batch:
            return
        if status == "published":
            self._sent(batch)
        elif isinstance(status, dict) and isinstance(status.get("error"), dict):
            self._failed(describe(status["error"]))

    def publish_before(self, seconds: float) -> Flow:
        """Before a wait of up to ``seconds``: publish now when the wait could hold the oldest pending event back
        longer than :data:`MAX_EVENT_DELAY`; otherwise the events ride with the next step."""
        if not self.pending:
            return True
        oldest = min(event.at for event in self.pending)
        held = (self.context.current_utc_datetime - oldest).total_seconds() + seconds
        if held <= MAX_EVENT_DELAY:
            return False
        emptied = yield from self.publish()
        return emptied

    def publish(self) -> Flow:
        """Try once to publish what is pending (at most :data:`MAX_BATCH` events); returns whether the outbox is
        empty now. A failed try at this same orchestration time is not repeated."""
        now: datetime = self.context.current_utc_datetime
        if not self.pending or self._failed_at == now:
            return not self.pending
        batch = self.pending[:MAX_BATCH]
        answer = yield self.context.call_activity(
            event_activities.publish_events, {"input": {"events": [event.model_dump(mode="json") for event in batch]}}
        )
        if isinstance(answer, dict) and "value" in answer:
            self._sent(batch)
            return not self.pending
        cause = (answer.get("transient") or answer.get("error")) if isinstance(answer, dict) else None
        self._failed(describe(cause) if isinstance(cause, dict) else f"unexpected answer {answer!r}"[:200])
        return False

    def _sent(self, batch: list[MigrationEvent]) -> None:
        sent = {event.event_id for event in batch}
        self.pending = [event for event in self.pending if event.event_id not in sent]

    def _failed(self, error: str) -> None:
        """A publish failed now: kept, and not tried again at this same orchestration time."""
        self.failures += 1
        self._failed_at = self.context.current_utc_datetime
        self.last_error = error

    def deliver(self, policy: retry.RetryPolicy = retry.EVENT_PUBLISH) -> Flow:
        """Publish everything before the orchestration ends, waiting out an outage on durable timers by ``policy``;
        returns whether the outbox is empty (False: the policy gave up, the events are lost to the topic)."""
        attempt = 0
        while True:
            emptied = yield from self.publish()
            if emptied:
                return True
            if self._failed_at != self.context.current_utc_datetime:
                continue  # the batch went out and more are pending: publish the next one now
            attempt += 1
            if attempt >= policy.attempts:
                return False
            delay = policy.delay_after(attempt)
            yield self.context.create_timer(self.context.current_utc_datetime + timedelta(seconds=delay))
