"""Publishing lifecycle events (Service Bus topic in the cloud, the event log locally)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from functions.activities import bp
from functions.activities._step import run_step


class NoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


@bp.activity_trigger(input_name="payload")
def publish_events(payload: dict[str, Any]) -> dict[str, Any]:
    """Publish the events in the envelope (the envelope does the work; there is nothing else to do)."""
    return run_step(payload, NoInput, lambda _: None)
