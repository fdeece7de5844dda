"""Sources sharing a security group across two concurrent waves (``rule_source: security_group``): the appliance's
shared 443/9443 rules are held per wave, survive the first wave's end and a cancelled VM's rollback while another
VM still needs them, and are gone once the last wave holding them ends. The same holds for the discovery rule
(``appliance.discovery_ip``) on a shared source group, whatever the rule source."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from local.scenario import OperatorAction
from local.stack import LocalStack
from shared.aws_contracts import RULE_HOLDER_TAG_PREFIX
from shared.lifecycle import VmState
from shared.pipeline import WaveSummary
from shared.request import wave_instance_id

from .helpers import appliance_rules, by_name, ec2, open_stack, scenario, wave


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-shared-groups"), scenario("shared_groups")) as opened:
        yield opened


def _shared_rules(stack: LocalStack) -> list[tuple[str, int]]:
    return sorted(
        (rule["ReferencedGroupInfo"]["GroupId"], rule["FromPort"])
        for rule in appliance_rules(stack)
        if not rule["IsEgress"] and rule.get("ReferencedGroupInfo")
    )


def _holder_tags(stack: LocalStack) -> dict[str, dict[str, str]]:
    groups = ec2(stack).describe_security_groups()["SecurityGroups"]
    return {
        g["GroupId"]: {t["Key"]: t["Value"] for t in g.get("Tags", []) if t["Key"].startswith(RULE_HOLDER_TAG_PREFIX)}
        for g in groups
        if any(t["Key"].startswith(RULE_HOLDER_TAG_PREFIX) for t in g.get("Tags", []))
    }


def _state(stack: LocalStack, request_id: str, name: str) -> VmState:
    status = stack.host.status(f"vm-{request_id}-{stack.seeded.instance_id(name)}")
    assert status is not None and isinstance(status.custom_status, dict), name
    return VmState(status.custom_status["state"])


def _run_until_the_test_only_wave_ends(
    stack: LocalStack, wave_a: dict[str, Any], wave_b: dict[str, Any]
) -> WaveSummary:
    """Submit both waves and run them side by side until A (test only) has completed its VMs' tests; A's summary."""
    stack.submit(wave_a)
    stack.use_request(wave_b)
    stack.submit()
    stack.host.run_until_idle(horizon=timedelta(hours=10))
    ended_a = stack.host.status(wave_instance_id(wave_a["request_id"]))
    assert ended_a is not None and ended_a.runtime_status == "Completed"
    summary = WaveSummary.model_validate(ended_a.output)
    assert [vm.state for vm in summary.vms] == [VmState.TEST_COMPLETED]
    return summary


def test_shared_rules_outlive_the_first_wave_and_a_cancelled_vm_and_go_with_the_last(stack: LocalStack) -> None:
    shop = stack.seeded.instances["shop-a1"].security_group_id
    solo = stack.seeded.instances["solo-b3"].security_group_id
    assert {stack.seeded.instances[n].security_group_id for n in ("shop-a1", "shop-b1", "shop-b2")} == {shop}
    before = appliance_rules(stack)
    appliance = stack.seeded.appliance.security_group_id
    wave_a = wave(stack, "e2e-shared-a", ["shop-a1"], mode="test_only")
    wave_b = wave(stack, "e2e-shared-b", ["shop-b1", "shop-b2", "solo-b3"], approval="manual")
    # Both waves run side by side; A (test only) ends while B's VMs wait for approval, still needing the rules.
    summary_a = _run_until_the_test_only_wave_ends(stack, wave_a, wave_b)
    assert summary_a.shared_rules == ["eu-west-1: removed 0 shared rule(s), left 2 another wave still holds"]
    waiting = {name: _state(stack, "e2e-shared-b", name) for name in ("shop-b1", "shop-b2", "solo-b3")}
    assert waiting == dict.fromkeys(waiting, VmState.AWAITING_APPROVAL)
    assert _shared_rules(stack) == [(shop, 443), (shop, 9443), (solo, 443), (solo, 9443)]
    wave_b_holds = {f"{RULE_HOLDER_TAG_PREFIX}{wave_instance_id('e2e-shared-b')}": appliance}
    assert _holder_tags(stack) == {shop: wave_b_holds, solo: wave_b_holds}

    # One of B's VMs in the shared group is cancelled and rolls back: its partner still needs the rules.
    answer = stack.operate(OperatorAction(at_hours=0, action="cancel", vm="shop-b2"))
    assert answer["http_status"] < 300, answer
    stack.host.run_until_idle(horizon=timedelta(hours=2))
    assert _state(stack, "e2e-shared-b", "shop-b2") is VmState.CANCELLED
    assert _shared_rules(stack) == [(shop, 443), (shop, 9443), (solo, 443), (solo, 9443)]

    # The rest of B is approved and completes; B is the last holder, so the rules go with it.
    outcome = stack.run(operator=[OperatorAction(at_hours=0, action="approve")])
    assert outcome.runtime_status == "Completed", outcome
    states = {name: progress.state for name, progress in by_name(outcome).items()}
    assert states == {
        "shop-b1": VmState.COMPLETED,
        "shop-b2": VmState.CANCELLED,
        "solo-b3": VmState.COMPLETED,
    }
    assert outcome.summary is not None
    assert outcome.summary.shared_rules == ["eu-west-1: removed 4 shared rule(s), left 0 another wave still holds"]
    assert appliance_rules(stack) == before
    assert _holder_tags(stack) == {}
    rolled_back = by_name(outcome)["shop-b2"].rolled_back
    assert any("shared security group rule(s) to the wave" in line for line in rolled_back), rolled_back


DISCOVERY_IP = "10.0.1.5"


def _discovery_rules(stack: LocalStack, group_id: str) -> list[tuple[int, str]]:
    rules = ec2(stack).describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return sorted(
        (rule["FromPort"], rule["CidrIpv4"])
        for rule in rules["SecurityGroupRules"]
        if not rule["IsEgress"] and rule.get("CidrIpv4") == f"{DISCOVERY_IP}/32"
    )


def test_a_discovery_rule_on_a_shared_source_group_outlives_the_first_wave_and_a_cancelled_vm(
    stack: LocalStack,
) -> None:
    """``rule_source: private_ip``: the replication rules are each VM's own, but the discovery rule is on the source
    group the VMs share, so it is held per wave like the shared replication rules."""
    desk = stack.seeded.instances["desk-a1"].security_group_id
    assert {stack.seeded.instances[n].security_group_id for n in ("desk-a1", "desk-b1", "desk-b2")} == {desk}
    before = appliance_rules(stack)
    appliance: dict[str, Any] = {"rule_source": "private_ip", "discovery_ip": DISCOVERY_IP}
    wave_a = wave(stack, "e2e-discovery-a", ["desk-a1"], mode="test_only", appliance=appliance)
    wave_b = wave(stack, "e2e-discovery-b", ["desk-b1", "desk-b2"], approval="manual", appliance=appliance)
    # A (test only) ends while B's VMs wait for approval: the discovery rule A's VM added stays for them.
    _run_until_the_test_only_wave_ends(stack, wave_a, wave_b)
    waiting = {name: _state(stack, "e2e-discovery-b", name) for name in ("desk-b1", "desk-b2")}
    assert waiting == dict.fromkeys(waiting, VmState.AWAITING_APPROVAL)
    assert _discovery_rules(stack, desk) == [(22, f"{DISCOVERY_IP}/32")]
    wave_b_holds = {
        f"{RULE_HOLDER_TAG_PREFIX}{wave_instance_id('e2e-discovery-b')}": stack.seeded.appliance.security_group_id
    }
    assert _holder_tags(stack).get(desk) == wave_b_holds

    # One of B's VMs is cancelled and rolls back: its partner still has the rule.
    answer = stack.operate(OperatorAction(at_hours=0, action="cancel", vm="desk-b2"))
    assert answer["http_status"] < 300, answer
    stack.host.run_until_idle(horizon=timedelta(hours=2))
    assert _state(stack, "e2e-discovery-b", "desk-b2") is VmState.CANCELLED
    assert _discovery_rules(stack, desk) == [(22, f"{DISCOVERY_IP}/32")]

    # The rest of B is approved and completes; B is the last holder, so the rule goes with it.
    outcome = stack.run(operator=[OperatorAction(at_hours=0, action="approve")])
    assert outcome.runtime_status == "Completed", outcome
    states = {name: progress.state for name, progress in by_name(outcome).items()}
    assert states == {"desk-b1": VmState.COMPLETED, "desk-b2": VmState.CANCELLED}
    assert outcome.summary is not None
    assert outcome.summary.shared_rules == ["eu-west-1: removed 1 shared rule(s), left 0 another wave still holds"]
    assert _discovery_rules(stack, desk) == []
    assert desk not in _holder_tags(stack)
    assert appliance_rules(stack) == before
