"""Fault suite: a transient and a permanent fault at every step of the lifecycle, in one wave on the local stack.

Transient faults (t-*) are retried and the VM completes. Permanent faults (p-*) fail the VM at that step with
the step, code and message in ``VmResult.error``; the source stays intact (running, not terminated — or, after a
committed migration, stopped) and the security group rules the VM added to the appliance are gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.site_recovery.estate import FaultKind, Operation, RequestFault
from local.stack import LocalStack
from shared.lifecycle import VmState
from tests.reliability.conftest import WaveRun, rule_key, scenario_file, wave

S = VmState

#: step -> (failed state recorded in the error, error code of the permanent fault)
PERMANENT: dict[str, tuple[VmState, str]] = {
    "network": (S.PREPARING_NETWORK, "RetriesExhausted"),
    "guest": (S.PREPARING_GUEST, "CommandFailed"),
    "agent": (S.INSTALLING_AGENT, "CommandFailed"),
    "enable": (S.ENABLING_REPLICATION, "EnableProtectionFailed"),
    "initial": (S.INITIAL_REPLICATION, "InitialReplicationTimeout"),
    "test": (S.TEST_MIGRATING, "TestFailoverVmBootFailed"),
    "cleanup": (S.CLEANING_UP_TEST, "TestFailoverCleanupFailed"),
    "stop": (S.STOPPING_SOURCE, "RetriesExhausted"),
    "sync": (S.STOPPING_SOURCE, "FinalSyncTimedOut"),  # the final sync runs while the source is being stopped
    "migrate": (S.MIGRATING, "FailoverFailed"),
    "commit": (S.COMMITTING, "FailoverCommitFailed"),
    "complete": (S.COMPLETING, "DisableProtectionFailed"),
}
STEPS = list(PERMANENT)

#: Words the recorded message must carry, so an operator can tell what went wrong.
MESSAGE_HINTS = {
    "network": "Rate exceeded",
    "guest": "Read-only file system",
    "agent": "appliance unreachable",
    "enable": "could not be registered",
    "initial": "40%",
    "test": "did not boot",
    "cleanup": "could not be deleted",
    "stop": "Rate exceeded",
    "sync": "final sync",
    "migrate": "quota exceeded",
    "commit": "did not complete",
    "complete": "could not be disabled",
}


#: t-* VM -> (state after which its fault is injected, the fault). The scenario's machine-scoped faults never
#: fire (see test_machine_scoped_site_recovery_faults_fire), so the same faults are also injected unscoped, just
#: before the VM reaches the operation: they hit the next matching request, which is this VM's or a neighbour's.
UNSCOPED: dict[str, tuple[VmState, list[RequestFault]]] = {
    "t-enable": (
        S.REGISTERING_AGENT,
        [
            RequestFault(kind=FaultKind.THROTTLE, operation=Operation.ENABLE, times=3, retry_after_seconds=20),
            RequestFault(kind=FaultKind.UNAVAILABLE, operation=Operation.LIST_JOBS, times=2),
        ],
    ),
    "t-test": (
        S.INITIAL_REPLICATION,
        [RequestFault(kind=FaultKind.THROTTLE, operation=Operation.TEST_FAILOVER, times=2)],
    ),
    "t-cleanup": (
        S.TEST_MIGRATING,
        [RequestFault(kind=FaultKind.CONFLICT, operation=Operation.TEST_FAILOVER_CLEANUP, times=2)],
    ),
    "t-sync": (
        S.STOPPING_SOURCE,
        [RequestFault(kind=FaultKind.UNAVAILABLE, operation=Operation.RECOVERY_POINTS, times=2)],
    ),
    "t-migrate": (S.STOPPING_SOURCE, [RequestFault(kind=FaultKind.THROTTLE, operation=Operation.FAILOVER, times=2)]),
    "t-commit": (S.MIGRATING, [RequestFault(kind=FaultKind.CONFLICT, operation=Operation.COMMIT, times=2)]),
    "t-complete": (S.COMMITTING, [RequestFault(kind=FaultKind.THROTTLE, operation=Operation.REMOVE, times=2)]),
}


def _inject_on_entry(stack: LocalStack, change: Any) -> None:
    """Inject UNSCOPED faults when their VM enters the named state; p-sync's final writes never arrive."""
    custom = change.custom_status if isinstance(change.custom_status, dict) else {}
    previous = change.previous_custom_status if isinstance(change.previous_custom_status, dict) else {}
    state = custom.get("state")
    if state is None or previous.get("state") == state:
        return
    name = stack.names.get(str(custom.get("instance_id")))
    if name in UNSCOPED and UNSCOPED[name][0].value == state:
        for fault in UNSCOPED[name][1]:
            stack.site_recovery.inject(fault)
    if name == "p-sync" and state == S.STOPPING_SOURCE.value:
        stack.site_recovery.stall_replication("p-sync")


def _final_writes_of_p_sync_never_arrive(stack: LocalStack) -> None:
    """The agent of p-sync never ships its last writes: Site Recovery does not hear of its shutdown.

    Together with a stall from the moment it starts stopping, no recovery point newer than the shutdown exists.
    """
    told = stack.site_recovery.source_stopped

    def source_stopped(machine: str, at: Any = None) -> None:
        if machine != "p-sync":
            told(machine, at=at)

    stack.site_recovery.source_stopped = source_stopped  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WaveRun]:
    state_dir: Path = tmp_path_factory.mktemp("faults")
    with wave(
        scenario_file("faults.yaml"),
        state_dir,
        on_open=_final_writes_of_p_sync_never_arrive,
        listener=_inject_on_entry,
    ) as finished:
        yield finished


def test_the_wave_finishes_and_one_failure_never_fails_the_wave(run: WaveRun) -> None:
    assert run.outcome.runtime_status == "Completed"
    assert run.results["ok-01"].state is S.COMPLETED
    assert set(run.results) == {vm.name for vm in run.stack.scenario.estate.instances}


@pytest.mark.parametrize("step", STEPS)
def test_a_transient_fault_is_retried_and_the_vm_completes(run: WaveRun, step: str) -> None:
    result = run.results[f"t-{step}"]
    assert result.state is S.COMPLETED, result.error
    assert result.error is None
    assert run.instance_state(f"t-{step}") == "stopped"  # migrated: the source is shut down, never terminated


def test_the_transient_faults_were_really_injected(run: WaveRun) -> None:
    """Guard against a fault silently not firing: each transient fault left a failed attempt behind."""
    failures = {(r.operation, r.status) for r in run.stack.site_recovery.requests if r.status >= 400}
    for operation, status in [
        (Operation.ENABLE, 429),
        (Operation.LIST_JOBS, 503),  # the replication watch's job list (jobs are no longer polled per VM)
        (Operation.TEST_FAILOVER, 429),
        (Operation.TEST_FAILOVER_CLEANUP, 409),
        (Operation.RECOVERY_POINTS, 503),
        (Operation.FAILOVER, 429),
        (Operation.COMMIT, 409),
        (Operation.REMOVE, 429),
    ]:
        assert (operation, status) in failures, f"no {status} on {operation.value}"
    assert run.stack.invoker.throttles[("prepare_network", run.stack.seeded.instance_id("t-network"))] == 0
    assert run.stack.invoker.throttles[("stop_source", run.stack.seeded.instance_id("t-stop"))] == 0
    assert run.results["t-initial"].state is S.COMPLETED


@pytest.mark.parametrize("step", STEPS)
def test_a_permanent_fault_fails_the_vm_at_its_step_with_the_cause(run: WaveRun, step: str) -> None:
    result = run.results[f"p-{step}"]
    state, code = PERMANENT[step]
    # a failed test migration keeps the replication by default (on_test_failure: keep_replicating), with its cause
    assert result.state is (S.KEPT_REPLICATING if step == "test" else S.FAILED)
    assert result.error is not None
    assert (result.error.step, result.error.code) == (state, code), result.error
    assert MESSAGE_HINTS[step] in result.error.message


@pytest.mark.parametrize("step", STEPS)
def test_a_permanent_fault_leaves_the_source_intact(run: WaveRun, step: str) -> None:
    expected = "stopped" if step == "complete" else "running"  # completing comes after a committed migration
    assert run.instance_state(f"p-{step}") in {expected, "pending" if expected == "running" else expected}
    if step in {"sync", "migrate", "commit"}:
        assert any("source started again" in line for line in run.results[f"p-{step}"].rolled_back)


@pytest.mark.parametrize("step", STEPS)
def test_a_permanent_fault_removes_the_rules_the_vm_added(run: WaveRun, step: str) -> None:
    left = run.rules_of(f"p-{step}")
    if run.results[f"p-{step}"].state is S.KEPT_REPLICATING:
        assert sorted(rule["FromPort"] for rule in left) == [443, 9443], left
    else:
        assert left == []
    assert not any(line.startswith("could not revert") for line in run.results[f"p-{step}"].rolled_back)


def test_every_completed_vm_removed_its_rules(run: WaveRun) -> None:
    for name, result in run.results.items():
        if result.state is S.COMPLETED:
            assert run.rules_of(name) == [], name


def test_the_appliance_group_ends_as_it_began_but_for_known_leaks(run: WaveRun) -> None:
    before = {rule_key(r) for r in run.rules_before if r["GroupId"] == run.stack.seeded.appliance.security_group_id}
    after = {rule_key(r) for r in run.appliance_rules()}
    assert after == before | {rule_key(r) for r in run.kept_for_replication()}


@pytest.mark.parametrize("name", ["u-guest", "u-agent"])
def test_an_undeliverable_ssm_command_is_sent_again(run: WaveRun, name: str) -> None:
    assert run.results[name].state is S.COMPLETED, run.results[name].error


def test_machine_scoped_site_recovery_faults_fire(run: WaveRun) -> None:
    left = [
        fault
        for fault in run.stack.site_recovery.pending_faults()
        if fault.machine and fault.kind is not FaultKind.JOB_FAILURE and fault.times is not None
    ]
    assert left == []


def test_rolling_back_a_failed_enable_reports_no_spurious_failure(run: WaveRun) -> None:
    assert not any(line.startswith("could not") for line in run.results["p-enable"].rolled_back)
