"""The Site Recovery side of a VM's orchestration: waiting for jobs and the final sync (woken by the replication
watch's events, :mod:`shared.watch`, with a slow safety-net read), the item's status, stopping replication, and
undoing a test failover or an uncommitted failover.

A mixin of :class:`functions.workflows.vm.VmMigration` (which holds the state these steps read and write).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from functions import retry
from functions.activities import site_recovery
from functions.activities.site_recovery import ActionStarted, RecoveryPoints
from functions.workflows.guest_steps import GuestSteps
from functions.workflows.steps import CHECK
from shared import aws_contracts as awsc
from shared import site_recovery as sr
from shared.health import ProgressSnapshot
from shared.pipeline import FINAL_SYNC_EVENT, JOB_EVENT
from shared.request import OsType, suggest_vm_name
from shared.site_recovery_disks import DiskMappingError, plan_disks
from shared.watch import WaitingFor, WaitKind, final_sync_reached, job_of_event

Flow = Generator[Any, Any, Any]


class ReplicationSteps(GuestSteps):
    """Jobs, status, recovery points and the Site Recovery undo steps."""

    item: sr.ProtectedItemRef | None
    failed_over: bool
    test_failover_started: bool
    identity: awsc.GuestIdentity | None

    @property
    def machine_name(self) -> str:
        facts = self.spec.facts
        return (facts.name if facts and facts.name else "") or self.instance_id

    def clean_up_after_failure(self) -> Flow:
        item = self.require_item()
        status = yield from self.replication_status()
        if not sr.can_cleanup_test_failover(status):
            return ["test migration: nothing to clean up"]
        started = yield from self.start_action(site_recovery.cleanup_test_failover, item)
        yield from self.await_job(started, "test migration clean-up")
        self.test_failover_started = False
        return ["test VM removed"]

    # --- the target VM ----------------------------------------------------------------------------------------

    def target_vm_settings(self, machine: sr.DiscoveredMachine) -> sr.TargetVmSettings:
        target, vm, facts = self.spec.target, self.spec.vm, self.spec.facts
        os_type = OsType(facts.platform.value) if facts else vm.os_type
        tags = {**target.tags, **vm.tags, **self.spec.migration_tags}
        return sr.TargetVmSettings(
            resource_group_id=f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}",
            network_id=target.virtual_network_id,
            subnet_name=target.subnet,
            test_network_id=target.test_virtual_network_id,
            test_subnet_name=target.test_subnet,
            vm_name=vm.target_vm_name or suggest_vm_name(self.machine_name, self.instance_id, os_type),
            vm_size=vm.vm_size,
            cache_storage_account_id=target.cache_storage_account_id,
            availability_zone=target.availability.zone,
            availability_set_id=target.availability.set_id,
            disk_encryption_set_id=target.disk_encryption.disk_encryption_set_id,
            # licences per OS (shared.licensing): Windows Server hybrid benefit → licenseType WindowsServer (the
            # wave's flag applies to its Windows VMs only); linux_license → linuxLicenseType (preflight checked it
            # against the OS); sql_server_license → sqlServerLicenseType, on either OS
            hybrid_benefit=target.hybrid_benefit and os_type is not OsType.LINUX,
            linux_license_type=vm.linux_license,
            sql_server_license_type=vm.sql_server_license,
            os_type=os_type,
            default_disk_type=target.disk_type,
            disks=self.disks_to_replicate(machine),
            vm_tags=tags,
            nic_tags=tags,
            disk_tags=tags,
        )

    def disks_to_replicate(self, machine: sr.DiscoveredMachine) -> tuple[sr.DiskSpec, ...]:
        """Map the EBS volumes to the discovered disks (see :mod:`shared.site_recovery_disks`)."""
        vm, target, facts = self.spec.vm, self.spec.target, self.spec.facts
        try:
            plan = plan_disks(
                machine.disks,
                facts.volumes if facts else (),
                self.identity.disks if self.identity else (),
                exclude=vm.exclude_disks,
                types=vm.disk_types,
                default=target.disk_type,
            )
        except DiskMappingError as problem:
            raise self.failure(problem.code, problem.message) from None
        return plan.disks

    # --- helpers ----------------------------------------------------------------------------------------------

    def start_action(self, activity: Any, payload: BaseModel) -> Flow:
        """Call the activity of a Site Recovery action; the answer carries when it was asked (``requested_at``)."""
        asked = self.now
        started: ActionStarted = yield from self.call(activity, payload, ActionStarted, retry.SITE_RECOVERY_CALL)
        return started.model_copy(update={"requested_at": asked})

    def await_job(
        self, started: ActionStarted, what: str, *, cutover: bool = False, expected_seconds: float = 0
    ) -> Flow:
        """Wait for the action's job to end; fail the step with the job's own error if it did not succeed."""
        if started.job is None:
            return None
        job: sr.JobStatus = yield from self.job_ended(
            started.job,
            started.item.item_name,
            f"Site Recovery job '{what}'",
            cutover=cutover,
            expected_seconds=expected_seconds,
            started_after=started.requested_at,
        )
        if not job.succeeded:
            raise self.failure(
                job.error_code or f"Job{job.state}", job.error_message or f"Site Recovery job '{what}' {job.state}"
            )
        return job

    def job_ended(
        self,
        job_ref: sr.JobRef,
        item_name: str,
        what: str,
        *,
        cutover: bool = False,
        expected_seconds: float = 0,
        started_after: datetime | None = None,
    ) -> Flow:
        """The job once it ended (``what`` describes it), as the replication watch's ``job_completed`` event reports
        it. ``started_after``: when the action that created the job was asked for (the wait's ``since``, from where
        the watch reads the job list); None for a job found running, started at an unknown time.

        The safety net reads the job itself (``get_job``) only when no event came: every ``job_safety_poll``
        seconds, or during the cutover ``cutover_safety_poll`` seconds after the job should have ended
        (``expected_seconds``, when a similar job was seen) and then every ``cutover_safety_poll``.
        """
        safety = self.timings.cutover_safety_poll if cutover else self.timings.job_safety_poll
        waiting = WaitingFor(
            kind=WaitKind.JOB,
            vault=job_ref.vault,
            item_name=item_name,
            since=started_after or self.now,
            job_name=job_ref.job_name,
        )

        def read() -> Flow:
            status: sr.JobStatus = yield from self.call(
                site_recovery.job_status, job_ref, sr.JobStatus, retry.SITE_RECOVERY_CALL
            )
            return status if status.is_terminal else None

        job: sr.JobStatus = yield from self.await_change(
            JOB_EVENT,
            waiting,
            accept=lambda data: job_of_event(data, job_ref.job_name),
            check=read,
            first=expected_seconds + safety if cutover else safety,
            every=safety,
            timeout=self.timings.job_timeout,
            what=what,
            code="JobTimedOut",
        )
        return job

    def replication_status(self) -> Flow:
        status: sr.ReplicationStatus = yield from self.call(
            site_recovery.replication_status, self.require_item(), sr.ReplicationStatus, retry.SITE_RECOVERY_CALL
        )
        return status

    def record_health(self, event: dict[str, Any]) -> None:
        level = str(event.get("level") or "")
        self.progress = self.progress.model_copy(
            update={
                "health": level,
                "health_reasons": tuple(event.get("reasons") or ()),
                "replication_progress": event.get("progress_percent"),
                "health_snapshot": ProgressSnapshot.model_validate(event["snapshot"])
                if event.get("snapshot")
                else None,
            }
        )
        self._publish_status()

    def await_final_sync(self, stopped_at: datetime) -> Flow:
        """Wait for a recovery point taken after the source stopped: nothing written before the stop is lost.

        Woken by the ``final_sync`` event (the item reports a newer recovery point), confirmed by one read of the
        recovery points; the same read is the safety net every ``cutover_safety_poll`` seconds.
        """
        item = self.require_item()
        self.note("waiting for the final recovery point after the shutdown")
        waiting = WaitingFor(kind=WaitKind.FINAL_SYNC, vault=item.vault, item_name=item.item_name, since=stopped_at)

        def read() -> Flow:
            answer: RecoveryPoints = yield from self.call(
                site_recovery.recovery_points, item, RecoveryPoints, retry.SITE_RECOVERY_CALL
            )
            return sr.latest_recovery_point_after(answer.points, stopped_at)

        point: sr.RecoveryPointInfo = yield from self.await_change(
            FINAL_SYNC_EVENT,
            waiting,
            accept=lambda data: CHECK if final_sync_reached(data, waiting) else None,
            check=read,
            first=self.timings.cutover_safety_poll,
            every=self.timings.cutover_safety_poll,
            timeout=self.timings.final_sync_timeout,
            what="final sync",
            code="FinalSyncTimedOut",
        )
        return point

    def stop_replication(self) -> Flow:
        if self.item is None:
            return ["replication was never enabled"]
        started: ActionStarted = yield from self.start_action(site_recovery.stop_replication, self.item)
        yield from self.await_job(started, "stop replication")
        return [f"replication: {started.note}" if started.note else "replication stopped"]

    def require_item(self) -> sr.ProtectedItemRef:
        if self.item is None:
            raise self.failure("NoProtectedItem", "replication was never enabled for this VM")
        return self.item
