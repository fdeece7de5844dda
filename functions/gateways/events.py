"""Publishing lifecycle events to the Service Bus topic ``migration-events`` with the managed identity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.settings import FunctionAppSettings
from shared.errors import PermanentError, TransientError
from shared.pipeline import MigrationEvent


class ServiceBusEventPublisher:
    """:class:`shared.ports.EventPublisher` over azure-servicebus.

    The event id is the message id, so the topic's duplicate detection drops a re-published event.
    """

    def __init__(self, settings: FunctionAppSettings, client: Any | None = None) -> None:
        self._settings = settings
        self._client = client

    def publish(self, events: Sequence[MigrationEvent]) -> None:
        if not events:
            return
        from azure.servicebus import ServiceBusMessage  # noqa: PLC0415 - the SDK loads only where it is used
        from azure.servicebus import exceptions as sb  # noqa: PLC0415

        messages = [
            ServiceBusMessage(
                event.model_dump_json(),
                message_id=event.event_id,
                subject=event.type.value,
                content_type="application/json",
                application_properties={"request_id": event.request_id, "state": event.state},
            )
            for event in events
        ]
        try:
            with self._servicebus().get_topic_sender(self._settings.events_topic) as sender:
                sender.send_messages(messages)
        except sb.ServiceBusError as error:
            transient = (sb.ServiceBusConnectionError, sb.OperationTimeoutError, sb.ServiceBusServerBusyError)
            if isinstance(error, transient):
                raise TransientError(
                    str(error), code=type(error).__name__, resource=self._settings.events_topic
                ) from None
            raise PermanentError(str(error), code=type(error).__name__, resource=self._settings.events_topic) from None

    def _servicebus(self) -> Any:
        if self._client is None:
            if not self._settings.servicebus_namespace:
                raise PermanentError("ServiceBusConnection__fullyQualifiedNamespace is not set", code="NotConfigured")
            from azure.identity import ManagedIdentityCredential  # noqa: PLC0415
            from azure.servicebus import ServiceBusClient  # noqa: PLC0415

            credential = ManagedIdentityCredential(client_id=self._settings.managed_identity_client_id or None)
            self._client = ServiceBusClient(self._settings.servicebus_namespace, credential)
        return self._client
