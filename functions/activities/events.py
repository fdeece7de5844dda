"""Publishing lifecycle events from an orchestration's outbox (Service Bus topic in the cloud, the event log locally).

The outbox (:mod:`functions.workflows.outbox`) calls this activity with a batch of pending events. It answers like
every step activity (:mod:`functions.activities._step`): ``{"value": {"published": n}}``, or the error, never
raised, so a topic outage costs the orchestration one answer and the events stay in the outbox for the next try.
Each event's id is the Service Bus message id (the topic's duplicate detection drops a re-send; the local event log
writes an id once), so publishing a batch again after a lost answer delivers nothing twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from shared.pipeline import MigrationEvent


class PublishEventsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[MigrationEvent]


class Published(BaseModel):
    published: int


def _publish(batch: PublishEventsInput) -> Published:
    runtime.current().events.publish(batch.events)
    return Published(published=len(batch.events))


@bp.activity_trigger(input_name="payload")
def publish_events(payload: dict[str, Any]) -> dict[str, Any]:
    """Publish a batch of the outbox's events."""
    return run_step(payload, PublishEventsInput, _publish)
