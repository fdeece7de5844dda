"""The AWS side of a VM's orchestration: guest commands sent through the Lambdas (SSM Run Command) and awaited on the
replication watch's events, the source's power, and reverting what the pipeline changed on the guest and its
security groups.

A mixin of :class:`functions.workflows.vm.VmMigration` (which holds the state these steps read and write).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from functions import retry
from functions.activities import aws
from functions.workflows.steps import StepFailed, Steps
from shared import aws_contracts as awsc
from shared.lifecycle import StepError
from shared.pipeline import COMMAND_EVENT, Timings, VmInput
from shared.watch import WaitingFor, WaitKind, command_of_event

R = TypeVar("R", bound=BaseModel)
Flow = Generator[Any, Any, Any]

#: How many times a guest command is sent when SSM cannot deliver it (agent briefly offline, instance rebooting).
GUEST_COMMAND_DELIVERIES = 3


class GuestSteps(Steps):
    """Guest commands, source power and reverts."""

    spec: VmInput
    timings: Timings
    instance_id: str
    rules: list[awsc.SecurityGroupRuleChange]
    guest_touched: bool
    access_closed: bool
    source_stopped_at: datetime | None
    invocations: dict[str, awsc.InvocationStatus]  # this VM's last invocation of each guest command, by ``what``

    def failure(self, code: str, message: str) -> StepFailed:
        return StepFailed(StepError(step=self.state, code=code, message=message))

    def fail_if_skipped(self, skipped: list[awsc.SkippedInstance]) -> None:
        for entry in skipped:
            if entry.instance_id == self.instance_id:
                raise self.failure("InstanceSkipped", entry.reason)

    def run_guest_command(
        self, activity: Any, event_for: Callable[[int], BaseModel], result_type: type[R], what: str
    ) -> Flow:
        """Call a Lambda that sends an SSM command and wait for it; send it again when SSM could not deliver it."""
        for attempt in range(GUEST_COMMAND_DELIVERIES):
            asked = self.now
            result = yield from self.call(activity, event_for(attempt), result_type, retry.AWS_CALL)
            commands = result if isinstance(result, awsc.GuestCommandResult) else result.guest
            delivered = yield from self.await_commands(commands, what, asked)
            if delivered:
                return result
            self.note(f"{what}: SSM could not deliver the command (attempt {attempt + 1}); sending it again")
            yield from self.sleep(self.timings.command_first_poll)
        raise self.failure(
            "CommandUndeliverable", f"{what}: SSM could not deliver the command in {GUEST_COMMAND_DELIVERIES} attempts"
        )

    def await_commands(self, result: awsc.GuestCommandResult, what: str, asked: datetime) -> Flow:
        """Wait for the VM's command to end; False if SSM never delivered it, a step failure if it failed.

        Woken by the replication watch's ``command_ended`` event (one ``command_watch`` call per tick for every VM
        waiting on a command, :mod:`shared.watch`), not by polls; the VM reads the command itself
        (``command_status``) only as the safety net, every ``command_max_poll`` seconds. ``asked``: when the VM
        asked for the command (the watch reads SSM's command list from there).
        """
        self.fail_if_skipped(result.skipped)
        delivered = True
        for command in result.commands:
            if self.instance_id not in command.instance_ids:
                continue
            event = awsc.CommandStatusEvent(
                migration_id=self.orchestration_id,
                region=self.spec.region,
                instance_ids=[self.instance_id],
                command_id=command.command_id,
            )
            waiting = WaitingFor(
                kind=WaitKind.COMMAND,
                since=asked,
                region=self.spec.region,
                command=awsc.WatchedCommand(command_id=command.command_id, instance_id=self.instance_id),
            )

            def read(event: awsc.CommandStatusEvent = event) -> Flow:
                answer: awsc.CommandStatusResult = yield from self.call(
                    aws.command_status, event, awsc.CommandStatusResult, retry.AWS_CALL
                )
                return answer if answer.finished else None

            status: awsc.CommandStatusResult = yield from self.await_change(
                COMMAND_EVENT,
                waiting,
                accept=functools.partial(command_of_event, command_id=command.command_id),
                check=read,
                first=self.timings.command_max_poll,
                every=self.timings.command_max_poll,
                timeout=self.timings.command_timeout,
                what=what,
                code="CommandTimedOut",
            )
            for invocation in status.invocations:
                if invocation.instance_id == self.instance_id:
                    self.invocations[what] = invocation
                if invocation.state is awsc.CommandState.UNDELIVERABLE:
                    delivered = False
                elif invocation.state is not awsc.CommandState.SUCCEEDED:
                    cause = invocation.stderr_tail.strip().splitlines()[-1:] or [invocation.status_details]
                    raise self.failure(
                        f"Command{invocation.state.value.title().replace('_', '')}",
                        f"{what} {invocation.state.value} (exit {invocation.exit_code}): {cause[0] if cause else ''}",
                    )
        if delivered and result.commands:
            self.note(f"{what} succeeded")
        return delivered

    def stop_source(self) -> Flow:
        """Stop the instance and wait until EC2 says it is stopped; returns when it was seen stopped."""
        event = awsc.StopSourceEvent(
            migration_id=self.orchestration_id, region=self.spec.region, instance_ids=[self.instance_id]
        )
        result: awsc.PowerResult = yield from self.call(aws.stop_source, event, awsc.PowerResult, retry.AWS_CALL)
        self.source_stopped_at = self.now
        if not _all_stopped(result):
            yield from self.poll(
                lambda: self.call(aws.stop_source, event, awsc.PowerResult, retry.AWS_CALL),
                done=_all_stopped,
                first=self.timings.source_stop_first_poll,
                maximum=self.timings.source_stop_first_poll * 4,
                timeout=self.timings.source_stop_timeout,
                what="source shutdown",
                code="SourceStopTimedOut",
            )
        self.note("source stopped")
        return self.now

    def start_source(self) -> Flow:
        event = awsc.StartSourceEvent(
            migration_id=self.orchestration_id, region=self.spec.region, instance_ids=[self.instance_id]
        )
        result: awsc.PowerResult = yield from self.call(aws.start_source, event, awsc.PowerResult, retry.AWS_CALL)
        self.source_stopped_at = None
        states = ", ".join(f"{change.instance_id} {change.state}" for change in result.instances)
        return [f"source started again ({states})"]

    def close_discovery_access(self) -> Flow:
        """Once the test migration passed, restore what discovery opened on the guest (sshd password / root login,
        WinRM) so the migrated VM does not inherit it; done before the approval wait, it adds nothing to the cutover.
        cloud-init stays disabled: the tutorial wants it off in Azure."""
        self.note("restoring sshd / WinRM settings opened for discovery before the final sync")
        yield from self.run_guest_command(
            aws.revert_changes,
            lambda attempt: awsc.RevertChangesEvent(
                migration_id=self.orchestration_id,
                region=self.spec.region,
                instance_ids=[self.instance_id],
                guest_scope="access",
                outcome="cutting-over",
                attempt=attempt,
            ),
            awsc.RevertChangesResult,
            "restoring discovery access",
        )
        self.access_closed = True

    def revert(self, outcome: str, *, guest: bool, keep_replication_rules: bool = False) -> Flow:
        """Remove the security group rules this VM added and, if the guest runs, restore what it changed.

        ``keep_replication_rules``: replication goes on (kept for a later request), so the 443/9443 rules to the
        appliance stay: the Mobility agent reaches the process server through them. They carry the managed-by tag,
        so the request that adopts the replication takes them over and removes them when it ends.
        """
        revert_guest = guest and self.guest_touched
        kept = [rule for rule in self.rules if keep_replication_rules and rule.purpose is awsc.RulePurpose.REPLICATION]
        result: awsc.RevertChangesResult = yield from self.run_guest_command(
            aws.revert_changes,
            lambda attempt: awsc.RevertChangesEvent(
                migration_id=self.orchestration_id,
                region=self.spec.region,
                # Shared rules (with a holder) serve other VMs too: the wave releases them at its end.
                rules=[
                    rule for rule in self.rules if not rule.pre_existing and rule.holder is None and rule not in kept
                ],
                instance_ids=[self.instance_id],
                revert_guest=revert_guest,
                outcome=outcome,
                attempt=attempt,
            ),
            awsc.RevertChangesResult,
            "guest revert",
        )
        done = []
        if result.rules_removed or result.rules_already_absent:
            done.append(
                f"removed {len(result.rules_removed) + len(result.rules_already_absent)} security group rule(s)"
            )
        if result.rules_kept:
            done.append(f"kept {len(result.rules_kept)} pre-existing rule(s)")
        if kept:
            done.append(f"kept {len(kept)} replication rule(s) to the appliance: replication goes on")
        shared = sum(1 for rule in self.rules if rule.holder is not None and rule not in kept)
        if shared:
            done.append(f"left {shared} shared security group rule(s) to the wave, which releases them at its end")
        if revert_guest:
            done.append("restored sshd / WinRM and cloud-init on the guest")
        elif self.guest_touched:
            # SSM cannot reach a stopped source: what is left on it is said, not hidden.
            if self.access_closed:
                done.append("sshd / WinRM restored before cutover; cloud-init left disabled on the stopped source")
            else:
                done.append("guest settings (sshd / WinRM, cloud-init) left as prepared: the source is stopped")
        return done


def _all_stopped(result: awsc.PowerResult) -> bool:
    """Stopping an instance again reports where it was: ``stopped`` before the call means it is down."""
    return all("stopped" in {change.state, change.previous_state} for change in result.instances)
