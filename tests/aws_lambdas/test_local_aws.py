"""The local AWS emulation: moto server on loopback, seeding, the in-process runtime, real guest script runs."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from aws_lambdas.wiring import WIRING
from local.aws import (
    Estate,
    GuestBehaviour,
    GuestEmulator,
    InstanceSpec,
    LocalLambdaRuntime,
    ScriptOutcome,
    seed_estate,
    start_moto_server,
)
from local.aws.estate import ApplianceSpec
from local.aws.guest_bridge import GuestAgentServer
from local.aws.iam import lambda_role_credentials
from local.aws.seed import aws_client
from local.aws.server import FAKE_CREDENTIALS
from local.clock import VirtualClock
from shared.facts import Platform


def test_estate_rejects_inconsistent_input() -> None:
    with pytest.raises(ValidationError, match="duplicate instance names"):
        Estate(instances=[InstanceSpec(name="a"), InstanceSpec(name="a")])
    with pytest.raises(ValidationError, match="not in the subnet"):
        Estate(instances=[InstanceSpec(name="a", private_ip="192.168.0.4")])
    with pytest.raises(ValidationError, match="ApplianceSpec"):
        Estate(appliance=ApplianceSpec(name="bad name!"))
    with pytest.raises(ValidationError, match="clash with an instance's own group: a-sg"):
        Estate(instances=[InstanceSpec(name="a"), InstanceSpec(name="b", security_group="a-sg")])


def test_moto_server_binds_loopback_and_stops() -> None:
    with pytest.raises(ValueError, match="loopback"), start_moto_server("0.0.0.0"):
        pass
    with start_moto_server() as server:
        assert server.host == "127.0.0.1" and server.port > 0
        with socket.create_connection((server.host, server.port), timeout=2):
            pass
    with pytest.raises(OSError), socket.create_connection((server.host, server.port), timeout=1):
        pass


def test_moto_server_runs_in_its_own_process_with_the_accounts_rules_quota() -> None:
    """The emulated AWS serves from a child process (its own core) and enforces the quota it was given."""
    with start_moto_server(inbound_rules_per_security_group=3) as server:
        ec2 = aws_client("ec2", "eu-west-1", server.endpoint_url)
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="quota", Description="quota", VpcId=vpc)["GroupId"]

        def allow(*cidrs: str) -> None:
            ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": c} for c in cidrs]}
                ],
            )

        allow("10.9.0.1/32", "10.9.0.2/32", "10.9.0.3/32")
        with pytest.raises(ClientError, match="RulesPerSecurityGroupLimitExceeded"):
            allow("10.9.0.4/32")
        children = _children(os.getpid())
        assert children, "the moto server should be a child process"
    assert not set(children) & set(_children(os.getpid())), "the moto server's process outlived the block"


def test_moto_server_lookups_by_id_answer_only_what_was_asked() -> None:
    """The server's speed-ups (lookups by instance id or group id that skip the rest of the estate) keep AWS's
    answers, errors included; a command sent to one instance targets only that instance (moto's own would target
    every instance of the region)."""
    with start_moto_server() as server:
        ec2 = aws_client("ec2", "eu-west-1", server.endpoint_url)
        ssm = aws_client("ssm", "eu-west-1", server.endpoint_url)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=4, MaxCount=4)["Instances"]]
        ec2.create_tags(Resources=[ids[1]], Tags=[{"Key": "Name", "Value": "second"}])

        reservations = ec2.describe_instances(InstanceIds=[ids[1]])["Reservations"]
        assert [i["InstanceId"] for r in reservations for i in r["Instances"]] == [ids[1]]
        assert reservations[0]["Instances"][0]["Tags"] == [{"Key": "Name", "Value": "second"}]
        filtered = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": ids[2:]}])["Reservations"]
        assert sorted(i["InstanceId"] for r in filtered for i in r["Instances"]) == sorted(ids[2:])
        everything = ec2.describe_instances()["Reservations"]
        assert len([i for r in everything for i in r["Instances"]]) == 4, "a lookup must not drop the others"
        with pytest.raises(ClientError, match=r"InvalidInstanceID\.NotFound"):
            ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
        stopped = ec2.stop_instances(InstanceIds=[ids[0]])["StoppingInstances"]
        assert [s["InstanceId"] for s in stopped] == [ids[0]]

        command = ssm.send_command(
            InstanceIds=[ids[3]], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]}
        )["Command"]
        assert command["InstanceIds"] == [ids[3]] and command["TargetCount"] == 1

        vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        groups = [ec2.create_security_group(GroupName=f"g{n}", Description="g", VpcId=vpc)["GroupId"] for n in range(2)]
        for n, group in enumerate(groups):
            ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": f"10.8.0.{n}/32"}]}
                ],
            )
        mine = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [groups[0]]}])
        every = ec2.describe_security_group_rules()["SecurityGroupRules"]
        assert mine["SecurityGroupRules"] == [r for r in every if r["GroupId"] == groups[0]]
        assert {r["IsEgress"] for r in mine["SecurityGroupRules"]} == {True, False}
        with pytest.raises(ClientError, match=r"InvalidGroupId\.Malformed"):
            ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": ["nope"]}])


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_end_to_end_on_the_moto_server_with_real_linux_scripts(tmp_path: Path) -> None:
    estate = Estate(
        instances=[
            InstanceSpec(name="app-1", os_name="Ubuntu", os_version="22.04"),
            InstanceSpec(name="app-2", os_name="Ubuntu", os_version="20.04"),
            InstanceSpec(name="win-1", platform=Platform.WINDOWS, os_name="Microsoft Windows Server 2019"),
        ]
    )
    clock = VirtualClock()
    agent = GuestAgentServer()
    with agent.serving(), start_moto_server(guest_agent_url=agent.url, enforce_iam=True) as server:
        seeded = seed_estate(estate, server.endpoint_url)
        ids = {name: s.instance_id for name, s in seeded.instances.items()}
        emulator = GuestEmulator(
            clock,
            {
                ids["app-1"]: GuestBehaviour(run_linux_scripts=True),
                ids["app-2"]: GuestBehaviour(
                    os_version="20.04", scripts={"install-agent": ScriptOutcome(delay_seconds=300)}
                ),
                ids["win-1"]: GuestBehaviour(platform=Platform.WINDOWS, os_id="windows", cloud_init=False),
            },
            scratch_dir=tmp_path,
            script_env={"AWS_ENDPOINT_URL": server.endpoint_url, **FAKE_CREDENTIALS},
        )
        agent.attach(emulator)  # the moto server answers SSM from it (DescribeInstanceInformation, …)
        roles = lambda_role_credentials(server.endpoint_url, estate.region)
        runtime = LocalLambdaRuntime(server.endpoint_url, seeded.lambda_environment(), credentials=roles)
        try:
            # IAM is enforced for the Lambdas: a call outside a role is refused by the server.
            as_status = boto3.session.Session(
                aws_access_key_id=roles["command_status"].access_key_id,
                aws_secret_access_key=roles["command_status"].secret_access_key,
                aws_session_token=roles["command_status"].session_token,
            ).client("ssm", region_name=estate.region, endpoint_url=server.endpoint_url)
            with pytest.raises(ClientError) as refused:
                as_status.describe_instance_information()
            assert "ssm:DescribeInstanceInformation" in str(refused.value)
            all_ids = list(ids.values())

            def finished(result: dict) -> list[dict]:
                states = []
                for command in result["commands"]:
                    status = runtime.invoke(
                        "command_status",
                        {
                            "migration_id": "m-e2e",
                            "command_id": command["command_id"],
                            "instance_ids": command["instance_ids"],
                        },
                    )
                    states.extend(status["invocations"])
                return states

            prepared = runtime.invoke(
                "prepare_guest", {"migration_id": "m-e2e", "instance_ids": all_ids, "discovery": True}
            )
            states = {s["instance_id"]: s for s in finished(prepared)}
            assert {s["state"] for s in states.values()} == {"succeeded"}
            real = states[ids["app-1"]]["result"]
            assert real["sshd_original"]["PasswordAuthentication"] == "no" and real["changed"]
            root = emulator.guest_root(ids["app-1"])
            assert "PasswordAuthentication yes" in (root / "etc/ssh/sshd_config").read_text()

            installed = runtime.invoke(
                "install_agent",
                {"migration_id": "m-e2e", "instance_ids": all_ids},
            )
            states = {s["instance_id"]: s for s in finished(installed)}
            assert states[ids["app-2"]]["state"] == "running"
            assert states[ids["app-1"]]["state"] == "succeeded", states[ids["app-1"]]["stderr_tail"]
            assert states[ids["app-1"]]["result"]["status"] == "registered"
            secret_line = (root / "var/log/fake-asr/configurator.secret").read_text().split()
            assert secret_line[0] == "mode=600" and not Path(secret_line[1].split("=", 1)[1]).exists()
            clock.advance(301)
            assert {s["state"] for s in finished(installed)} == {"succeeded"}

            reverted = runtime.invoke(
                "revert_changes", {"migration_id": "m-e2e", "instance_ids": [ids["app-1"]], "outcome": "completed"}
            )
            assert {s["state"] for s in finished(reverted["guest"])} == {"succeeded"}
            assert "PasswordAuthentication yes" not in (root / "etc/ssh/sshd_config").read_text()
            assert stat.S_IMODE((root / "etc/ssh/sshd_config").stat().st_mode) == 0o644
            assert seeded.agent_config.get_secret_value() not in json.dumps([prepared, installed, reverted])
        finally:
            runtime.close()
            WIRING.reset()
