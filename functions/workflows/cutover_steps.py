"""The cutover and its point of no return: migrate and commit, and what a cancel, a failure or a timeout may undo.

The rule is :class:`shared.lifecycle.Cutover` (and :func:`shared.lifecycle.cancel_refusal` for the operator):
before Site Recovery accepts the failover everything rolls back; once it accepted it and until the commit
succeeded the only way back is ``failoverCancel``, waited for, and only after it removed the failed-over VM does the
source start again; after the commit the source is never restarted and the Azure VM is authoritative.

A mixin of :class:`functions.workflows.vm.VmMigration` (which holds the state these steps read and write).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from functions.activities import site_recovery
from functions.workflows.replication_steps import ReplicationSteps
from functions.workflows.steps import StepFailed
from shared import site_recovery as sr
from shared.lifecycle import Cutover, StepError, VmState, cancel_refusal

S = VmState
Flow = Generator[Any, Any, Any]


class CutoverSteps(ReplicationSteps):
    """Migrate, commit, and roll back within what the point of no return allows."""

    final_point: sr.RecoveryPointInfo | None
    expected_failover_seconds: float
    committed: bool

    @property
    def cutover(self) -> Cutover:
        return self.progress.cutover

    def set_cutover(self, cutover: Cutover) -> None:
        self.progress = self.progress.model_copy(update={"cutover": cutover})
        self.failed_over = cutover is not Cutover.NOT_STARTED
        self.committed = cutover is Cutover.COMMITTED

    def cancel_refused(self, data: Any) -> str | None:
        rollback = isinstance(data, dict) and data.get("rollback") is True
        return cancel_refusal(self.state, self.cutover, rollback=rollback)

    def migrate(self) -> Flow:
        """Migrate with the final recovery point and commit."""
        point = self.final_point
        if point is None:
            raise self.failure("NoFinalRecoveryPoint", "no recovery point newer than the source's stop was recorded")
        self.move(S.MIGRATING, f"migrating with recovery point {point.name}")
        item = self.require_item()
        migrate = sr.MigrateSpec(item=item, recovery_point_id=point.id)
        started = yield from self.start_action(site_recovery.start_migration, migrate)
        # Accepted: from here the way back is failoverCancel, whatever the job does next.
        self.set_cutover(Cutover.FAILED_OVER)
        self.note(f"failover accepted (job {started.job.job_name if started.job else 'none'})")
        yield from self.await_job(started, "migration", cutover=True, expected_seconds=self.expected_failover_seconds)
        self.move(S.COMMITTING, "committing the migration")
        started = yield from self.start_action(site_recovery.commit_migration, item)
        yield from self.await_job(started, "commit", cutover=True)
        self.set_cutover(Cutover.COMMITTED)

    # --- failure ----------------------------------------------------------------------------------------------

    def roll_back(self, error: StepError, final: VmState) -> Flow:
        """Undo what this VM changed, best effort, within the point of no return (see the module docstring)."""
        self.cancellable = False
        done: list[str] = []
        if self.test_failover_started:
            done += yield from self.best_effort("clean up the test migration", self.clean_up_after_failure)
        source_may_start = self.cutover is Cutover.NOT_STARTED
        if self.cutover is Cutover.COMMITTED:
            done.append("the migration was committed: the Azure VM is authoritative; the source stays stopped")
        elif self.cutover is Cutover.FAILED_OVER:
            done += yield from self.best_effort("cancel the failover", self.cancel_failover)
            source_may_start = not self.failed_over  # cancel_failover says when no failed-over VM is left
        if self.source_stopped_at is not None:
            if source_may_start:
                done += yield from self.best_effort("start the source again", self.start_source)
            elif self.cutover is Cutover.FAILED_OVER:
                done.append(
                    "source left stopped: the failover could not be cancelled, so an Azure VM may exist; cancel the "
                    "failover in Site Recovery before starting the source"
                )
        if self.item is not None and self.cutover is not Cutover.FAILED_OVER:
            done += yield from self.best_effort("stop replication", self.stop_replication)
        if self.rules or self.guest_touched:
            outcome = "cancelled" if final is S.CANCELLED else "failed"
            if self.cutover is Cutover.COMMITTED:
                outcome = "migrated-then-failed"
            source_runs = self.source_stopped_at is None  # SSM reaches only a running guest
            done += yield from self.best_effort(
                "revert temporary changes", lambda: self.revert(outcome, guest=source_runs)
            )
        if final is S.CANCELLED:
            self.progress = self.progress.model_copy(update={"error": error, "rolled_back": tuple(done)})
            self.move(S.CANCELLED, error.message)
        else:
            previous = self.state
            self.progress = self.progress.fail(error, self.now, rolled_back=tuple(done))
            self.announce(previous)

    def cancel_failover(self) -> Flow:
        """Failed over but not committed: remove the migrated VM (``failoverCancel``) and wait for it.

        A failover job still running is waited for first; the cutover goes back to ``not_started`` only when Site
        Recovery says no failed-over VM is left (cancelled, or the failover never completed).
        """
        item = self.require_item()
        status: sr.ReplicationStatus = yield from self.replication_status()
        scenario = status.current_scenario
        if status.operation_in_progress and scenario is not None and scenario.job_name:
            job = sr.JobRef(vault=item.vault, job_name=scenario.job_name)
            yield from self.job_ended(
                job, item.item_name, f"Site Recovery job '{scenario.name}' before cancelling the failover", cutover=True
            )
            status = yield from self.replication_status()
        if sr.can_cancel_failover(status):
            started = yield from self.start_action(site_recovery.cancel_failover, item)
            yield from self.await_job(started, "cancel failover")
            self.set_cutover(Cutover.NOT_STARTED)
            return ["failover cancelled: the migrated VM was removed"]
        if sr.can_migrate(status):  # the item is back where a failover may start: none completed
            self.set_cutover(Cutover.NOT_STARTED)
            return ["failover: it did not complete, no migrated VM to remove"]
        allowed = ", ".join(status.allowed_operations) or "none"
        raise StepFailed(
            StepError(
                step=self.state,
                code="FailoverNotCancellable",
                message=f"Site Recovery allows neither failoverCancel nor a new failover (allowed: {allowed})",
            )
        )

    def best_effort(self, what: str, action: Any) -> Flow:
        try:
            result = yield from action()
        except StepFailed as failure:
            return [f"could not {what}: {failure.error.message}"]
        return list(result or [f"{what}: done"])
