"""The local event log: where lifecycle events go on the embedded default (the cloud uses a Service Bus topic)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from shared.pipeline import MigrationEvent


class EventLog:
    """:class:`shared.ports.EventPublisher` appending JSON lines to a file; an event id is written once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._seen = {event.event_id for event in self.read()}

    def publish(self, events: Sequence[MigrationEvent]) -> None:
        with self._lock:
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
