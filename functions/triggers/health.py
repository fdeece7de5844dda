"""``replication_health``: a timer sweeps every replicating VM's health, page by page, and wakes its orchestration.

Site Recovery is asked once per page of protected items (not once per VM); a VM's orchestration gets a
``replication_health`` event only when something it waits on changed: initial replication finished, or the health
level moved (degraded or recovered; the first sighting counts, so the VM stores a first snapshot). Progress alone
wakes nobody: a VM waiting through a day of initial replication replays only when its replication changes. A stall
after progress moved is Site Recovery's own verdict (``initialReplicationProgressHealth``, health errors, the RPO's
calculation time), see :mod:`shared.health`. A VM waiting for its final sync gets the ``final_sync`` event when
its item reports a recovery point newer than the source's stop (the replication watch, :mod:`functions.triggers.watch`,
does the same every few seconds). Degradations are published as alert events.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions import runtime
from functions.settings import HEALTH_SCHEDULE_SETTING
from functions.triggers import bp
from functions.triggers.instances import list_instances
from functions.triggers.pages import protected_items
from shared import site_recovery as sr
from shared.health import (
    HealthAssessment,
    HealthErrorDetail,
    HealthThresholds,
    ReplicationHealthInput,
    assess_health,
    degraded,
)
from shared.lifecycle import VmProgress, VmState
from shared.pipeline import FINAL_SYNC_EVENT, HEALTH_EVENT, EventType, MigrationEvent, VmInput
from shared.watch import WaitKind, final_sync_event

logger = logging.getLogger(__name__)

#: VM states whose orchestration listens to health events.
WATCHED = {VmState.INITIAL_REPLICATION, VmState.REPLICATING, VmState.AWAITING_APPROVAL}


@bp.timer_trigger(schedule=f"%{HEALTH_SCHEDULE_SETTING}%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def replication_health(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Sweep health on the schedule in app setting ``REPLICATION_HEALTH_SCHEDULE`` (15 minutes in the templates)."""
    report = await sweep(client, runtime.current().now())
    logger.info("replication health sweep: %s", report)


async def sweep(client: Any, now: datetime) -> dict[str, int]:
    """One sweep at ``now``; returns counts (VMs watched, pages read, events raised, alerts published)."""
    rt = runtime.current()
    thresholds = rt.settings.health_thresholds
    watched = await _watched_vms(client)
    by_vault: dict[sr.VaultRef, int] = defaultdict(int)
    for vault, _ in watched:
        by_vault[vault] += 1
    counts = {"watched": len(watched), "pages": 0, "events": 0, "alerts": 0}
    alerts: list[MigrationEvent] = []
    for vault in by_vault:
        async for item in protected_items(rt.site_recovery(vault), vault, counts):
            found = watched.get((vault, item.item.item_name))
            if found is None:
                continue
            orchestration_id, progress = found
            waiting = progress.waiting_for
            if waiting is not None and waiting.kind is WaitKind.FINAL_SYNC:
                synced = final_sync_event(item, waiting)
                if synced is not None:
                    await client.raise_event(orchestration_id, FINAL_SYNC_EVENT, synced)
                    counts["events"] += 1
                continue
            if progress.state not in WATCHED:
                continue
            assessment = assess_health(_health_input(item, progress, now, thresholds))
            event = _event_for(item, progress, assessment)
            if event is not None:
                await client.raise_event(orchestration_id, HEALTH_EVENT, event)
                counts["events"] += 1
            if degraded(progress.health or None, assessment.level):
                alerts.append(_alert(orchestration_id, progress, assessment, now))
    if alerts:
        rt.events.publish(alerts)
        counts["alerts"] = len(alerts)
    return counts


async def _watched_vms(client: Any) -> dict[tuple[sr.VaultRef, str], tuple[str, VmProgress]]:
    """Running VM orchestrations that listen to health events or wait for their final sync, by (vault, protected
    item)."""
    watched: dict[tuple[sr.VaultRef, str], tuple[str, VmProgress]] = {}
    for status in await list_instances(client, statuses=[df.OrchestrationRuntimeStatus.Running], prefix="vm-"):
        custom = status.get("customStatus")
        if not isinstance(custom, dict):
            continue
        progress = VmProgress.model_validate(custom)
        final_sync = progress.waiting_for is not None and progress.waiting_for.kind is WaitKind.FINAL_SYNC
        if (progress.state not in WATCHED and not final_sync) or not progress.protected_item:
            continue
        vault = _vault_of(status.get("input"))
        if vault is not None:
            watched[(vault, progress.protected_item)] = (str(status.get("instanceId")), progress)
    return watched


def _vault_of(raw_input: Any) -> sr.VaultRef | None:
    try:
        spec = VmInput.model_validate(raw_input if isinstance(raw_input, dict) else {})
    except ValueError:
        return None
    return sr.VaultRef(
        subscription_id=spec.target.subscription_id,
        resource_group=spec.target.vault.resource_group,
        vault_name=spec.target.vault.name,
    )


def _health_input(
    item: sr.ProtectedItemSummary, progress: VmProgress, now: datetime, thresholds: HealthThresholds
) -> ReplicationHealthInput:
    """The sweep's reading of one item. A value Site Recovery does not document is never read as healthy: an
    undocumented replication health goes on as it was sent (the assessment warns about it), and every other
    undocumented value becomes a warning naming the field and the value."""
    odd = dict(value.split("=", 1) for value in item.unknown_values if "=" in value)
    health = item.replication_health
    if health == sr.UNKNOWN:
        health = odd.pop("replicationHealth", sr.UNKNOWN)
    return ReplicationHealthInput(
        item_name=item.item.item_name,
        replication_health=health if health != "None" else "",
        health_errors=[
            *(
                HealthErrorDetail(code=issue.code, message=issue.message, severity=issue.level)
                for issue in item.health_errors
            ),
            *(
                HealthErrorDetail(
                    code="UndocumentedValue",
                    message=f"Site Recovery reported {field} {value!r}, which its API does not document",
                    severity="Warning",
                )
                for field, value in odd.items()
            ),
        ],
        rpo_seconds=item.rpo_seconds,
        last_rpo_calculated_at=item.last_rpo_time,
        initial_replication_progress_percent=item.initial_replication_percent,
        initial_replication_health=item.initial_replication_health
        if item.initial_replication_health != sr.UNKNOWN
        else "",
        previous=progress.health_snapshot,
        now=now,
        thresholds=thresholds,
    )


def _event_for(
    item: sr.ProtectedItemSummary, progress: VmProgress, assessment: HealthAssessment
) -> dict[str, Any] | None:
    """The health event for a VM, only when what it waits on changed: initial replication complete, or the level
    moved (the first sighting included). Progress alone is no change worth a replay."""
    complete = progress.state is VmState.INITIAL_REPLICATION and (
        item.initial_replication_percent == 100 or sr.AllowedOperation.TEST_FAILOVER in item.allowed_operations
    )
    if not (complete or assessment.level.value != progress.health):
        return None
    return {
        "level": assessment.level.value,
        "reasons": assessment.reasons,
        "progress_percent": assessment.progress_percent,
        "rpo_seconds": assessment.rpo_seconds,
        "snapshot": assessment.snapshot.model_dump(mode="json"),
        "initial_replication_complete": complete,
    }


def _alert(orchestration_id: str, progress: VmProgress, assessment: HealthAssessment, now: datetime) -> MigrationEvent:
    return MigrationEvent(
        event_id=f"{orchestration_id}:health:{now.isoformat()}",
        type=EventType.VM_HEALTH_DEGRADED,
        request_id=progress.request_id,
        orchestration_id=orchestration_id,
        instance_id=progress.instance_id,
        state=assessment.level.value,
        previous_state=progress.health,
        detail="; ".join(assessment.reasons),
        at=now,
        data={"rpo_seconds": assessment.rpo_seconds, "progress_percent": assessment.progress_percent},
    )
