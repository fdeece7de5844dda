"""The envelope every step activity speaks.

In: ``{"input": <the activity's typed model as JSON>}``. Out, never raised:

* ``{"value": <result>}``;
* ``{"transient": <MigrationError.to_dict()>}`` for a :class:`~shared.errors.TransientError`: the orchestrator
  retries it with the call's named policy (:mod:`functions.workflows.retrying`), publishing ``step.retried``;
* ``{"error": <MigrationError.to_dict()>}`` for everything else, which fails the step at once with its cause: a
  :class:`~shared.errors.PermanentError`, input that breaks the activity's contract, and a programming error
  (``TypeError``, ``KeyError``…: retrying a bug gives the same bug, 4 to 6 times later).

Lifecycle events ride along: an envelope may carry ``"events"``, the orchestration's outbox
(:mod:`functions.workflows.outbox`), which the activity publishes after the step's own work, so the events cost no
activity (no orchestration episode) of their own. Publishing never changes the step's answer: the answer says
``"events": "published"``, or ``"events": {"error": ...}`` and the outbox keeps them for the next try (a topic
outage delays events and never fails a step). A step that failed still publishes them: they happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from functions import runtime
from shared.errors import InvalidRequestError, MigrationError, PermanentError
from shared.pipeline import MigrationEvent

M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger(__name__)


def run_step(
    payload: dict[str, Any], model: type[M], body: Callable[[M], BaseModel | dict[str, Any] | list[Any] | None]
) -> dict[str, Any]:
    answer = _answer(payload, model, body)
    if payload.get("events"):
        answer["events"] = _publish_riders(payload["events"])
    return answer


def _publish_riders(events: list[Any]) -> str | dict[str, Any]:
    """Publish the outbox's events an envelope carries; ``"published"`` or the error, never raised."""
    try:
        runtime.current().events.publish([MigrationEvent.model_validate(event) for event in events])
    except MigrationError as error:
        return {"error": error.to_dict()}
    except Exception as error:  # the topic's SDK failing in a way the gateway did not type: still not the step's
        logger.warning("publishing %d ridden event(s) failed: %s", len(events), _first_line(error))
        return {"error": programming_error("publish_events", error).to_dict()}
    return "published"


def _answer(
    payload: dict[str, Any], model: type[M], body: Callable[[M], BaseModel | dict[str, Any] | list[Any] | None]
) -> dict[str, Any]:
    try:
        request = model.model_validate(payload.get("input") or {})
    except ValidationError as error:
        return {"error": InvalidRequestError(f"{model.__name__}: {_issues(error)}").to_dict()}
    try:
        value = body(request)
    except MigrationError as error:
        return {"transient" if error.transient else "error": error.to_dict()}
    except Exception as error:  # a bug or a broken contract: not worth a retry, worth its cause
        logger.exception("%s: programming error", model.__name__)
        return {"error": programming_error(model.__name__, error).to_dict()}
    if isinstance(value, BaseModel):
        return {"value": value.model_dump(mode="json")}
    return {"value": value}


def programming_error(where: str, error: Exception) -> PermanentError:
    """A permanent error naming the exception's type and first line, e.g. ``[KeyError] PrepareNetworkEvent: …``."""
    return PermanentError(f"{where}: {type(error).__name__}: {_first_line(error)}", code=type(error).__name__)


def _first_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return _issues(error)
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:400]


def _issues(error: ValidationError) -> str:
    """Every problem of a validation error on one line: ``path: what was expected; …``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or '(input)'}: {issue['msg']}"
        for issue in error.errors(include_url=False)
    )[:800]
