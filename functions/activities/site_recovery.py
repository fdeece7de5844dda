"""Activities that act in Azure through the Site Recovery gateway. None of them waits for a job."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from shared import site_recovery as sr
from shared.errors import NotFoundError, OperationInProgressError


class ProtectableItemFound(BaseModel):
    """The machine's protectable item, or None while its agent has not registered yet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: sr.ProtectableItem | None = None


class RecoveryPoints(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    points: list[sr.RecoveryPointInfo]


class ReplicationEnabled(BaseModel):
    """The protected item, and the job to wait for (None: it was already enabled by an earlier attempt)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: sr.ProtectedItemRef
    job: sr.JobRef | None = None


def _gateway(vault: sr.VaultRef) -> sr.SiteRecoveryGateway:
    return runtime.current().site_recovery(vault)


def _find(spec: sr.FindProtectableItemSpec) -> ProtectableItemFound:
    try:
        return ProtectableItemFound(item=_gateway(spec.topology.vault).find_protectable_item(spec))
    except NotFoundError:
        return ProtectableItemFound(item=None)


def _enable(spec: sr.EnableReplicationSpec) -> ReplicationEnabled:
    """Enable replication; a re-run after a crash finds the item and the job it started instead of failing."""
    topology = spec.topology
    item = sr.ProtectedItemRef(
        vault=topology.vault,
        fabric_name=topology.fabric_name,
        container_name=topology.container_name,
        item_name=spec.protected_item_name,
        provider=topology.provider,
    )
    gateway = _gateway(topology.vault)
    try:
        started = gateway.enable_replication(spec)
    except OperationInProgressError:
        try:
            status = gateway.get_replication_status(item)
        except NotFoundError:
            raise OperationInProgressError(
                "another operation holds the machine", resource=spec.protected_item_name
            ) from None
        scenario = status.current_scenario
        job = sr.JobRef(vault=topology.vault, job_name=scenario.job_name) if scenario and scenario.job_name else None
        return ReplicationEnabled(item=item, job=job)
    return ReplicationEnabled(item=started.item or item, job=started.job)


@bp.activity_trigger(input_name="payload")
def discover_topology(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.DiscoverTopologySpec, lambda s: _gateway(s.vault).discover_topology(s))


@bp.activity_trigger(input_name="payload")
def find_protectable_item(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.FindProtectableItemSpec, _find)


@bp.activity_trigger(input_name="payload")
def enable_replication(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.EnableReplicationSpec, _enable)


@bp.activity_trigger(input_name="payload")
def replication_status(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.ProtectedItemRef, lambda s: _gateway(s.vault).get_replication_status(s))


@bp.activity_trigger(input_name="payload")
def start_test_failover(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.TestFailoverSpec, lambda s: _gateway(s.item.vault).start_test_failover(s))


@bp.activity_trigger(input_name="payload")
def cleanup_test_failover(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.ProtectedItemRef, lambda s: _gateway(s.vault).cleanup_test_failover(s))


@bp.activity_trigger(input_name="payload")
def start_migration(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.MigrateSpec, lambda s: _gateway(s.item.vault).start_migration(s))


@bp.activity_trigger(input_name="payload")
def commit_migration(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.ProtectedItemRef, lambda s: _gateway(s.vault).commit_migration(s))


@bp.activity_trigger(input_name="payload")
def stop_replication(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.ProtectedItemRef, lambda s: _gateway(s.vault).stop_replication(s))


@bp.activity_trigger(input_name="payload")
def job_status(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.JobRef, lambda s: _gateway(s.vault).get_job(s))


@bp.activity_trigger(input_name="payload")
def recovery_points(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(
        payload, sr.ProtectedItemRef, lambda s: RecoveryPoints(points=_gateway(s.vault).list_recovery_points(s))
    )
