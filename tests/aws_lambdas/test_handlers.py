"""Functional tests of every Lambda handler against in-process moto, through the local Lambda runtime."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws_lambdas.gateways.ports import IngressRule
from local.aws import GuestBehaviour, ScriptOutcome
from shared.aws_contracts import (
    MIGRATION_ID_TAG,
    OUTCOME_TAG,
    CommandStatusResult,
    CommandWatchResult,
    GuestCommandResult,
    InventoryResult,
    PrepareNetworkResult,
    RevertChangesResult,
    error_from_lambda_payload,
)
from shared.errors import AccessDeniedError, InvalidRequestError, NotFoundError
from tests.aws_lambdas.conftest import AwsWorld

REGION = "eu-west-1"


def ec2():
    return boto3.client("ec2", region_name=REGION)


def ingress(group_id: str) -> list[dict]:
    rules = ec2().describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]


def error_of(payload: dict):
    assert "errorType" in payload, payload
    return error_from_lambda_payload(payload)


# --- inventory ------------------------------------------------------------------------------------------------


def test_inventory_reports_facts_for_every_kind_of_instance(world: AwsWorld) -> None:
    names = ["web-1", "win-1", "db-1", "legacy-1"]
    payload = world.invoke("inventory", instance_ids=[world.id(n) for n in names] + ["i-0123456789abcdef0"])
    result = InventoryResult.model_validate(payload)
    facts = {f.name: f for f in result.facts}
    assert result.not_found == ["i-0123456789abcdef0"]
    assert set(facts) == set(names)

    web = facts["web-1"]
    assert (web.platform, web.os_name, web.os_version) == ("linux", "Ubuntu", "22.04")
    assert web.ssm_managed and web.ssm_ping_status == "Online"
    assert (web.virtualization_type, web.architecture, web.state) == ("hvm", "x86_64", "running")
    assert [(v.size_gib, v.is_root) for v in web.volumes] == [(16, True), (100, False)]
    assert web.root_device_name == web.volumes[0].device_name
    assert web.private_ip.startswith("10.0.1.") and web.security_group_ids

    win = facts["win-1"]
    assert win.platform == "windows" and win.os_name.startswith("Microsoft Windows Server 2019")

    assert facts["db-1"].state in {"stopped", "stopping"}
    legacy = facts["legacy-1"]
    assert not legacy.ssm_managed and legacy.ssm_ping_status == ""
    assert legacy.os_name == "Ubuntu"  # from the AMI's name when SSM does not know the instance


def test_inventory_rejects_a_malformed_event_naming_the_field(world: AwsWorld) -> None:
    error = error_of(world.invoke("inventory", instance_ids=["not-an-instance"]))
    assert isinstance(error, InvalidRequestError)
    assert "instance_ids.0" in error.message


# --- prepare_network ----------------------------------------------------------------------------------------------


def test_prepare_network_adds_scoped_tagged_rules_and_is_idempotent(world: AwsWorld) -> None:
    appliance_sg = world.seeded.appliance.security_group_id
    web, win = world.seeded.instances["web-1"], world.seeded.instances["win-1"]
    event = {
        "instance_ids": [web.instance_id, win.instance_id],
        "appliance_security_group_id": appliance_sg,
        "discovery_appliance_ip": "10.0.1.5",
        "holder": "wave-wave1",
    }
    first = PrepareNetworkResult.model_validate(world.invoke("prepare_network", **event))
    assert not first.pre_existing
    replication = {(c.cidr, c.port) for c in first.created if c.purpose == "replication"}
    assert replication == {(f"{ip}/32", p) for ip in (web.private_ip, win.private_ip) for p in (443, 9443)}
    discovery = {(c.group_id, c.port, c.cidr) for c in first.created if c.purpose == "discovery"}
    assert discovery == {(web.security_group_id, 22, "10.0.1.5/32"), (win.security_group_id, 5985, "10.0.1.5/32")}
    # The discovery rules are on the sources' groups, which other VMs may share: held by the wave, not the VM.
    assert {c.holder for c in first.created} == {None, "wave-wave1"}
    assert all(c.holder == "wave-wave1" for c in first.created if c.purpose == "discovery")

    for group in (appliance_sg, web.security_group_id, win.security_group_id):
        for rule in ingress(group):
            assert rule.get("CidrIpv4") != "0.0.0.0/0"
            assert {"Key": MIGRATION_ID_TAG, "Value": "vm-wave1-test"} in rule["Tags"]

    second = PrepareNetworkResult.model_validate(world.invoke("prepare_network", **event))
    assert second == first  # a retry finds its own rules and reports the same ledger
    assert len(ingress(appliance_sg)) == 4


def test_prepare_network_records_pre_existing_rules_and_revert_keeps_them(world: AwsWorld) -> None:
    appliance_sg = world.seeded.appliance.security_group_id
    web = world.seeded.instances["web-1"]
    ec2().authorize_security_group_ingress(
        GroupId=appliance_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": f"{web.private_ip}/32"}]}
        ],
    )
    result = PrepareNetworkResult.model_validate(
        world.invoke("prepare_network", instance_ids=[web.instance_id], appliance_security_group_id=appliance_sg)
    )
    assert [(c.port, c.pre_existing) for c in result.pre_existing] == [(443, True)]
    assert [c.port for c in result.created] == [9443]

    reverted = RevertChangesResult.model_validate(
        world.invoke(
            "revert_changes",
            rules=[c.model_dump(mode="json") for c in result.created + result.pre_existing],
            instance_ids=[web.instance_id],
            outcome="completed",
        )
    )
    assert reverted.rules_removed == [result.created[0].rule_id]
    assert reverted.rules_kept == [result.pre_existing[0].rule_id]
    assert [(r["FromPort"], r.get("CidrIpv4")) for r in ingress(appliance_sg)] == [(443, f"{web.private_ip}/32")]


def _gateways(world: AwsWorld) -> Any:
    """The gateways the in-process runtime's handlers use (their clients are where a test reaches the wire)."""
    host = world.runtime._here
    assert host is not None, "the handler tests run the Lambdas in this process"
    return host._gateways(host.settings, REGION)


def test_prepare_network_adds_first_and_reads_the_group_only_on_a_duplicate(world: AwsWorld) -> None:
    """The appliance group holds two rules per VM in flight: it is listed only when a rule turns out to exist
    (InvalidPermission.Duplicate), to learn whether it is ours or someone else's."""
    appliance_sg = world.seeded.appliance.security_group_id
    web, db = world.seeded.instances["web-1"], world.seeded.instances["win-1"]
    gateways = _gateways(world)
    real_rules = gateways.ec2.ingress_rules
    listed: list[str] = []

    def counted(group_id: str, rule_ids: Sequence[str] = ()) -> list[IngressRule]:
        listed.append(group_id)
        return real_rules(group_id, rule_ids)

    gateways.ec2.ingress_rules = counted  # type: ignore[method-assign]
    from aws_lambdas.wiring import WIRING

    WIRING.configure(settings=world.runtime.settings, gateway_factory=lambda s, r: gateways)
    fresh = PrepareNetworkResult.model_validate(
        world.invoke("prepare_network", instance_ids=[web.instance_id], appliance_security_group_id=appliance_sg)
    )
    assert sorted(c.port for c in fresh.created) == [443, 9443]
    assert listed == []

    ec2().authorize_security_group_ingress(  # someone else's rules for win-1, not tagged by us
        GroupId=appliance_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": f"{db.private_ip}/32"}]}
            for p in (443, 9443)
        ],
    )
    result = PrepareNetworkResult.model_validate(
        world.invoke("prepare_network", instance_ids=[db.instance_id], appliance_security_group_id=appliance_sg)
    )
    assert result.created == []
    assert sorted(c.port for c in result.pre_existing) == [443, 9443]
    assert listed == [appliance_sg]  # read once, then known


def test_prepare_network_can_scope_to_the_source_security_group(world: AwsWorld) -> None:
    appliance_sg = world.seeded.appliance.security_group_id
    web = world.seeded.instances["web-1"]
    result = PrepareNetworkResult.model_validate(
        world.invoke(
            "prepare_network",
            instance_ids=[web.instance_id],
            appliance_security_group_id=appliance_sg,
            source_kind="security_group",
            holder="wave-w1",
        )
    )
    assert {(c.source_group_id, c.cidr, c.holder) for c in result.created} == {(web.security_group_id, "", "wave-w1")}
    assert {r["ReferencedGroupInfo"]["GroupId"] for r in ingress(appliance_sg)} == {web.security_group_id}


def test_prepare_network_refuses_an_open_discovery_source(world: AwsWorld) -> None:
    error = error_of(
        world.invoke(
            "prepare_network",
            instance_ids=[world.id("web-1")],
            appliance_security_group_id=world.seeded.appliance.security_group_id,
            discovery_appliance_ip="0.0.0.0",
            holder="wave-wave1",
        )
    )
    assert isinstance(error, InvalidRequestError) and "discovery_appliance_ip" in error.message


def test_prepare_network_refuses_discovery_rules_without_a_holder(world: AwsWorld) -> None:
    error = error_of(
        world.invoke(
            "prepare_network",
            instance_ids=[world.id("web-1")],
            appliance_security_group_id=world.seeded.appliance.security_group_id,
            discovery_appliance_ip="10.0.1.5",
        )
    )
    assert isinstance(error, InvalidRequestError) and "name their holder" in error.message


def test_prepare_network_names_a_missing_security_group_and_instance(world: AwsWorld) -> None:
    error = error_of(
        world.invoke(
            "prepare_network", instance_ids=[world.id("web-1")], appliance_security_group_id="sg-0123456789abcdef0"
        )
    )
    assert type(error).__name__ == "SecurityGroupNotFoundError" and isinstance(error, NotFoundError)
    assert error.resource == "sg-0123456789abcdef0"

    error = error_of(
        world.invoke(
            "prepare_network",
            instance_ids=["i-0123456789abcdef0"],
            appliance_security_group_id=world.seeded.appliance.security_group_id,
        )
    )
    assert type(error).__name__ == "InstanceNotFoundError" and "i-0123456789abcdef0" in error.resource


# --- prepare_guest / command_status --------------------------------------------------------------------------------


def test_prepare_guest_sends_one_document_per_platform_to_reachable_instances_only(world: AwsWorld) -> None:
    names = ["web-1", "win-1", "db-1", "legacy-1"]
    result = GuestCommandResult.model_validate(
        world.invoke("prepare_guest", instance_ids=[world.id(n) for n in names], discovery=True)
    )
    by_doc = {c.document_name: c.instance_ids for c in result.commands}
    assert by_doc == {
        "ec2-to-azure-prepare-guest-linux": [world.id("web-1")],
        "ec2-to-azure-prepare-guest-windows": [world.id("win-1")],
    }
    skipped = {s.instance_id: s.reason for s in result.skipped}
    assert skipped == {world.id("db-1"): "instance is stopped", world.id("legacy-1"): "not managed by SSM"}

    # moto's send_command targets every instance of the region; neither the result nor the guests are fooled.
    ssm = boto3.client("ssm", region_name=REGION)
    linux = next(c for c in result.commands if c.platform == "linux")
    echoed = ssm.list_commands(CommandId=linux.command_id)["Commands"][0]
    assert len(echoed["InstanceIds"]) > 1
    assert echoed["Parameters"] == {"Discovery": ["true"], "MigrationId": ["vm-wave1-test"]}
    assert {d.instance_id for d in world.emulator.history} == {world.id("web-1"), world.id("win-1")}

    status = CommandStatusResult.model_validate(
        world.invoke("command_status", command_id=linux.command_id, instance_ids=linux.instance_ids)
    )
    assert status.finished
    (inv,) = status.invocations
    assert inv.state == "succeeded" and inv.exit_code == 0
    assert inv.result is not None and inv.result["discovery_enabled"] is True and inv.result["os_version"] == "22.04"


def test_prepare_guest_retry_returns_the_same_command_without_resending(world: AwsWorld) -> None:
    event = {"instance_ids": [world.id("web-1")], "discovery": False}
    first = world.invoke("prepare_guest", **event)
    second = world.invoke("prepare_guest", **event)
    assert first == second
    assert len(world.emulator.history) == 1
    other = world.invoke("prepare_guest", **{**event, "migration_id": "vm-wave1-other"})
    assert other["commands"][0]["command_id"] != first["commands"][0]["command_id"]


def test_command_status_maps_running_failed_timed_out_and_undeliverable(world: AwsWorld) -> None:
    web, win = world.id("web-1"), world.id("win-1")
    world.emulator.set_behaviour(
        web,
        GuestBehaviour(
            scripts={
                "prepare-guest": ScriptOutcome(
                    result="fail", exit_code=3, stderr="x" * 9000 + "sshd -t failed", delay_seconds=120
                )
            }
        ),
    )
    world.emulator.set_behaviour(
        win, GuestBehaviour(platform="windows", scripts={"prepare-guest": ScriptOutcome(result="timeout")})
    )
    result = GuestCommandResult.model_validate(world.invoke("prepare_guest", instance_ids=[web, win]))
    by_platform = {c.platform: c for c in result.commands}

    def status(platform: str):
        ref = by_platform[platform]
        payload = world.invoke("command_status", command_id=ref.command_id, instance_ids=ref.instance_ids)
        return CommandStatusResult.model_validate(payload).invocations[0]

    assert status("linux").state == "running" and status("linux").exit_code is None
    world.clock.advance(121)
    failed = status("linux")
    assert (failed.state, failed.exit_code) == ("failed", 3)
    assert failed.stderr_tail.endswith("sshd -t failed") and len(failed.stderr_tail) == 4000
    assert status("windows").state == "timed_out"


def test_undeliverable_the_first_times_then_delivered(world: AwsWorld) -> None:
    web = world.id("web-1")
    world.emulator.set_behaviour(web, GuestBehaviour(scripts={"install-agent": ScriptOutcome(undeliverable_times=1)}))
    event = {"instance_ids": [web], "provider": "InMageRcm"}
    first = world.invoke("install_agent", **event)
    ref = first["commands"][0]
    state = world.invoke("command_status", command_id=ref["command_id"], instance_ids=[web])["invocations"][0]
    assert state["state"] == "undeliverable"
    second = world.invoke("install_agent", **{**event, "migration_id": "vm-wave1-test-retry1"})
    ref = second["commands"][0]
    state = world.invoke("command_status", command_id=ref["command_id"], instance_ids=[web])["invocations"][0]
    assert state["state"] == "succeeded" and state["result"]["status"] == "registered"


# --- command_watch -------------------------------------------------------------------------------------------------


def test_command_watch_answers_the_commands_that_ended_with_their_invocations(world: AwsWorld) -> None:
    web, win = world.id("web-1"), world.id("win-1")
    world.emulator.set_behaviour(
        web, GuestBehaviour(scripts={"prepare-guest": ScriptOutcome(result="success", delay_seconds=120)})
    )
    world.emulator.set_behaviour(
        win, GuestBehaviour(platform="windows", scripts={"prepare-guest": ScriptOutcome(result="timeout")})
    )
    sent = GuestCommandResult.model_validate(world.invoke("prepare_guest", instance_ids=[web, win])).commands
    asked = {
        "invoked_after": "2000-01-01T00:00:00Z",
        "commands": [{"command_id": c.command_id, "instance_id": c.instance_ids[0]} for c in sent],
    }

    def ended() -> dict[str, str]:
        result = CommandWatchResult.model_validate(world.invoke("command_watch", **asked))
        assert result.pages == 1
        return {r.invocations[0].instance_id: r.invocations[0].state.value for r in result.ended}

    assert ended() == {win: "timed_out"}  # the Linux script runs for two minutes
    world.clock.advance(121)
    assert ended() == {win: "timed_out", web: "succeeded"}
    later = {**asked, "invoked_after": (world.clock.now() + timedelta(seconds=1)).isoformat()}
    assert CommandWatchResult.model_validate(world.invoke("command_watch", **later)).ended == []  # sent before


def test_list_commands_filters_and_pages_as_ssm_documents(world: AwsWorld) -> None:
    web, win = world.id("web-1"), world.id("win-1")
    world.invoke("prepare_guest", instance_ids=[web])
    world.clock.advance(60)
    world.invoke("prepare_guest", instance_ids=[win], migration_id="vm-wave1-second")
    ssm = boto3.client("ssm", region_name=REGION)
    after = {"key": "InvokedAfter", "value": "2000-01-01T00:00:00Z"}
    first = ssm.list_commands(Filters=[after], MaxResults=1)
    assert len(first["Commands"]) == 1 and first["NextToken"]
    second = ssm.list_commands(Filters=[after], MaxResults=1, NextToken=first["NextToken"])
    newest, oldest = first["Commands"][0], second["Commands"][0]
    assert "NextToken" not in second and newest["RequestedDateTime"] > oldest["RequestedDateTime"]
    assert newest["Parameters"]["MigrationId"] == ["vm-wave1-second"]  # moto's record, the emulator's time
    since = (newest["RequestedDateTime"] - timedelta(seconds=1)).isoformat()
    recent = ssm.list_commands(Filters=[{"key": "InvokedAfter", "value": since}])["Commands"]
    assert [c["CommandId"] for c in recent] == [newest["CommandId"]]
    with pytest.raises(ClientError, match="InvalidFilterKey"):
        ssm.list_commands(Filters=[{"key": "InstanceId", "value": web}])
    with pytest.raises(ClientError, match="InvalidFilterValue"):
        ssm.list_commands(Filters=[{"key": "InvokedAfter", "value": "yesterday"}])


# --- install_agent -------------------------------------------------------------------------------------------------


def test_install_agent_passes_the_secret_arn_never_the_value(world: AwsWorld) -> None:
    result = GuestCommandResult.model_validate(
        world.invoke("install_agent", instance_ids=[world.id("web-1"), world.id("win-1")])
    )
    assert len(result.commands) == 2
    ssm = boto3.client("ssm", region_name=REGION)
    for ref in result.commands:
        params = ssm.list_commands(CommandId=ref.command_id)["Commands"][0]["Parameters"]
        assert set(params) == {"InstallerBucket", "InstallerKey", "SecretId", "Region"}  # nothing classic left
        assert params["SecretId"] == [world.seeded.agent_config_secret_id]
        assert params["InstallerKey"][0].endswith(
            f"/InMageRcm/{ref.platform}/"
            + ("installer.tar.gz" if ref.platform == "linux" else "MobilityServiceInstaller.exe")
        )
        assert world.seeded.agent_config.get_secret_value() not in json.dumps(params)


def test_install_agent_refuses_the_retired_classic_provider(world: AwsWorld) -> None:
    error = error_of(world.invoke("install_agent", instance_ids=[world.id("web-1")], provider="InMageAzureV2"))
    assert isinstance(error, InvalidRequestError)
    assert "InMageAzureV2 (classic) was retired by Microsoft on 30 September 2026; use InMageRcm" in error.message
    error = error_of(world.invoke("install_agent", instance_ids=[world.id("web-1")], appliance_ip="10.0.1.4"))
    assert isinstance(error, InvalidRequestError) and "appliance_ip" in error.message


def test_install_agent_reports_a_missing_secret(world: AwsWorld) -> None:
    boto3.client("secretsmanager", region_name=REGION).delete_secret(
        SecretId=world.seeded.agent_config_secret_id, ForceDeleteWithoutRecovery=True
    )
    error = error_of(world.invoke("install_agent", instance_ids=[world.id("web-1")]))
    assert type(error).__name__ == "SecretNotFoundError"


# --- stop_source / start_source ----------------------------------------------------------------------------------


def test_stop_and_start_report_the_state_reached_and_are_idempotent(world: AwsWorld) -> None:
    web = world.id("web-1")
    stopped = world.invoke("stop_source", instance_ids=[web])["instances"][0]
    assert (stopped["previous_state"], stopped["state"]) == ("running", "stopping")
    again = world.invoke("stop_source", instance_ids=[web])["instances"][0]
    assert again["state"] in {"stopping", "stopped"}
    started = world.invoke("start_source", instance_ids=[web])["instances"][0]
    assert started["state"] in {"pending", "running"}
    already = world.invoke("start_source", instance_ids=[world.id("win-1")])["instances"][0]
    assert already["previous_state"] == "running" and already["state"] in {"pending", "running"}  # moto says pending


def test_stop_reports_a_missing_instance(world: AwsWorld) -> None:
    error = error_of(world.invoke("stop_source", instance_ids=["i-0123456789abcdef0"]))
    assert type(error).__name__ == "InstanceNotFoundError"


# --- revert_changes ----------------------------------------------------------------------------------------------


def test_revert_removes_only_this_migrations_rules_reverts_guests_and_tags(world: AwsWorld) -> None:
    appliance_sg = world.seeded.appliance.security_group_id
    web, db = world.id("web-1"), world.id("db-1")
    prepared = PrepareNetworkResult.model_validate(
        world.invoke(
            "prepare_network",
            instance_ids=[web],
            appliance_security_group_id=appliance_sg,
            discovery_appliance_ip="10.0.1.5",
            holder="wave-wave1",
        )
    )
    world.invoke("prepare_guest", instance_ids=[web], discovery=True)
    ledger = [c.model_dump(mode="json") for c in prepared.created]
    # One rule of the ledger is removed by hand before revert; revert must not mind.
    ec2().revoke_security_group_ingress(GroupId=appliance_sg, SecurityGroupRuleIds=[prepared.created[0].rule_id])

    result = RevertChangesResult.model_validate(
        world.invoke("revert_changes", rules=ledger, instance_ids=[web, db], outcome="completed")
    )
    assert result.rules_already_absent == [prepared.created[0].rule_id]
    [discovery] = [c.rule_id for c in prepared.created if c.purpose == "discovery"]
    assert sorted(result.rules_removed) == sorted(c.rule_id for c in prepared.created[1:] if c.rule_id != discovery)
    assert result.rules_held == [discovery]  # on the source's group, which others may share: the wave's to release
    web_sg = world.seeded.instances["web-1"].security_group_id
    assert ingress(appliance_sg) == [] and [r["SecurityGroupRuleId"] for r in ingress(web_sg)] == [discovery]
    assert [c.document_name for c in result.guest.commands] == ["ec2-to-azure-revert-guest-linux"]
    assert [(s.instance_id, s.reason) for s in result.guest.skipped] == [(db, "instance is stopped")]
    tags = ec2().describe_tags(Filters=[{"Name": "resource-id", "Values": [web, db]}])["Tags"]
    assert {(t["ResourceId"], t["Value"]) for t in tags if t["Key"] == OUTCOME_TAG} == {
        (web, "completed"),
        (db, "completed"),
    }

    again = RevertChangesResult.model_validate(
        world.invoke("revert_changes", rules=ledger, instance_ids=[web, db], outcome="completed")
    )
    assert again == result  # idempotent: the stored result, nothing sent twice
    released = RevertChangesResult.model_validate(
        world.invoke("revert_changes", migration_id="wave-wave1", outcome="wave-completed", release_holder="wave-wave1")
    )
    assert released.rules_removed == [discovery] and ingress(web_sg) == []


def test_revert_keeps_a_rule_that_carries_another_migrations_tag(world: AwsWorld) -> None:
    appliance_sg = world.seeded.appliance.security_group_id
    web = world.id("web-1")
    prepared = world.invoke("prepare_network", instance_ids=[web], appliance_security_group_id=appliance_sg)
    result = world.invoke("revert_changes", migration_id="vm-someone-else", rules=prepared["created"], outcome="failed")
    assert sorted(result["rules_kept"]) == sorted(c["rule_id"] for c in prepared["created"])
    assert len(ingress(appliance_sg)) == 2


# --- AWS errors: throttling retried, access denied reported ---------------------------------------------------------


def _inject(world: AwsWorld, operation: str, code: str, times: int, status: int = 400) -> dict[str, int]:
    """Make the EC2 client answer ``operation`` with an AWS error the first ``times`` calls (at the HTTP layer,
    so botocore's retry logic sees it exactly as it would see AWS)."""
    from botocore.awsrequest import AWSResponse

    gateways = _gateways(world)
    client = gateways.ec2._client  # type: ignore[attr-defined]
    seen = {"calls": 0}
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
        f"<Message>injected {code}</Message></Error></Errors><RequestID>r</RequestID></Response>"
    ).encode()

    class _Raw:
        def stream(self, **_kw):
            yield body

    def before_send(request, **_kw):
        seen["calls"] += 1
        if seen["calls"] <= times:
            return AWSResponse(request.url, status, {}, _Raw())
        return None

    client.meta.events.register(f"before-send.ec2.{operation}", before_send)
    from aws_lambdas.wiring import WIRING

    host = world.runtime._here
    assert host is not None
    WIRING.configure(
        settings=host.settings,
        gateway_factory=lambda s, r: gateways,
        persistence_factory=host._persistence,
    )
    return seen


def test_throttling_is_retried_by_the_sdk(world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _s: None)
    seen = _inject(world, "DescribeInstances", "RequestLimitExceeded", times=2, status=503)
    payload = world.invoke("inventory", instance_ids=[world.id("web-1")])
    assert "errorType" not in payload and payload["facts"][0]["name"] == "web-1"
    assert seen["calls"] >= 3


def test_persistent_throttling_is_a_transient_error(world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _s: None)
    seen = _inject(world, "StopInstances", "RequestLimitExceeded", times=100, status=503)
    payload = world.invoke("stop_source", instance_ids=[world.id("web-1")])
    assert seen["calls"] == 5  # EC2AZ_AWS_MAX_ATTEMPTS default: the SDK retried before giving up
    assert payload["errorType"] == "ThrottlingError"
    error = error_from_lambda_payload(payload)
    assert error.transient and type(error).__name__ == "ThrottlingError"


def test_access_denied_is_reported_as_a_permanent_error_naming_the_resource(world: AwsWorld) -> None:
    _inject(world, "StopInstances", "UnauthorizedOperation", times=100, status=403)
    web = world.id("web-1")
    error = error_of(world.invoke("stop_source", instance_ids=[web]))
    assert isinstance(error, AccessDeniedError) and not error.transient
    assert error.resource == web and error.code == "UnauthorizedOperation"


def test_a_later_migration_adopts_the_replication_rules_a_kept_replication_left(world: AwsWorld) -> None:
    """keep_replicating leaves the 443/9443 rules (the agent replicates through them); the request that adopts the
    replication takes them over and removes them at its end (discovery rules are wave-held: test_shared_rules.py)."""
    appliance_sg = world.seeded.appliance.security_group_id
    web = world.seeded.instances["web-1"]
    event = {"instance_ids": [web.instance_id], "appliance_security_group_id": appliance_sg}
    first = world.invoke("prepare_network", migration_id="vm-first", **event)
    replication = [c for c in first["created"] if c["purpose"] == "replication"]
    assert len(replication) == 2

    later = PrepareNetworkResult.model_validate(world.invoke("prepare_network", migration_id="vm-later", **event))
    assert not later.pre_existing
    assert {(c.rule_id, c.adopted_from) for c in later.created} == {(c["rule_id"], "vm-first") for c in replication}

    reverted = world.invoke(
        "revert_changes",
        migration_id="vm-later",
        rules=[c.model_dump(mode="json") for c in later.created],
        outcome="completed",
    )
    assert sorted(reverted["rules_removed"]) == sorted(c["rule_id"] for c in replication)
    assert ingress(appliance_sg) == []
