"""The Site Recovery side of a VM's orchestration: polling jobs and the item's status with durable timers, the
final sync, stopping replication, and undoing a test failover or an uncommitted failover.

A mixin of :class:`functions.workflows.vm.VmMigration` (which holds the state these steps read and write).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any

from functions import retry
from functions.activities import site_recovery
from functions.activities.site_recovery import ActionStarted, RecoveryPoints
from functions.workflows.guest_steps import GuestSteps
from shared import aws_contracts as awsc
from shared import site_recovery as sr
from shared.health import ProgressSnapshot
from shared.request import OsType, suggest_vm_name
from shared.site_recovery_disks import DiskMappingError, plan_disks

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
        started = yield from self.call(
            site_recovery.cleanup_test_failover, item, ActionStarted, retry.SITE_RECOVERY_CALL
        )
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

    def await_job(
        self, started: ActionStarted, what: str, *, cutover: bool = False, expected_seconds: float = 0
    ) -> Flow:
        """Poll the action's job until it ends; fail the step with the job's own error if it did not succeed.

        ``cutover``: poll closely (the source is down, so every minute of overshoot is downtime), first after
        ``expected_seconds`` when a similar job was seen.
        """
        if started.job is None:
            return None
        job_ref = started.job
        job: sr.JobStatus = yield from self.poll(
            lambda: self.call(site_recovery.job_status, job_ref, sr.JobStatus, retry.SITE_RECOVERY_CALL),
            done=lambda status: status.is_terminal,
            first=max(self.timings.cutover_poll, 0.9 * expected_seconds) if cutover else self.timings.job_first_poll,
            then=self.timings.cutover_poll if cutover else None,
            maximum=self.timings.cutover_max_poll if cutover else self.timings.job_max_poll,
            timeout=self.timings.job_timeout,
            what=f"Site Recovery job '{what}'",
            code="JobTimedOut",
        )
        if not job.succeeded:
            raise self.failure(
                job.error_code or f"Job{job.state}", job.error_message or f"Site Recovery job '{what}' {job.state}"
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
        """Wait for a recovery point taken after the source stopped: nothing written before the stop is lost."""
        item = self.require_item()
        self.note("waiting for the final recovery point after the shutdown")
        answer: RecoveryPoints = yield from self.poll(
            lambda: self.call(site_recovery.recovery_points, item, RecoveryPoints, retry.SITE_RECOVERY_CALL),
            done=lambda points: any(point.time > stopped_at for point in points.points),
            first=self.timings.cutover_poll,
            maximum=self.timings.cutover_poll,  # the last point usually lands within a minute or two of the stop
            timeout=self.timings.final_sync_timeout,
            what="final sync",
            code="FinalSyncTimedOut",
        )
        return max((point for point in answer.points if point.time > stopped_at), key=lambda point: point.time)

    def stop_replication(self) -> Flow:
        if self.item is None:
            return ["replication was never enabled"]
        started: ActionStarted = yield from self.call(
            site_recovery.stop_replication, self.item, ActionStarted, retry.SITE_RECOVERY_CALL
        )
        yield from self.await_job(started, "stop replication")
        return [f"replication: {started.note}" if started.note else "replication stopped"]

    def require_item(self) -> sr.ProtectedItemRef:
        if self.item is None:
            raise self.failure("NoProtectedItem", "replication was never enabled for this VM")
        return self.item
