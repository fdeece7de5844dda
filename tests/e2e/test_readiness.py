"""Azure readiness before a wave (issue 15 item 5): a wave whose target subnet does not exist, whose identity lacks a
role, or whose appliance is unhealthy fails before any change, every VM failed with every gap listed (both sides'
gaps together); once fixed, the same estate runs.

"Before any change": only the read-only preflight (the ``inventory`` Lambda) ran in AWS, Site Recovery and ARM were
only read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.aws.seed import aws_client
from local.site_recovery import ApplianceHealth, SiteRecoveryEmulator, build_emulated_client
from local.stack import LocalStack, _emulator_estate
from shared.azure_migrate import ApplianceIdentity
from shared.lifecycle import VmState
from shared.site_recovery import VaultRef
from shared.site_recovery_gaps import ReadinessSpec

from .helpers import appliance_rules, by_name, open_stack, run_wave, wave

WRITES = {"PUT", "POST", "PATCH", "DELETE"}
UNHEALTHY = {
    "health": "Critical",
    "health_errors": [{"code": "PsHeartbeatMissing", "message": "The process server has not sent a heartbeat."}],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-readiness")) as opened:
        yield opened


def _ssm_commands(stack: LocalStack) -> int:
    ssm = aws_client("ssm", stack.seeded.region, stack.seeded.endpoint_url)
    return len(ssm.list_commands()["Commands"])


@dataclass
class _Before:
    rules: list[dict[str, Any]]
    lambdas: int
    commands: int
    site_recovery: int
    arm: int

    @classmethod
    def of(cls, stack: LocalStack) -> _Before:
        return cls(
            appliance_rules(stack),
            len(stack.invoker.history),
            _ssm_commands(stack),
            len(stack.site_recovery.requests),
            len(stack.azure_resources.requests),
        )

    def nothing_changed(self, stack: LocalStack) -> None:
        """Only reads since: the read-only preflight Lambda, GETs to Site Recovery and ARM; no VM started."""
        assert [call.function for call in stack.invoker.history[self.lambdas :]] == ["inventory"]
        assert appliance_rules(stack) == self.rules
        assert _ssm_commands(stack) == self.commands
        assert [r for r in stack.site_recovery.requests[self.site_recovery :] if r.method in WRITES] == []
        assert {r.method for r in stack.azure_resources.requests[self.arm :]} == {"GET"}


def _failed_with_every_gap(outcome: Any, gaps: int) -> list[str]:
    summary = outcome.summary
    assert summary is not None
    assert summary.counts == {"failed": 2}
    reasons = list(summary.vms[0].reasons)
    for result in summary.vms:
        assert result.state is VmState.FAILED
        assert result.error is not None and result.error.code == "AzureNotReady"
        assert len(result.reasons) == gaps, result.reasons  # every gap, on every VM
        assert list(result.reasons) == reasons
    assert outcome.progress == []  # no VM orchestration started
    return reasons


def test_missing_subnet_and_missing_role_fail_the_wave_before_any_change(stack: LocalStack) -> None:
    arm = stack.azure_resources
    target = stack.scenario.request["target"]
    network, subnet = target["virtual_network_id"], target["subnet"]
    group = f"/subscriptions/{target['subscription_id']}/resourceGroups/{target['resource_group']}"
    before = _Before.of(stack)
    arm.remove_subnet(network, subnet)
    arm.revoke("Virtual Machine Contributor", group)
    try:
        outcome = run_wave(stack, wave(stack, "e2e-not-ready", ["rcm-lin", "rcm-win"]))
    finally:
        arm.add_virtual_network(network, [subnet])
        arm.assign("Virtual Machine Contributor", group)

    reasons = _failed_with_every_gap(outcome, 2)
    assert any(f"target subnet {subnet}: it does not exist" in line for line in reasons)
    assert any("target resource group" in line and "Virtual Machine Contributor" in line for line in reasons)
    before.nothing_changed(stack)
    assert any(r.path.endswith(f"/subnets/{subnet}") and r.status == 404 for r in arm.requests[before.arm :])


def test_an_unhealthy_appliance_fails_the_wave_before_any_change(stack: LocalStack) -> None:
    before = _Before.of(stack)
    stack.site_recovery.set_appliance_health(UNHEALTHY)
    try:
        outcome = run_wave(stack, wave(stack, "e2e-appliance-unhealthy", ["rcm-lin", "rcm-win"]))
    finally:
        stack.site_recovery.set_appliance_health({"health": "Normal"})

    (line,) = _failed_with_every_gap(outcome, 1)
    appliance = stack.scenario.estate.appliance.name
    assert f"replication appliance {stack.seeded.appliance.private_ip}" in line
    assert f"process server {appliance} is not healthy: health Critical (PsHeartbeatMissing" in line
    assert "resolve the appliance's health errors" in line
    before.nothing_changed(stack)
    # the machines were looked up on the Azure Migrate site by the private IPs preflight read
    assert any(r.path.endswith("/machines") for r in stack.site_recovery.requests[before.site_recovery :])


def test_a_gap_from_each_side_is_listed_together(stack: LocalStack) -> None:
    arm = stack.azure_resources
    target = stack.scenario.request["target"]
    network, subnet = target["virtual_network_id"], target["subnet"]
    before = _Before.of(stack)
    stack.site_recovery.set_appliance_health(UNHEALTHY)
    arm.remove_subnet(network, subnet)
    try:
        outcome = run_wave(stack, wave(stack, "e2e-both-sides", ["rcm-lin", "rcm-win"]))
    finally:
        stack.site_recovery.set_appliance_health({"health": "Normal"})
        arm.add_virtual_network(network, [subnet])

    site_recovery_gap, arm_gap = _failed_with_every_gap(outcome, 2)
    assert "is not healthy: health Critical" in site_recovery_gap
    assert f"target subnet {subnet}: it does not exist" in arm_gap
    before.nothing_changed(stack)


def test_a_scenario_sets_the_appliances_health_the_fabric_reports(stack: LocalStack) -> None:
    """``appliance_health`` in a scenario file reaches the fabric's ``processServers[]``, read by the real client."""
    planted = stack.scenario.model_copy(update={"appliance_health": ApplianceHealth.model_validate(UNHEALTHY)})
    emulator = SiteRecoveryEmulator(_emulator_estate(planted, stack.seeded))
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator))
    vault = VaultRef(
        subscription_id=emulator.estate.subscription_id,
        resource_group=emulator.estate.resource_group,
        vault_name=emulator.estate.vault_name,
    )
    appliance = ApplianceIdentity(ip_address=stack.seeded.appliance.private_ip)
    (server,) = gateway.check_readiness(ReadinessSpec(vault=vault, appliance=appliance)).process_servers
    assert (server.health, [e.code for e in server.health_errors]) == ("Critical", ["PsHeartbeatMissing"])
    assert not server.healthy


def test_once_the_gaps_are_fixed_the_same_estate_passes_the_check(stack: LocalStack) -> None:
    arm_seen = len(stack.azure_resources.requests)
    outcome = run_wave(stack, wave(stack, "e2e-ready-again", ["rcm-lin"], mode="test_only"))
    assert by_name(outcome)["rcm-lin"].state is VmState.TEST_COMPLETED
    assert any(r.path.endswith("/permissions") for r in stack.azure_resources.requests[arm_seen:])
