"""The thin wrapper every Lambda handler goes through.

It parses the event into the handler's typed model (powertools parser), sets the migration id as the
Logger's correlation id, traces, emits metrics, optionally makes the call idempotent (powertools Idempotency
over DynamoDB), and turns typed errors into a Lambda failure the Azure side can rebuild:

* success: the handler's result model as a JSON-ready dict;
* failure: the Lambda raises an exception whose class name is the error type (the invoke payload's
  ``errorType``: ``TransientError``, ``InstanceNotFoundError``, …) and whose message (``errorMessage``) is the
  JSON of ``MigrationError.to_dict()``; ``shared.aws_contracts.error_from_lambda_payload`` rebuilds it.
  A malformed event fails with ``InvalidRequestError`` naming the fields.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.base import IdempotencyHandler
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ValidationError

from aws_lambdas.settings import Settings, SettingsError
from aws_lambdas.wiring import WIRING, Gateways
from shared.aws_contracts import LambdaEvent
from shared.errors import InvalidRequestError, MigrationError, TransientError

#: Where the names come from: the function's environment, as the SAM template sets it (service per function,
#: metrics namespace per environment). Powertools reads both when these objects are built, at cold start.
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
#: Prefix of the idempotency records' keys (one table per environment already separates environments).
IDEMPOTENCY_KEY_PREFIX = "ec2-to-azure"

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def use_names(*, service: str, namespace: str) -> None:
    """Give the metrics the names a cold start reads from ``POWERTOOLS_SERVICE_NAME`` and
    ``POWERTOOLS_METRICS_NAMESPACE``: for a host that runs several functions in one process (the local runtime).
    The Logger's ``service`` key follows ``metrics.service`` at each invocation."""
    metrics.service = service
    metrics.namespace = namespace


E = TypeVar("E", bound=LambdaEvent)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Invocation:
    """What a handler body receives besides its event."""

    settings: Settings
    gateways: Gateways
    region: str


def wire_error(error: MigrationError) -> Exception:
    """An exception whose class name is the error's type and whose message is its JSON (see module doc)."""
    wire_type: type[Exception] = type(type(error).__name__, (Exception,), {"__module__": "aws_lambdas.errors"})
    return wire_type(json.dumps(error.to_dict(), sort_keys=True))


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "event"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def lambda_function(
    name: str, event_model: type[E], *, idempotent: bool = False
) -> Callable[[Callable[[E, Invocation], R]], Callable[[dict[str, Any], Any], dict[str, Any]]]:
    """Turn ``body(event, invocation) -> result model`` into a Lambda entry point ``(event, context) -> dict``."""

    def decorate(body: Callable[[E, Invocation], R]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            try:
                parsed = parse(event=event, model=event_model)
            except ValidationError as exc:
                raise InvalidRequestError(f"invalid {name} event: {_validation_message(exc)}", resource=name) from exc
            logger.set_correlation_id(parsed.migration_id)
            logger.append_keys(handler=name, service=metrics.service or logger.service)
            tracer.put_annotation(key="migration_id", value=parsed.migration_id)
            try:
                settings = WIRING.settings()
            except SettingsError as exc:
                raise InvalidRequestError(str(exc), code="Settings", resource=name) from exc
            region = parsed.region or settings.region
            invocation = Invocation(settings=settings, gateways=WIRING.gateways(region), region=region)

            def execute(event: dict[str, Any]) -> dict[str, Any]:
                return body(parsed, invocation).model_dump(mode="json")

            if not idempotent:
                return execute(event=parsed.model_dump(mode="json"))
            config = IdempotencyConfig(expires_after_seconds=settings.idempotency_expires_seconds)
            if context is not None:
                config.register_lambda_context(context)
            try:
                result: dict[str, Any] = IdempotencyHandler(
                    function=execute,
                    function_payload=parsed.model_dump(mode="json"),
                    config=config,
                    persistence_store=WIRING.persistence(name),
                    key_prefix=f"{IDEMPOTENCY_KEY_PREFIX}.{name}",
                    function_args=(),
                    function_kwargs={"event": parsed.model_dump(mode="json")},
                ).handle()
            except IdempotencyAlreadyInProgressError as exc:
                raise TransientError(
                    f"{name} for {parsed.migration_id} is already running", code="InProgress", resource=name
                ) from exc
            except IdempotencyPersistenceLayerError as exc:
                cause = exc.__cause__ if isinstance(exc.__cause__, MigrationError) else None
                raise cause or TransientError(f"idempotency store: {exc}", code="IdempotencyStore") from exc
            return result

        @functools.wraps(body)
        @logger.inject_lambda_context(clear_state=True)
        @tracer.capture_lambda_handler(capture_response=False)
        @metrics.log_metrics
        def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            metrics.add_metadata(key="function", value=name)
            try:
                result = run(event, context)
            except MigrationError as error:
                metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=1)
                logger.warning(f"{name} failed", extra={"error": error.to_dict()})
                raise wire_error(error) from error
            metrics.add_metric(name="Successes", unit=MetricUnit.Count, value=1)
            return result

        return lambda_handler

    return decorate
