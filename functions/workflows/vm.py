"""``migrate_vm``: one EC2 instance through the tutorial's lifecycle, step by step.

Reads top to bottom like the tutorial: prepare the network, the guest and the agent; enable replication and
wait for it; test-migrate into the test network and always clean up; wait for approval; stop the source, wait
for a recovery point newer than the stop, migrate and commit; stop replication and revert every temporary
change. A failure or a cancellation anywhere rolls back what the VM changed, and the source stays intact.

The lifecycle runs in four stages (:class:`VmStage`); at each boundary the orchestration continues as new with
its state carried in :class:`VmCheckpoint`, so every replay covers one stage's history, not the whole migration.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from functions import retry
from functions.activities import aws, site_recovery
from functions.activities.site_recovery import ActionStarted
from functions.workflows.cutover_steps import CutoverSteps
from functions.workflows.steps import Cancelled, StepFailed
from functions.workflows.test_vm_steps import TestVmSteps
from shared import aws_contracts as awsc
from shared import site_recovery as sr
from shared.lifecycle import Cutover, StepError, VmProgress, VmState
from shared.pipeline import (
    APPROVAL_EVENT,
    DISCOVERY_EVENT,
    HEALTH_EVENT,
    Approval,
    EventType,
    Landing,
    VmCheckpoint,
    VmInput,
    VmResult,
    VmStage,
)
from shared.request import ApprovalMode, Mode, NoCutover, OsType, suggest_vm_name
from shared.watch import WaitingFor, WaitKind, discovery_settled, match_of_event

S = VmState
R = TypeVar("R", bound=BaseModel)
Flow = Generator[Any, Any, Any]


def migrate_vm(context: Any) -> Flow:
    """The orchestrator body: input :class:`VmInput`, output :class:`VmResult` as JSON."""
    spec = VmInput.model_validate(context.get_input())
    result = yield from VmMigration(context, spec).run()
    return result


class VmMigration(CutoverSteps, TestVmSteps):
    """The state of one VM's orchestration while it replays."""

    def __init__(self, context: Any, spec: VmInput) -> None:
        name = spec.facts.name if spec.facts else ""
        carried = spec.checkpoint
        progress = (
            carried.progress
            if carried
            else VmProgress.start(spec.request_id, spec.vm.instance_id, context.current_utc_datetime, name=name)
        )
        super().__init__(context, spec.request_id, progress)
        self.spec = spec
        self.timings = spec.timings
        self.backoff = spec.timings.backoff
        self.instance_id = spec.vm.instance_id
        self.stage = carried.stage if carried else VmStage.PREPARE
        self.rules: list[awsc.SecurityGroupRuleChange] = list(carried.rules) if carried else []
        self.guest_touched = carried.guest_touched if carried else False
        self.item: sr.ProtectedItemRef | None = carried.item if carried else None
        self.test_failover_started = False
        self.source_stopped_at: datetime | None = carried.source_stopped_at if carried else None
        self.access_closed = carried.access_closed if carried else False
        self.expected_failover_seconds = carried.expected_failover_seconds if carried else 0.0
        self.final_point = carried.final_point if carried else None
        self.adopted = carried.adopted if carried else False
        self.committed = self.progress.cutover is Cutover.COMMITTED
        self.failed_over = self.progress.cutover is not Cutover.NOT_STARTED
        self.identity: awsc.GuestIdentity | None = None
        self.landing: Landing | None = carried.landing if carried else None  # as enable replication was given
        self.invocations: dict[str, awsc.InvocationStatus] = {}
        if carried:
            self.event_seq = carried.event_seq
            self.pending_events = list(carried.pending_events)

    # --- the lifecycle ----------------------------------------------------------------------------------------

    def run(self) -> Flow:
        """Run this execution's stage; at a stage boundary continue as new with the state carried over."""
        stages = {
            VmStage.PREPARE: self.prepare_and_enable,
            VmStage.REPLICATE: self.replicate_test_and_approve,
            VmStage.FINAL_SYNC: self.stop_and_sync,
            VmStage.MIGRATE: self.migrate_and_complete,
        }
        try:
            next_stage = yield from stages[self.stage]()
            if next_stage is not None:
                self.check_cancelled()
                self.continue_at(next_stage)
                return None
        except StepFailed as failure:
            yield from self.roll_back(failure.error, S.FAILED)
        except Cancelled as cancelled:
            error = StepError(step=self.state, code="Cancelled", message=f"cancelled by {cancelled.by}")
            yield from self.roll_back(error, S.CANCELLED)
        return (yield from self.finish())

    def prepare_and_enable(self) -> Flow:
        if not self.preflight():
            yield from self.tag_source("rejected")
            return None
        yield from self.await_start_slot()
        yield from self.prepare_network()
        yield from self.prepare_guest()
        yield from self.install_agent()
        machine = yield from self.await_discovery()
        yield from self.enable_replication(machine)
        return VmStage.REPLICATE

    def replicate_test_and_approve(self) -> Flow:
        yield from self.await_initial_replication()
        if self.spec.mode is Mode.REPLICATE_ONLY:
            self.move(S.COMPLETED, "replicating; cut over with a full request when ready")
            return None
        try:
            yield from self.test_migration()
        except StepFailed as failed:
            if self.spec.on_test_failure is NoCutover.ROLL_BACK or self.test_failover_started:
                raise  # roll_back, or the test VM may still be there: clean it up on the way back
            yield from self.keep_replicating(failed.error)
            return None
        if self.spec.mode is Mode.TEST_ONLY:
            yield from self.complete(S.TEST_COMPLETED, outcome="test-completed")
            return None
        if self.spec.appliance.discovery_ip is not None:
            yield from self.close_discovery_access()
        approved = yield from self.await_approval()
        if not approved:
            yield from self.keep_replicating(
                StepError(
                    step=S.AWAITING_APPROVAL,
                    code="ApprovalTimedOut",
                    message=f"no approval within {self.spec.approval_timeout_hours:g}h; nothing was cut over",
                )
            )
            return None
        return VmStage.FINAL_SYNC

    def stop_and_sync(self) -> Flow:
        """Stop the source and wait for a recovery point newer than the stop."""
        self.move(S.STOPPING_SOURCE, "shutting down the EC2 instance (no automatic shutdown for AWS VMs)")
        stopped_at = yield from self.stop_source()
        self.final_point = yield from self.await_final_sync(stopped_at)
        return VmStage.MIGRATE

    def migrate_and_complete(self) -> Flow:
        yield from self.migrate()
        yield from self.complete(S.COMPLETED, outcome="migrated")

    def continue_at(self, stage: VmStage) -> None:
        """End this execution and start the next stage with a fresh history."""
        checkpoint = VmCheckpoint(
            stage=stage,
            progress=self.progress,
            event_seq=self.event_seq,
            pending_events=self.pending_events,
            rules=self.rules,
            guest_touched=self.guest_touched,
            item=self.item,
            source_stopped_at=self.source_stopped_at,
            access_closed=self.access_closed,
            expected_failover_seconds=self.expected_failover_seconds,
            landing=self.landing,
            final_point=self.final_point,
            adopted=self.adopted,
        )
        self.context.continue_as_new(self.spec.model_copy(update={"checkpoint": checkpoint}).model_dump(mode="json"))

    def preflight(self) -> bool:
        self.move(S.PREFLIGHT, "checking the instance against the support matrix")
        verdict = self.spec.verdict
        reasons = tuple(f"{finding.severity.value}: {finding.message}" for finding in verdict.reasons)
        self.progress = self.progress.model_copy(update={"reasons": reasons})
        if not verdict.accepted:
            self.move(S.REJECTED, "; ".join(finding.message for finding in verdict.errors))
        return verdict.accepted

    def prepare_network(self) -> Flow:
        self.move(S.PREPARING_NETWORK, "allowing 443 and 9443 from the source to the replication appliance")
        appliance = self.spec.appliance
        event = awsc.PrepareNetworkEvent(
            migration_id=self.orchestration_id,
            region=self.spec.region,
            instance_ids=[self.instance_id],
            appliance_security_group_id=appliance.security_group_id,
            source_kind=awsc.RuleSourceKind(appliance.rule_source),
            discovery_appliance_ip=str(appliance.discovery_ip) if appliance.discovery_ip else None,
            # rules from a security group, and discovery rules (on the source's group, which VMs share), are
            # shared: the wave holds them for all its VMs, and releases them at its end
            holder=self.spec.wave_instance_id if appliance.holds_shared_rules else None,
        )
        result = yield from self.call(aws.prepare_network, event, awsc.PrepareNetworkResult, retry.AWS_CALL)
        self.rules = [*result.created, *result.pre_existing]
        self.fail_if_skipped(result.skipped)
        self.note(f"{len(result.created)} rule(s) added, {len(result.pre_existing)} already in place")

    def prepare_guest(self) -> Flow:
        self.move(S.PREPARING_GUEST, "collecting OS facts and disabling cloud-init (SSM Run Command)")
        self.guest_touched = True  # from here on the guest may hold changes to revert
        yield from self.run_guest_command(
            aws.prepare_guest,
            lambda attempt: awsc.PrepareGuestEvent(
                migration_id=self.orchestration_id,
                region=self.spec.region,
                instance_ids=[self.instance_id],
                discovery=self.spec.appliance.discovery_ip is not None,
                attempt=attempt,
            ),
            awsc.GuestCommandResult,
            "guest preparation",
        )
        self.identity = self.guest_identity()

    def guest_identity(self) -> awsc.GuestIdentity | None:
        """What the prepare-guest script reported about the guest (:func:`shared.aws_contracts.guest_identity_of`).

        A guest that reports none (a prepare-guest document older than the identity report) or a malformed one is
        not refused: Azure Migrate's machine is then looked up by the instance's private IP address alone (two
        candidates are still refused), and per-disk settings need a disk of a unique size. The note says so.
        """
        invocation = self.invocations.get("guest preparation")
        if invocation is None:
            self.note("guest preparation reported nothing: the machine is looked up by its private IP address")
            return None
        try:
            return awsc.guest_identity_of(invocation)
        except awsc.GuestIdentityError as missing:
            self.note(f"{missing.message}: the machine is looked up by its private IP address")
            return None

    def install_agent(self) -> Flow:
        self.move(S.INSTALLING_AGENT, "installing the Mobility service for the InMageRcm appliance")
        yield from self.run_guest_command(
            aws.install_agent,
            lambda attempt: awsc.InstallAgentEvent(
                migration_id=self.orchestration_id,
                region=self.spec.region,
                instance_ids=[self.instance_id],
                provider=awsc.Provider.INMAGE_RCM,
                attempt=attempt,
            ),
            awsc.GuestCommandResult,
            "agent installation and registration",
        )

    def machine_query(self) -> sr.MachineQuery:
        facts, identity = self.spec.facts, self.identity
        ip = (facts.private_ip if facts and facts.private_ip else None) or (
            identity.ip_addresses[0] if identity and identity.ip_addresses else None
        )
        return sr.MachineQuery(
            instance_id=self.instance_id,
            bios_id=identity.bios_id if identity else None,
            ip_address=ip,
            hostname=identity.hostname if identity and identity.hostname else None,
        )

    def await_discovery(self) -> Flow:
        """Wait until Azure Migrate discovered the machine and its agent registered with the appliance.

        Woken by the discovery watch's ``machine_discovered`` event (one read of the site for every VM waiting
        there); this VM reads the site itself only as the safety net (``registration_first_poll`` seconds after it began
        waiting, then every ``registration_max_poll``).
        """
        self.move(S.REGISTERING_AGENT, "waiting for Azure Migrate to discover the machine and its agent to register")
        query = sr.FindMachineSpec(topology=self.topology, query=self.machine_query())
        waiting = WaitingFor(
            kind=WaitKind.DISCOVERY, vault=query.topology.vault, item_name="", since=self.now, discovery=query
        )

        def settled(match: sr.MachineMatch | None) -> sr.MachineMatch | None:
            if match is not None and match.ambiguous:
                raise self.failure("AmbiguousMachine", match.problem(query.query))
            return match if match is not None and discovery_settled(match) else None

        def read() -> Flow:
            match = yield from self.call(site_recovery.find_machine, query, sr.MachineMatch, retry.SITE_RECOVERY_CALL)
            return settled(match)

        found: sr.MachineMatch = yield from self.await_change(
            DISCOVERY_EVENT,
            waiting,
            accept=lambda data: settled(match_of_event(data)),
            check=read,
            first=self.timings.registration_first_poll,
            every=self.timings.registration_max_poll,
            timeout=self.timings.registration_timeout,
            what=f"discovery and agent registration of {query.query.describe()}",
            code="AgentNotRegistered",
        )
        assert found.machine is not None
        self.note(f"discovered as {found.machine.label()} (matched by {found.matched_by}); agent registered")
        return found.machine

    def enable_replication(self, machine: sr.DiscoveredMachine) -> Flow:
        self.move(S.ENABLING_REPLICATION, f"enabling replication of {machine.display_name or machine.name}")
        spec = sr.EnableReplicationSpec(
            topology=self.topology,
            protected_item_name=protected_item_name(self.instance_id),
            machine=machine,
            target=self.target_vm_settings(machine),
        )
        self.landing = self.landing_of(spec.target)
        enabled: ActionStarted = yield from self.start_action(site_recovery.enable_replication, spec)
        self.item = enabled.item
        self.progress = self.progress.model_copy(update={"protected_item": self.item.item_name})
        if enabled.job is None:  # the item was already there (an earlier request kept it replicating): adopt it
            status = yield from self.replication_status()
            self.adopted = status.initial_replication_complete
            self.note(
                f"adopted the existing replication of {self.item.item_name} "
                f"({'initial replication complete' if self.adopted else 'initial replication still running'})"
            )
            return
        yield from self.await_job(enabled, "enable replication")

    def await_start_slot(self) -> Flow:
        """Wait for the start the wave gave this VM (:mod:`shared.pacing`): its calls stay within the rate limits."""
        slot = self.spec.not_before
        if slot is None or slot <= self.now:
            return
        self.note(f"starting at {slot:%H:%M:%S} UTC: the wave starts its VMs one by one to stay within rate limits")
        yield from self.sleep((slot - self.now).total_seconds())

    def await_initial_replication(self) -> Flow:
        """Wait on health events from the replication-health timer; one status read only at the deadline."""
        self.move(S.INITIAL_REPLICATION, "initial replication of the disks to Azure")
        if self.adopted:
            self.move(S.REPLICATING, "delta replication running (adopted from an earlier request)")
            return
        deadline_seconds = self.timings.initial_replication_timeout_hours * 3600
        yield from self.flush_events(deadline_seconds)
        deadline = self.now.timestamp() + deadline_seconds
        while True:
            remaining = deadline - self.now.timestamp()
            if remaining <= 0:
                status = yield from self.replication_status()
                if status.initial_replication_complete:
                    break
                raise self.failure(
                    "InitialReplicationTimeout",
                    f"initial replication not complete after {self.timings.initial_replication_timeout_hours:g}h "
                    f"({status.initial_replication_percent or 0}%)",
                )
            event = yield from self.wait_for(HEALTH_EVENT, remaining)
            if event is None:
                continue
            self.record_health(event)
            if event.get("initial_replication_complete"):
                break
        self.move(S.REPLICATING, "delta replication running")

    def test_migration(self) -> Flow:
        """Test failover into the test network, validate, and clean up whatever happened."""
        self.move(S.TEST_MIGRATING, "test migration into the test network")
        item = self.require_item()
        target = self.spec.target
        spec = sr.TestFailoverSpec(item=item, test_network_id=target.test_virtual_network_id or "")
        failure: StepFailed | None = None
        cleanable = False  # read below: the test failover awaits its clean-up (the test VM's checks change nothing)
        try:
            self.test_failover_started = True
            started = yield from self.start_action(site_recovery.start_test_failover, spec)
            test_job = yield from self.await_job(started, "test migration")
            if test_job is not None and test_job.start_time and test_job.end_time:
                # The migration runs the same failover for real: its first poll can wait about as long.
                self.expected_failover_seconds = (test_job.end_time - test_job.start_time).total_seconds()
            self.move(S.VALIDATING_TEST, "checking the test VM")
            status = yield from self.replication_status()
            if not sr.can_cleanup_test_failover(status):
                raise self.failure(
                    "TestMigrationInvalid",
                    f"test failover state {status.test_failover_state or 'unknown'}: "
                    f"{status.test_failover_state_description or 'the test VM is not ready'}",
                )
            cleanable = True
            yield from self.validate_test_vm(test_job)
        except StepFailed as failed:
            failure = failed
        yield from self.clean_up_test_migration(known_cleanable=cleanable)
        if failure is not None:
            raise failure

    def clean_up_test_migration(self, *, known_cleanable: bool = False) -> Flow:
        """Clean the test failover up; ``known_cleanable``: the item was just read awaiting it (no second read)."""
        self.move(S.CLEANING_UP_TEST, "removing the test VM")
        item = self.require_item()
        if not known_cleanable:
            status = yield from self.replication_status()
            known_cleanable = sr.can_cleanup_test_failover(status)
        if known_cleanable:
            started = yield from self.start_action(site_recovery.cleanup_test_failover, item)
            yield from self.await_job(started, "test migration clean-up")
        self.test_failover_started = False

    def await_approval(self) -> Flow:
        """Wait for the operator's approval; True once approved, False when none came in time (keep_replicating).

        Only an approval sent while this VM was awaiting it counts: it carries the time the VM entered
        ``awaiting_approval`` (read from its status by :mod:`functions.operations`). An approval raised earlier,
        which Durable buffers until the orchestration waits, cannot know that time and is discarded.
        """
        self.move(S.AWAITING_APPROVAL, "waiting for approval to cut over")
        if self.spec.approval is ApprovalMode.AUTO:
            self.progress = self.progress.model_copy(update={"approved_by": "auto"})
            return True
        awaiting_since = self.progress.stages[-1].at
        yield from self.flush_events(self.spec.approval_timeout_hours * 3600)
        deadline = self.now.timestamp() + self.spec.approval_timeout_hours * 3600
        while True:
            remaining = deadline - self.now.timestamp()
            if remaining <= 0:
                if self.spec.on_no_approval is NoCutover.KEEP_REPLICATING:
                    return False
                raise self.failure(
                    "ApprovalTimedOut",
                    f"no approval within {self.spec.approval_timeout_hours:g}h; nothing was cut over",
                )
            decision = yield from self.wait_for(APPROVAL_EVENT, remaining)
            if decision is None:
                continue
            approval = Approval.of(decision)
            if approval.awaiting_since != awaiting_since:
                self.note(f"approval by {approval.who} ignored: it was not given while this VM awaited approval")
                continue
            if not approval.approved:
                raise Cancelled(approval.who)
            self.progress = self.progress.model_copy(
                update={
                    "approved_by": approval.by,
                    "approver_id": approval.principal_id,
                    "approver_name": approval.principal_name,
                }
            )
            self.note(f"approved by {approval.who}")
            self.announce(
                self.state,
                EventType.VM_APPROVED,
                principal_id=approval.principal_id,
                principal_name=approval.principal_name,
                by=approval.by,
            )
            return True

    def keep_replicating(self, reason: StepError) -> Flow:
        """No cutover this time: revert the temporary access (discovery rules, guest changes), keep replicating
        (and the rules replication needs) for a later request to adopt."""
        undone = yield from self.best_effort(
            "revert temporary changes",
            lambda: self.revert("kept-replicating", guest=self.source_stopped_at is None, keep_replication_rules=True),
        )
        self.progress = self.progress.model_copy(
            update={"error": reason, "rolled_back": (*self.progress.rolled_back, *undone)}
        )
        item = self.item.item_name if self.item else "none"
        self.move(S.KEPT_REPLICATING, f"{reason.message}; replication kept (protected item {item})")

    def tag_source(self, outcome: str) -> Flow:
        """Tag the source with the outcome (the revert Lambda tags; nothing else to revert here)."""
        tagged = yield from self.best_effort(f"tag the source '{outcome}'", lambda: self.revert(outcome, guest=False))
        self.progress = self.progress.model_copy(update={"rolled_back": (*self.progress.rolled_back, *tagged)})
        self._publish_status()

    def complete(self, final: VmState, outcome: str) -> Flow:
        """Stop replication, revert every temporary change and tag the source with the outcome."""
        self.move(S.COMPLETING, "stopping replication and reverting temporary changes")
        yield from self.stop_replication()
        undone = yield from self.revert(outcome, guest=self.source_stopped_at is None)
        self.progress = self.progress.model_copy(update={"rolled_back": (*self.progress.rolled_back, *undone)})
        self.move(final, "done")

    @property
    def topology(self) -> sr.ReplicationTopology:
        return sr.ReplicationTopology.model_validate(self.spec.topology)

    def finish(self) -> Flow:
        yield from self.deliver_events()
        progress = self.progress
        return VmResult(
            instance_id=self.instance_id,
            orchestration_id=self.orchestration_id,
            name=progress.name,
            state=progress.state,
            target_vm_name=self.target_name(),
            error=progress.error,
            reasons=progress.reasons,
            rolled_back=progress.rolled_back,
            cutover=progress.cutover,
            started_at=progress.started_at,
            finished_at=self.now,
            landing=self.landing or self.landing_of(None),
        ).model_dump(mode="json")

    def landing_of(self, enabled: sr.TargetVmSettings | None) -> Landing:
        return Landing.of(self.spec.target, self.spec.vm, self.target_name(), enabled, self.spec.facts)

    def target_name(self) -> str:
        facts = self.spec.facts
        os_type = OsType(facts.platform.value) if facts else self.spec.vm.os_type
        return self.spec.vm.target_vm_name or suggest_vm_name(self.machine_name, self.instance_id, os_type)


def protected_item_name(instance_id: str) -> str:
    """The Site Recovery protected item of an EC2 instance: deterministic, so a re-run finds it."""
    return f"ec2-{instance_id}"
