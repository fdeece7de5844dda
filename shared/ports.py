"""Ports the Azure side depends on; adapters in ``functions/gateways`` and ``local/`` implement them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from shared.pipeline import MigrationEvent


class LambdaInvoker(Protocol):
    """Invokes one of the project's AWS Lambdas by its short name (``prepare_network``…).

    Returns the handler's result as a dict; raises the typed :class:`~shared.errors.MigrationError` the Lambda
    failed with (rebuilt from its payload) or a transient error when the invoke itself was throttled.
    """

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]: ...


class EventPublisher(Protocol):
    """Publishes lifecycle events; publishing the same ``event_id`` twice delivers it once."""

    def publish(self, events: Sequence[MigrationEvent]) -> None: ...
