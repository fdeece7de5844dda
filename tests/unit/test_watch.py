"""Wake on change: when the watchers wake a waiting VM (shared.watch) and when the health sweep does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.triggers.health import _event_for
from shared.health import HealthLevel, ReplicationHealthInput, assess_health
from shared.lifecycle import VmProgress, VmState
from shared.site_recovery import JobStatus, ProtectedItemRef, ProtectedItemSummary, VaultRef
from shared.watch import (
    WaitingFor,
    WaitKind,
    final_sync_event,
    final_sync_reached,
    job_event,
    job_of_event,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
VAULT = VaultRef(subscription_id="sub", resource_group="rg", vault_name="vault")
ITEM = ProtectedItemRef(vault=VAULT, fabric_name="f", container_name="c", item_name="ec2-i-1")


def _item(**changes: object) -> ProtectedItemSummary:
    return ProtectedItemSummary.model_validate({"item": ITEM, **changes})


def test_a_job_event_wakes_only_the_wait_for_that_job_once_it_ended() -> None:
    done = JobStatus(name="Job-1", state="Succeeded")
    assert job_of_event(job_event(done), "job-1") == done
    assert job_of_event(job_event(done), "job-2") is None  # another job's (a late duplicate): wait on
    assert job_of_event(job_event(JobStatus(name="job-1", state="InProgress")), "job-1") is None
    assert job_of_event({"state": "Succeeded"}, "job-1") is None and job_of_event("x", "job-1") is None
    failed = JobStatus(name="job-1", state="Failed", error_code="E", error_message="broke")
    assert job_of_event(job_event(failed), "job-1") == failed


def test_the_final_sync_event_needs_a_recovery_point_newer_than_the_stop() -> None:
    stopped = NOW
    waiting = WaitingFor(kind=WaitKind.FINAL_SYNC, vault=VAULT, item_name="ec2-i-1", since=stopped)
    assert final_sync_event(_item(), waiting) is None
    assert final_sync_event(_item(last_recovery_point_time=stopped), waiting) is None
    newer = _item(last_recovery_point_time=stopped + timedelta(seconds=90), last_recovery_point_id="/rp/1")
    event = final_sync_event(newer, waiting)
    assert event is not None and event["recovery_point_id"] == "/rp/1"
    assert final_sync_reached(event, waiting)
    other = waiting.model_copy(update={"item_name": "ec2-i-2"})
    assert not final_sync_reached(event, other)
    assert not final_sync_reached(event, waiting.model_copy(update={"since": stopped + timedelta(hours=1)}))
    job_wait = waiting.model_copy(update={"kind": WaitKind.JOB, "job_name": "j"})
    assert final_sync_event(newer, job_wait) is None


def _progress(state: VmState, health: str) -> VmProgress:
    progress = VmProgress.start("r", "i-1", NOW)
    return progress.model_copy(update={"state": state, "health": health})


def test_the_health_sweep_wakes_a_vm_only_on_a_change_not_on_progress() -> None:
    moving = _item(initial_replication_percent=40, replication_health="Normal")
    healthy = assess_health(
        ReplicationHealthInput(initial_replication_progress_percent=40, replication_health="Normal", now=NOW)
    )
    assert _event_for(moving, _progress(VmState.INITIAL_REPLICATION, "healthy"), healthy) is None
    first = _event_for(moving, _progress(VmState.INITIAL_REPLICATION, ""), healthy)  # first sighting: a snapshot
    assert first is not None and not first["initial_replication_complete"]
    complete = _item(initial_replication_percent=100, allowed_operations=("TestFailover",))
    done = _event_for(complete, _progress(VmState.INITIAL_REPLICATION, "healthy"), healthy)
    assert done is not None and done["initial_replication_complete"]
    recovered = _event_for(moving, _progress(VmState.REPLICATING, "warning"), healthy)
    assert recovered is not None and recovered["level"] == "healthy"


def test_site_recovery_reporting_no_initial_progress_is_a_stall() -> None:
    def level(reported: str) -> HealthLevel:
        status = ReplicationHealthInput(
            initial_replication_progress_percent=40, initial_replication_health=reported, now=NOW
        )
        return assess_health(status).level

    assert level("NoProgress") is HealthLevel.STALLED
    assert level("SlowProgress") is HealthLevel.WARNING
    assert level("InProgress") is HealthLevel.HEALTHY and level("") is HealthLevel.HEALTHY
