"""Activities that act in Azure through the Site Recovery gateway. None of them waits for a job."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from shared import site_recovery as sr
from shared.errors import NotFoundError


class ProtectableItemFound(BaseModel):
    """The machine's protectable item, or None while its agent has not registered yet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: sr.ProtectableItem | None = None


class RecoveryPoints(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    points: list[sr.RecoveryPointInfo]


def _gateway(vault: sr.VaultRef) -> sr.SiteRecoveryGateway:
    return runtime.current().site_recovery(vault)


def _find(spec: sr.FindProtectableItemSpec) -> ProtectableItemFound:
    try:
        return ProtectableItemFound(item=_gateway(spec.topology.vault).find_protectable_item(spec))
    except NotFoundError:
        return ProtectableItemFound(item=None)


@bp.activity_trigger(input_name="payload")
def discover_topology(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.DiscoverTopologySpec, lambda s: _gateway(s.vault).discover_topology(s))


@bp.activity_trigger(input_name="payload")
def find_protectable_item(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.FindProtectableItemSpec, _find)


@bp.activity_trigger(input_name="payload")
def enable_replication(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.EnableReplicationSpec, lambda s: _gateway(s.topology.vault).enable_replication(s))


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
