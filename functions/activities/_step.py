"""The envelope every step activity speaks.

In: ``{"input": <the activity's typed model as JSON>, "events": [<lifecycle events to publish first>]}``.
Out: ``{"value": <result>}``, or ``{"error": <MigrationError.to_dict()>}`` for a permanent error (the orchestrator
fails the VM at that step without retrying). Transient errors are raised, so the call's retry policy retries them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from functions import runtime
from shared.errors import InvalidRequestError, PermanentError
from shared.pipeline import MigrationEvent

M = TypeVar("M", bound=BaseModel)


def run_step(
    payload: dict[str, Any], model: type[M], body: Callable[[M], BaseModel | dict[str, Any] | list[Any] | None]
) -> dict[str, Any]:
    events = [MigrationEvent.model_validate(event) for event in payload.get("events") or ()]
    if events:
        runtime.current().events.publish(events)
    try:
        request = model.model_validate(payload.get("input") or {})
    except ValidationError as error:
        return {"error": InvalidRequestError(f"{model.__name__}: {error}").to_dict()}
    try:
        value = body(request)
    except PermanentError as error:
        return {"error": error.to_dict()}
    if isinstance(value, BaseModel):
        return {"value": value.model_dump(mode="json")}
    return {"value": value}
