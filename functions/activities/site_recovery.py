"""Activities that act in Azure through the Site Recovery gateway. None of them waits for a job.

Every action is safe to run again (the host runs an activity at least once): when Site Recovery refuses a start
because the operation already runs (409) or is no longer allowed, the activity reads the item and answers with the
running job of that same scenario, or with no job when an earlier attempt already got the item where the action
leads. Only then is the refusal passed on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from shared import site_recovery as sr
from shared.errors import InvalidRequestError, NotFoundError, OperationInProgressError


class RecoveryPoints(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    points: list[sr.RecoveryPointInfo]


class ActionStarted(BaseModel):
    """The protected item an action is about, and the job to wait for (None: nothing left to wait for)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: sr.ProtectedItemRef
    job: sr.JobRef | None = None
    note: str = ""
    #: When the orchestration asked for the action (set by it, :meth:`ReplicationSteps.start_action`): a job the
    #: action created cannot have started earlier, so the replication watch reads the job list from there.
    requested_at: datetime | None = None


def _gateway(vault: sr.VaultRef) -> sr.SiteRecoveryGateway:
    return runtime.current().site_recovery(vault)


def _start(
    item: sr.ProtectedItemRef,
    start: Callable[[], sr.OperationStarted],
    scenarios: set[str],
    already_done: Callable[[sr.ReplicationStatus], bool],
) -> ActionStarted:
    gateway = _gateway(item.vault)
    try:
        started = start()
    except (OperationInProgressError, InvalidRequestError) as refused:
        try:
            status = gateway.get_replication_status(item)
        except NotFoundError:
            raise refused from None
        scenario = status.current_scenario
        if scenario is not None and scenario.job_name and scenario.name in scenarios:
            return ActionStarted(item=item, job=sr.JobRef(vault=item.vault, job_name=scenario.job_name))
        if already_done(status):
            return ActionStarted(item=item, note="already done by an earlier attempt")
        raise
    return ActionStarted(item=started.item or item, job=started.job)


def _item_of(spec: sr.EnableReplicationSpec) -> sr.ProtectedItemRef:
    topology = spec.topology
    return sr.ProtectedItemRef(
        vault=topology.vault,
        fabric_name=topology.fabric_name,
        container_name=topology.container_name,
        item_name=spec.protected_item_name,
    )


def _enable(spec: sr.EnableReplicationSpec) -> ActionStarted:
    return _start(
        _item_of(spec),
        lambda: _gateway(spec.topology.vault).enable_replication(spec),
        {"EnableDr", "EnableProtection"},
        lambda status: True,  # the item exists and nothing runs on it: an earlier attempt enabled it
    )


def _stop(item: sr.ProtectedItemRef) -> ActionStarted:
    try:
        return _start(
            item,
            lambda: _gateway(item.vault).stop_replication(item),
            {"DisableDr", "DisableProtection"},
            lambda status: False,
        )
    except NotFoundError:
        return ActionStarted(item=item, note="no replication to stop")


@bp.activity_trigger(input_name="payload")
def discover_topology(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.DiscoverTopologySpec, lambda s: _gateway(s.vault).discover_topology(s))


@bp.activity_trigger(input_name="payload")
def find_machine(payload: dict[str, Any]) -> dict[str, Any]:
    """The source among the machines Azure Migrate discovered (none / one / two candidates) and its agent's
    registration: the orchestration polls this with durable timers until the machine is there and registered."""
    return run_step(payload, sr.FindMachineSpec, lambda s: _gateway(s.topology.vault).find_machine(s))


@bp.activity_trigger(input_name="payload")
def enable_replication(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.EnableReplicationSpec, _enable)


@bp.activity_trigger(input_name="payload")
def replication_status(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.ProtectedItemRef, lambda s: _gateway(s.vault).get_replication_status(s))


@bp.activity_trigger(input_name="payload")
def start_test_failover(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(
        payload,
        sr.TestFailoverSpec,
        lambda s: _start(
            s.item,
            lambda: _gateway(s.item.vault).start_test_failover(s),
            {"TestFailover"},
            sr.can_cleanup_test_failover,
        ),
    )


@bp.activity_trigger(input_name="payload")
def cleanup_test_failover(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(
        payload,
        sr.ProtectedItemRef,
        lambda s: _start(
            s,
            lambda: _gateway(s.vault).cleanup_test_failover(s),
            {"TestFailoverCleanup"},
            lambda status: not sr.can_cleanup_test_failover(status),
        ),
    )


@bp.activity_trigger(input_name="payload")
def start_migration(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(
        payload,
        sr.MigrateSpec,
        lambda s: _start(
            s.item, lambda: _gateway(s.item.vault).start_migration(s), {"UnplannedFailover"}, sr.can_commit
        ),
    )


@bp.activity_trigger(input_name="payload")
def commit_migration(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(
        payload,
        sr.ProtectedItemRef,
        lambda s: _start(
            s,
            lambda: _gateway(s.vault).commit_migration(s),
            {"FailoverCommit"},
            lambda status: not sr.can_commit(status) and sr.can_stop_replication(status),
        ),
    )


@bp.activity_trigger(input_name="payload")
def cancel_failover(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(
        payload,
        sr.ProtectedItemRef,
        lambda s: _start(
            s,
            lambda: _gateway(s.vault).cancel_failover(s),
            {"CancelFailover", "FailoverCancel"},
            lambda status: not sr.can_commit(status),
        ),
    )


@bp.activity_trigger(input_name="payload")
def stop_replication(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.ProtectedItemRef, _stop)


@bp.activity_trigger(input_name="payload")
def job_status(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, sr.JobRef, lambda s: _gateway(s.vault).get_job(s))


@bp.activity_trigger(input_name="payload")
def recovery_points(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(
        payload, sr.ProtectedItemRef, lambda s: RecoveryPoints(points=_gateway(s.vault).list_recovery_points(s))
    )
