"""``validating_test`` on the local stack: a test VM that does not boot, whose agent is never ready or whose smoke
test fails fails its VM, the test failover is cleaned up, and nothing in AWS changed (the source runs, was never
stopped, and no temporary security group rule is left); test VMs that pass go on and record the smoke output.

One wave over ``scenarios/test_vm.yaml`` (one instance per outcome), run once for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.site_recovery.estate import Operation
from local.stack import LocalStack, WaveOutcome
from shared.aws_contracts import OUTCOME_TAG
from shared.lifecycle import VmState

from .helpers import appliance_rules, by_name, item_operations, lambda_results, open_stack, run_wave, scenario, source


@dataclass
class Run:
    stack: LocalStack
    outcome: WaveOutcome
    rules_before: list[dict[str, Any]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with open_stack(tmp_path_factory.mktemp("e2e-test-vm"), scenario("test_vm")) as stack:
        rules_before = appliance_rules(stack)
        outcome = run_wave(stack, stack.request)
        yield Run(stack, outcome, rules_before)


FAILED = [
    ("tvm-noboot", "TestVmNotBooted", "provisioning failed (OSProvisioningTimedOut)"),
    ("tvm-stopped", "TestVmNotBooted", "power state stopped, not running after 20 min"),
    ("tvm-agent", "TestVmAgentNotReady", "VM agent Not Ready"),
    ("tvm-smoke", "SmokeTestFailed", "the smoke command exited 3; output: nginx: inactive"),
]


@pytest.mark.parametrize(("name", "code", "says"), FAILED)
def test_a_failed_test_vm_check_fails_the_vm_and_leaves_the_source_untouched(
    run: Run, name: str, code: str, says: str
) -> None:
    progress = by_name(run.outcome)[name]
    instance_id = run.stack.seeded.instance_id(name)
    assert progress.state is VmState.FAILED
    assert progress.error is not None
    assert (progress.error.step, progress.error.code) == (VmState.VALIDATING_TEST, code)
    assert says in progress.error.message
    # the test failover was cleaned up, replication removed; no failover ever started
    assert item_operations(run.stack, instance_id) == ["enable", "test_failover", "test_failover_cleanup", "remove"]
    assert f"{name}-test" not in run.stack.site_recovery.test_vms()
    # AWS: the source runs, was never stopped, and no temporary rule is left
    assert lambda_results(run.stack, "stop_source", instance_id) == []
    assert source(run.stack, name)["state"] == "running"
    assert source(run.stack, name)["tags"][OUTCOME_TAG] == "failed"


def test_no_temporary_security_group_rule_is_left(run: Run) -> None:
    assert appliance_rules(run.stack) == run.rules_before


def test_a_provisioning_failure_ends_at_once_without_waiting_for_the_timeout(run: Run) -> None:
    progress = by_name(run.outcome)["tvm-noboot"]
    assert progress.error is not None and "after 20 min" not in progress.error.message
    validating = next(s.at for s in progress.stages if s.state is VmState.VALIDATING_TEST)
    cleaning = next(s.at for s in progress.stages if s.state is VmState.CLEANING_UP_TEST)
    assert (cleaning - validating).total_seconds() < 20 * 60


def test_the_smoke_output_is_recorded_on_failure(run: Run) -> None:
    progress = by_name(run.outcome)["tvm-smoke"]
    assert progress.test_output == "nginx: inactive\n\nUnit nginx.service failed"


@pytest.mark.parametrize(
    ("name", "command_id", "output"),
    [
        ("tvm-ok", "RunShellScript", "nginx active (running) since 05:01"),
        ("tvm-win", "RunPowerShellScript", "W3SVC Running"),
    ],
)
def test_a_test_vm_that_passes_goes_on_and_records_its_smoke_output(
    run: Run, name: str, command_id: str, output: str
) -> None:
    progress = by_name(run.outcome)[name]
    assert progress.state is VmState.COMPLETED, progress.error
    assert progress.test_output == output
    commands = [
        r.body
        for r in run.stack.site_recovery.requests
        if r.operation is Operation.RUN_COMMAND and f"/virtualMachines/{name}-test/" in r.path
    ]
    assert len(commands) == 1 and commands[0]["commandId"] == command_id
    assert run.stack.site_recovery.test_vms() == []


def test_the_windows_vm_uses_its_own_validation_override(run: Run) -> None:
    script = next(
        r.body["script"]
        for r in run.stack.site_recovery.requests
        if r.operation is Operation.RUN_COMMAND and "/virtualMachines/tvm-win-test/" in r.path
    )
    assert "Ec2azPort 3389" in script and "Ec2azPort 443" in script and "Ec2azPort 80" not in script
