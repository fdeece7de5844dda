"""``migration_requested``: a migration request arrives on the Service Bus queue and starts its wave."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from functions import operations, runtime
from functions.orchestrators import WAVE_ORCHESTRATOR
from functions.settings import REQUESTS_QUEUE, SERVICEBUS_CONNECTION
from functions.triggers import bp
from shared.errors import DeadLetterError, InvalidRequestError
from shared.pipeline import EventType, MigrationEvent, WaveInput
from shared.request import MigrationRequest, parse_request

logger = logging.getLogger(__name__)

#: Orchestration statuses in which a VM counts as busy in a wave.
_ACTIVE = {"Running", "Pending", "ContinuedAsNew"}


@bp.service_bus_queue_trigger(arg_name="message", queue_name=REQUESTS_QUEUE, connection=SERVICEBUS_CONNECTION)
@bp.durable_client_input(client_name="client")
async def migration_requested(message: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    """Validate the request and start ``migrate_wave`` as ``wave-{request_id}``, unless it already exists.

    A bad message starts nothing: its reason is published as a ``request.rejected`` event keyed by the message id,
    and the trigger raises ``DeadLetterError``, so the platform redelivers it up to the queue's max delivery count
    and dead-letters it with ``MaxDeliveryCountExceeded`` (the SDK-type binding that could settle with our own
    reason is a beta we do not use: ``docs/dead-lettering.md``). ``cli dlq list`` joins the two.
    """
    try:
        request = parse_request(message.get_body())
    except InvalidRequestError as error:
        _reject(message, "InvalidRequest", "; ".join(error.issues))
    existing = await client.get_status(request.wave_instance_id)
    if existing:
        logger.info("request %s already has wave %s: nothing new started", request.request_id, existing.instance_id)
        return
    busy = await _instances_in_other_waves(client, request)
    if busy:
        _reject(message, "InstanceInAnotherWave", "; ".join(busy))
    settings = runtime.current().settings
    wave = WaveInput(request=request, timings=settings.timings, batch_size=settings.batch_size)
    await client.start_new(WAVE_ORCHESTRATOR, request.wave_instance_id, wave.model_dump(mode="json"))
    logger.info("started %s with %d VMs", request.wave_instance_id, len(request.vms))


async def _instances_in_other_waves(client: df.DurableOrchestrationClient, request: MigrationRequest) -> list[str]:
    wanted = {vm.instance_id for vm in request.vms}
    busy = []
    for status in await client.get_status_all():
        instance = status.instance_id or ""
        if not instance.startswith("vm-") or instance.startswith(f"vm-{request.request_id}-"):
            continue
        if operations.runtime_status_of(status) not in _ACTIVE:
            continue
        ec2_id = instance[instance.rfind("-i-") + 1 :]
        if ec2_id in wanted:
            busy.append(f"{ec2_id} is already migrating in {instance}")
    return sorted(busy)


def _reject(message: func.ServiceBusMessage, reason: str, description: str) -> None:
    description = description[:4000]
    logger.warning("dead-lettering message %s: %s: %s", message.message_id, reason, description)
    try:
        runtime.current().events.publish(
            [
                MigrationEvent(
                    event_id=f"rejected:{message.message_id}",
                    type=EventType.REQUEST_REJECTED,
                    request_id="",
                    orchestration_id="",
                    state=reason,
                    detail=description,
                    at=message.enqueued_time_utc or datetime.now(UTC),
                )
            ]
        )
    except Exception:
        logger.exception("could not publish the rejection event for %s", message.message_id)
    raise DeadLetterError(reason, description)
