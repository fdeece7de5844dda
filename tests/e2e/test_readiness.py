"""Azure readiness before a wave: a wave whose target subnet does not exist and whose identity lacks a role fails
before any change, every VM failed with every gap listed; once fixed, the same estate runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.aws.seed import aws_client
from local.stack import LocalStack
from shared.lifecycle import VmState

from .helpers import appliance_rules, by_name, open_stack, run_wave, wave

WRITES = {"PUT", "POST", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-readiness")) as opened:
        yield opened


def _ssm_commands(stack: LocalStack) -> int:
    ssm = aws_client("ssm", stack.seeded.region, stack.seeded.endpoint_url)
    return len(ssm.list_commands()["Commands"])


def test_missing_subnet_and_missing_role_fail_the_wave_before_any_change(stack: LocalStack) -> None:
    arm = stack.azure_resources
    target = stack.scenario.request["target"]
    network, subnet = target["virtual_network_id"], target["subnet"]
    group = f"/subscriptions/{target['subscription_id']}/resourceGroups/{target['resource_group']}"
    rules, lambdas, commands = appliance_rules(stack), len(stack.invoker.history), _ssm_commands(stack)
    site_recovery_seen, arm_seen = len(stack.site_recovery.requests), len(arm.requests)
    arm.remove_subnet(network, subnet)
    arm.revoke("Virtual Machine Contributor", group)
    try:
        outcome = run_wave(stack, wave(stack, "e2e-not-ready", ["rcm-lin", "rcm-win"]))
    finally:
        arm.add_virtual_network(network, [subnet])
        arm.assign("Virtual Machine Contributor", group)

    summary = outcome.summary
    assert summary is not None
    assert summary.counts == {"failed": 2}
    for result in summary.vms:
        assert result.state is VmState.FAILED
        assert result.error is not None and result.error.code == "AzureNotReady"
        assert len(result.reasons) == 2, result.reasons  # every gap, on every VM
        assert any(f"target subnet {subnet}: it does not exist" in line for line in result.reasons)
        assert any("target resource group" in line and "Virtual Machine Contributor" in line for line in result.reasons)
    assert outcome.progress == []  # no VM orchestration started
    # Nothing changed anywhere: no Lambda ran (no SG rule, no SSM command, no stop), Site Recovery and ARM were
    # only read.
    assert stack.invoker.history[lambdas:] == []
    assert appliance_rules(stack) == rules
    assert _ssm_commands(stack) == commands
    assert [r for r in stack.site_recovery.requests[site_recovery_seen:] if r.method in WRITES] == []
    assert {r.method for r in arm.requests[arm_seen:]} == {"GET"}
    assert any(r.path.endswith(f"/subnets/{subnet}") and r.status == 404 for r in arm.requests[arm_seen:])


def test_once_the_gaps_are_fixed_the_same_estate_passes_the_check(stack: LocalStack) -> None:
    arm_seen = len(stack.azure_resources.requests)
    outcome = run_wave(stack, wave(stack, "e2e-ready-again", ["rcm-lin"], mode="test_only"))
    assert by_name(outcome)["rcm-lin"].state is VmState.TEST_COMPLETED
    assert any(r.path.endswith("/permissions") for r in stack.azure_resources.requests[arm_seen:])
