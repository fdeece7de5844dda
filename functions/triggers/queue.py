"""``migration_requested``: a migration request arrives on the Service Bus queue and starts its wave."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions import operations, runtime
from functions.orchestrators import WAVE_ORCHESTRATOR
from functions.settings import REQUESTS_QUEUE, SERVICEBUS_CONNECTION
from functions.triggers import bp
from shared.errors import DeadLetterError, InvalidRequestError
from shared.pipeline import EventType, MigrationEvent, WaveInput
from shared.request import (
    InstanceClaim,
    MigrationRequest,
    claim_instance_id,
    parse_request,
    vm_instance_id,
    wave_instance_id,
)

logger = logging.getLogger(__name__)

#: Orchestration statuses in which a VM counts as busy in a wave.
_ACTIVE = {"Running", "Pending", "ContinuedAsNew"}
#: The registered name of :func:`claim_instance` (a test keeps them equal).
CLAIM_ORCHESTRATOR = "claim_instance"


@bp.service_bus_queue_trigger(arg_name="message", queue_name=REQUESTS_QUEUE, connection=SERVICEBUS_CONNECTION)
@bp.durable_client_input(client_name="client")
async def migration_requested(message: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    """Validate the request and start ``migrate_wave`` as ``wave-{request_id}``, unless it already exists.

    A bad message, or a request this deployment must not run (another environment's, or a target vault its
    identity may not use), starts nothing: its reason is published as a ``request.rejected`` event keyed by the
    message id, and the trigger raises ``DeadLetterError``, so the platform redelivers it up to the queue's max
    delivery count and dead-letters it with ``MaxDeliveryCountExceeded`` (the SDK-type binding that could settle
    with our own reason is a beta we do not use: ``docs/dead-lettering.md``). ``cli dlq list`` joins the two.
    """
    try:
        request = parse_request(message.get_body())
    except InvalidRequestError as error:
        _reject(message, "InvalidRequest", "; ".join(error.issues))
    refusals = runtime.current().settings.refusals(request)
    if refusals:
        _reject(message, "NotThisDeployment", "; ".join(refusals))
    existing = await client.get_status(request.wave_instance_id)
    if existing:
        logger.info("request %s already has wave %s: nothing new started", request.request_id, existing.instance_id)
        return
    busy, claimed = await _instances_in_other_waves(client, request)
    if busy:
        _reject(message, "InstanceInAnotherWave", "; ".join(busy))
    for vm in request.vms:
        if vm.instance_id in claimed:
            continue  # a redelivery of this request claimed it already
        claim = InstanceClaim(request_id=request.request_id, instance_id=vm.instance_id)
        await client.start_new(CLAIM_ORCHESTRATOR, claim_instance_id(vm.instance_id), claim.model_dump(mode="json"))
    settings = runtime.current().settings
    wave = WaveInput(request=request, timings=settings.timings, batch_size=settings.batch_size)
    await client.start_new(WAVE_ORCHESTRATOR, request.wave_instance_id, wave.model_dump(mode="json"))
    logger.info("started %s with %d VMs", request.wave_instance_id, len(request.vms))


@bp.orchestration_trigger(context_name="context")
def claim_instance(context: df.DurableOrchestrationContext) -> dict[str, Any]:
    """The record of which request last took an EC2 instance into a wave (``claim-{instance id}``).

    It schedules nothing and completes with its input (an ``InstanceClaim``; the SDK runs a function that is not a
    generator as an orchestrator that returns at once). The queue trigger reads it by id, so
    "is this instance in another active wave?" costs a few lookups per VM asked, however long the task hub's
    history. Starting it again for a new request replaces the finished record.
    """
    return InstanceClaim.model_validate(context.get_input()).model_dump(mode="json")


async def _instances_in_other_waves(
    client: df.DurableOrchestrationClient, request: MigrationRequest
) -> tuple[list[str], set[str]]:
    """The request's instances another request claimed and still migrates, and those it claimed itself.

    O(VMs asked) point lookups.

    Per VM: the claim record; if another request holds it, that request's VM orchestration, or — when it has not
    started yet (the wave preflights first and runs at most ``max_parallel`` at a time) — its wave.
    """
    busy, claimed = [], set()
    for vm in request.vms:
        claim = await client.get_status(claim_instance_id(vm.instance_id), show_input=True)
        holder = _claimed_by(claim)
        if holder == request.request_id:
            claimed.add(vm.instance_id)
        if not holder or holder == request.request_id:
            continue
        migrating = await client.get_status(vm_instance_id(holder, vm.instance_id))
        if migrating:
            if operations.runtime_status_of(migrating) in _ACTIVE:
                busy.append(f"{vm.instance_id} is already migrating in {migrating.instance_id}")
            continue
        wave = await client.get_status(wave_instance_id(holder))
        if wave and operations.runtime_status_of(wave) in _ACTIVE:
            busy.append(f"{vm.instance_id} is waiting to migrate in {wave.instance_id}")
    return busy, claimed


def _claimed_by(status: Any) -> str:
    data = operations.input_of(status)
    return str(data.get("request_id") or "") if isinstance(data, dict) else ""


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
