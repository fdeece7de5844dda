"""Shared rules (``rule_source: security_group``, and discovery rules on a source group whatever the rule source):
held per wave on the source group, released by the last holder; and the emulated EC2 refuses a duplicate rule
whatever its description, as AWS does."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from aws_lambdas import shared_rules
from aws_lambdas.gateways.ec2 import Boto3Ec2Gateway
from local.aws import start_moto_server
from local.aws.seed import aws_client
from shared.aws_contracts import PrepareNetworkResult, RevertChangesResult, rule_holder_tag
from tests.aws_lambdas.conftest import AwsWorld

REGION = "eu-west-1"


def _two_groups(ec2: Any) -> tuple[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    appliance = ec2.create_security_group(GroupName="appliance", Description="a", VpcId=vpc)["GroupId"]
    source = ec2.create_security_group(GroupName="source", Description="s", VpcId=vpc)["GroupId"]
    return appliance, source


def _authorize(ec2: Any, appliance: str, source: str, description: str) -> None:
    pair = {"GroupId": source, "Description": description}
    ec2.authorize_security_group_ingress(
        GroupId=appliance,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [pair]}],
    )


def _assert_description_is_not_identity(ec2: Any) -> None:
    appliance, source = _two_groups(ec2)
    _authorize(ec2, appliance, source, "added by wave one")
    with pytest.raises(ClientError) as refused:
        _authorize(ec2, appliance, source, "added by wave two")
    assert refused.value.response["Error"]["Code"] == "InvalidPermission.Duplicate"
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [appliance]}])
    assert len([r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]) == 1
    # The gateway reads the refusal as "already there".
    gateway = Boto3Ec2Gateway(REGION, client=ec2)
    tags = {"ec2-to-azure:managed-by": "ec2-to-azure"}
    assert gateway.authorize_ingress(appliance, port=443, source_group_id=source, description="x", tags=tags) is None


def test_in_process_moto_refuses_a_rule_differing_only_by_its_description() -> None:
    with mock_aws():
        _assert_description_is_not_identity(boto3.client("ec2", region_name=REGION))


def test_the_moto_server_refuses_a_rule_differing_only_by_its_description() -> None:
    with start_moto_server() as server:
        _assert_description_is_not_identity(aws_client("ec2", REGION, server.endpoint_url))


def _ingress(group_id: str) -> list[dict[str, Any]]:
    rules = boto3.client("ec2", region_name=REGION).describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )
    return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]


def _holders(group_id: str) -> dict[str, str]:
    groups = boto3.client("ec2", region_name=REGION).describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return {t["Key"]: t["Value"] for t in groups[0].get("Tags", []) if t["Key"].startswith("ec2-to-azure:rule-")}


def _share_group(world: AwsWorld, name: str, group_id: str) -> None:
    boto3.client("ec2", region_name=REGION).modify_instance_attribute(InstanceId=world.id(name), Groups=[group_id])


def _prepare(world: AwsWorld, name: str, holder: str, **event: Any) -> PrepareNetworkResult:
    return PrepareNetworkResult.model_validate(
        world.invoke(
            "prepare_network",
            migration_id=f"vm-{holder}-{name}",
            instance_ids=[world.id(name)],
            appliance_security_group_id=world.seeded.appliance.security_group_id,
            holder=holder,
            **{"source_kind": "security_group", **event},
        )
    )


def _revert(world: AwsWorld, **event: Any) -> RevertChangesResult:
    return RevertChangesResult.model_validate(world.invoke("revert_changes", revert_guest=False, **event))


def test_a_shared_rule_stays_until_the_last_wave_holding_it_releases_it(world: AwsWorld) -> None:
    appliance = world.seeded.appliance.security_group_id
    group = world.seeded.instances["web-1"].security_group_id
    _share_group(world, "win-1", group)

    first = _prepare(world, "web-1", "wave-a")
    second = _prepare(world, "win-1", "wave-b")  # another wave's VM in the same group: the same two rules
    assert [(c.port, c.holder, c.pre_existing) for c in first.created] == [
        (443, "wave-a", False),
        (9443, "wave-a", False),
    ]
    # The pipeline's shared rules are adopted under the second wave's name (a rule someone else made would be
    # pre-existing): the same two rules, no new ones.
    assert second.pre_existing == [] and [c.holder for c in second.created] == ["wave-b"] * 2
    assert [c.rule_id for c in first.created] == [c.rule_id for c in second.created]
    assert _holders(group) == {rule_holder_tag("wave-a"): appliance, rule_holder_tag("wave-b"): appliance}

    # The first VM fails and rolls back: its ledger's shared rules are its wave's, not its own.
    ledger = [c.model_dump(mode="json") for c in first.created]
    rolled_back = _revert(world, migration_id="vm-wave-a-web-1", rules=ledger, outcome="failed")
    assert rolled_back.rules_removed == [] and sorted(rolled_back.rules_held) == sorted(
        c.rule_id for c in first.created
    )
    assert len(_ingress(appliance)) == 2

    # Wave A ends: wave B still holds the rules.
    released_a = _revert(world, migration_id="wave-a", outcome="wave-completed", release_holder="wave-a")
    assert released_a.rules_removed == [] and len(released_a.rules_held) == 2
    assert len(_ingress(appliance)) == 2 and _holders(group) == {rule_holder_tag("wave-b"): appliance}

    # Wave B ends: nobody holds them any more.
    released_b = _revert(world, migration_id="wave-b", outcome="wave-completed", release_holder="wave-b")
    assert sorted(released_b.rules_removed) == sorted(c.rule_id for c in first.created)
    assert _ingress(appliance) == [] and _holders(group) == {}


def test_a_pre_existing_rule_from_the_source_group_is_never_released(world: AwsWorld) -> None:
    appliance = world.seeded.appliance.security_group_id
    group = world.seeded.instances["web-1"].security_group_id
    _authorize(boto3.client("ec2", region_name=REGION), appliance, group, "the customer's own rule")
    prepared = _prepare(world, "web-1", "wave-a")
    assert [(c.port, c.pre_existing, c.holder) for c in prepared.pre_existing] == [(443, True, None)]
    assert [c.port for c in prepared.created] == [9443]
    released = _revert(world, migration_id="wave-a", outcome="wave-completed", release_holder="wave-a")
    assert released.rules_removed == [prepared.created[0].rule_id]
    assert [r["FromPort"] for r in _ingress(appliance)] == [443]


class _ArrivingWave(Boto3Ec2Gateway):
    """Another wave tags the source group (and finds the rules present) just before the release revokes them."""

    arrived = False
    source_group = ""

    def revoke_ingress_rule(self, group_id: str, rule_id: str) -> bool:
        if not self.arrived:
            self.arrived = True
            shared_rules.acquire(
                self, holder="wave-late", appliance_group_id=group_id, source_group_id=self.source_group
            )
        return super().revoke_ingress_rule(group_id, rule_id)


def test_a_release_racing_a_new_holder_restores_the_rules(world: AwsWorld) -> None:
    appliance = world.seeded.appliance.security_group_id
    group = world.seeded.instances["web-1"].security_group_id
    _prepare(world, "web-1", "wave-a")
    gateway = _ArrivingWave(REGION, client=boto3.client("ec2", region_name=REGION))
    gateway.source_group = group
    released = shared_rules.release(gateway, "wave-a")
    assert len(released.removed) == 2 and len(released.restored) == 2
    assert sorted(r["FromPort"] for r in _ingress(appliance)) == [443, 9443]
    assert _holders(group) == {rule_holder_tag("wave-late"): appliance}


DISCOVERY_IP = "10.0.1.5"


def _discovery_rules(group_id: str) -> list[tuple[str, int, str]]:
    return sorted(
        (r["SecurityGroupRuleId"], r["FromPort"], r.get("CidrIpv4", ""))
        for r in _ingress(group_id)
        if r.get("CidrIpv4") == f"{DISCOVERY_IP}/32"
    )


@pytest.mark.parametrize("source_kind", ["security_group", "private_ip"])
def test_a_discovery_rule_on_a_shared_source_group_stays_until_the_last_wave_holding_it_releases_it(
    world: AwsWorld, source_kind: str
) -> None:
    """The discovery rule (22 from the discovery appliance) is on the source group itself, whatever the rule source:
    two Linux VMs sharing that group, in two waves, share one rule, and no VM's revert may take it from the other."""
    appliance = world.seeded.appliance.security_group_id
    group = world.seeded.instances["web-1"].security_group_id
    _share_group(world, "db-1", group)
    before = _ingress(group)
    event = {"source_kind": source_kind, "discovery_appliance_ip": DISCOVERY_IP}

    first = _prepare(world, "web-1", "wave-a", **event)
    second = _prepare(world, "db-1", "wave-b", **event)
    [mine] = [c for c in first.created if c.purpose == "discovery"]
    [theirs] = [c for c in second.created if c.purpose == "discovery"]
    assert (mine.group_id, mine.port, mine.cidr, mine.holder) == (group, 22, f"{DISCOVERY_IP}/32", "wave-a")
    assert (theirs.rule_id, theirs.holder, theirs.pre_existing) == (mine.rule_id, "wave-b", False)
    assert _holders(group) == {rule_holder_tag("wave-a"): appliance, rule_holder_tag("wave-b"): appliance}
    assert _discovery_rules(group) == [(mine.rule_id, 22, f"{DISCOVERY_IP}/32")]

    # web-1 fails and rolls back first: the discovery rule is its wave's, and db-1 still needs it.
    ledger = [c.model_dump(mode="json") for c in first.created]
    rolled_back = _revert(world, migration_id="vm-wave-a-web-1", rules=ledger, outcome="failed")
    assert mine.rule_id in rolled_back.rules_held and mine.rule_id not in rolled_back.rules_removed
    assert _discovery_rules(group) == [(mine.rule_id, 22, f"{DISCOVERY_IP}/32")]

    # Wave A ends: wave B still holds the source group's rules.
    released_a = _revert(world, migration_id="wave-a", outcome="wave-completed", release_holder="wave-a")
    assert mine.rule_id in released_a.rules_held and mine.rule_id not in released_a.rules_removed
    assert _discovery_rules(group) == [(mine.rule_id, 22, f"{DISCOVERY_IP}/32")]
    assert _holders(group) == {rule_holder_tag("wave-b"): appliance}

    # db-1 finishes: its own revert leaves the rule to its wave too.
    ledger = [c.model_dump(mode="json") for c in second.created]
    finished = _revert(world, migration_id="vm-wave-b-db-1", rules=ledger, outcome="completed")
    assert mine.rule_id in finished.rules_held
    assert _discovery_rules(group) == [(mine.rule_id, 22, f"{DISCOVERY_IP}/32")]

    # Wave B ends: nobody holds the rules any more; nothing the pipeline added is left, and no holder tag.
    released_b = _revert(world, migration_id="wave-b", outcome="wave-completed", release_holder="wave-b")
    assert mine.rule_id in released_b.rules_removed
    assert _discovery_rules(group) == [] and _holders(group) == {}
    assert _ingress(group) == before and _ingress(appliance) == []


def test_a_pre_existing_discovery_rule_is_never_released(world: AwsWorld) -> None:
    group = world.seeded.instances["web-1"].security_group_id
    boto3.client("ec2", region_name=REGION).authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": f"{DISCOVERY_IP}/32"}]}
        ],
    )
    prepared = _prepare(world, "web-1", "wave-a", discovery_appliance_ip=DISCOVERY_IP)
    assert [(c.port, c.pre_existing, c.holder) for c in prepared.pre_existing] == [(22, True, None)]
    released = _revert(world, migration_id="wave-a", outcome="wave-completed", release_holder="wave-a")
    assert prepared.pre_existing[0].rule_id not in released.rules_removed
    assert [rule[1] for rule in _discovery_rules(group)] == [22]
