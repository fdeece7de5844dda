"""Shared rules (``rule_source: security_group``): held per wave on the source group, released by the last holder;
and the emulated EC2 refuses a duplicate rule whatever its description, as AWS does."""

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


def _prepare(world: AwsWorld, name: str, holder: str) -> PrepareNetworkResult:
    return PrepareNetworkResult.model_validate(
        world.invoke(
            "prepare_network",
            migration_id=f"vm-{holder}-{name}",
            instance_ids=[world.id(name)],
            appliance_security_group_id=world.seeded.appliance.security_group_id,
            source_kind="security_group",
            holder=holder,
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
