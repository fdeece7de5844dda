"""The local event log: where lifecycle events go on the embedded default (the cloud uses a Service Bus topic).

It behaves as the topic does for the pipeline: an event id (the Service Bus message id) is written once, as the
topic's duplicate detection keeps it; and during a scenario's outage (:class:`TopicOutage`) a publish fails with
the :class:`~shared.errors.TransientError` that :class:`functions.gateways.events.ServiceBusEventPublisher` raises
when azure-servicebus cannot reach the namespace (``ServiceBusConnectionError``), and writes nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shared.errors import TransientError
from shared.pipeline import MigrationEvent

#: The topic's name in the cloud (infra/azure/modules/servicebus.bicep), named in outage errors.
TOPIC = "migration-events"


@dataclass(frozen=True)
class TopicOutage:
    """The topic cannot be reached from ``start`` (inclusive) to ``end`` (exclusive), on the stack's clock."""

    start: datetime
    end: datetime


class EventLog:
    """:class:`shared.ports.EventPublisher` appending JSON lines to a file; an event id is written once."""

    def __init__(
        self, path: Path, *, outages: Sequence[TopicOutage] = (), now: Callable[[], datetime] | None = None
    ) -> None:
        if outages and now is None:
            raise ValueError("an event log with outages needs the clock they are on")
        self.path = path
        self.outages = tuple(outages)
        self._now = now
        #: Publishes refused by an outage (each would have been a ServiceBusConnectionError in the cloud).
        self.refused = 0
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._seen = {event.event_id for event in self.read()}

    def publish(self, events: Sequence[MigrationEvent]) -> None:
        with self._lock:
            if self._now is not None and any(o.start <= self._now() < o.end for o in self.outages):
                self.refused += 1
                raise TransientError(
                    "cannot reach the Service Bus namespace (scenario outage of the event topic)",
                    code="ServiceBusConnectionError",
                    resource=TOPIC,
                )
            fresh = [event for event in events if event.event_id not in self._seen]
            if not fresh:
                return
            with self.path.open("a", encoding="utf-8") as stream:
                for event in fresh:
                    stream.write(event.model_dump_json() + "\n")
            self._seen.update(event.event_id for event in fresh)

    def read(self) -> Iterator[MigrationEvent]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as stream:
            for line in stream:
                if line.strip():
                    yield MigrationEvent.model_validate(json.loads(line))
