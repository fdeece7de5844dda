"""Gateways against moto and botocore's Stubber; the contract's validation and error round trip."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.ssm.models import ssm_backends
from pydantic import ValidationError

from aws_lambdas.command_states import command_state, final_json_line
from aws_lambdas.gateways.errors import translate_client_error
from aws_lambdas.gateways.ssm import Boto3SsmGateway
from aws_lambdas.runtime import wire_error
from shared.aws_contracts import (
    CommandState,
    InstallAgentEvent,
    InstanceNotFoundError,
    PrepareNetworkEvent,
    SecurityGroupRuleChange,
    ThrottlingError,
    error_from_lambda_payload,
)
from shared.errors import AccessDeniedError, PermanentError, TransientError

REGION = "eu-west-1"


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    ("code", "status", "expected", "transient"),
    [
        ("Throttling", 400, "ThrottlingError", True),
        ("RequestLimitExceeded", 503, "ThrottlingError", True),
        ("InternalError", 500, "TransientError", True),
        ("IncorrectInstanceState", 400, "TransientError", True),
        ("InvalidInstanceID.NotFound", 400, "InstanceNotFoundError", False),
        ("InvalidGroup.NotFound", 400, "SecurityGroupNotFoundError", False),
        ("UnauthorizedOperation", 403, "AccessDeniedError", False),
        ("AccessDeniedException", 400, "AccessDeniedError", False),
        ("ResourceNotFoundException", 400, "SecretNotFoundError", False),
        ("InvalidDocument", 400, "DocumentNotFoundError", False),
        ("SomethingElse", 400, "PermanentError", False),
    ],
)
def test_aws_error_codes_become_typed_errors_that_survive_the_wire(
    code: str, status: int, expected: str, transient: bool
) -> None:
    error = translate_client_error(client_error(code, status), resource="i-1", action="Op")
    assert type(error).__name__ == expected and error.transient is transient and error.resource == "i-1"
    wired = wire_error(error)
    payload = {"errorType": type(wired).__name__, "errorMessage": str(wired)}
    assert payload["errorType"] == expected
    rebuilt = error_from_lambda_payload(payload)
    assert type(rebuilt) is type(error) and rebuilt.to_dict() == error.to_dict()


def test_unknown_lambda_failures_are_rebuilt_by_transience() -> None:
    assert isinstance(error_from_lambda_payload({"errorType": "KeyError", "errorMessage": "'x'"}), PermanentError)
    timeout = error_from_lambda_payload({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 300s"})
    assert isinstance(timeout, TransientError)
    assert isinstance(
        error_from_lambda_payload(
            {"errorType": "AccessDeniedError", "errorMessage": json.dumps(AccessDeniedError("x").to_dict())}
        ),
        AccessDeniedError,
    )
    assert isinstance(ThrottlingError("t"), TransientError) and isinstance(InstanceNotFoundError("n"), PermanentError)


def test_events_reject_bad_input_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="duplicate instance_ids"):
        PrepareNetworkEvent(
            migration_id="m",
            instance_ids=["i-0123456789abcdef0"] * 2,
            appliance_security_group_id="sg-0123456789abcdef0",
        )
    with pytest.raises(ValidationError, match=r"retired by Microsoft on 30 September 2026; use InMageRcm"):
        InstallAgentEvent(migration_id="m", instance_ids=["i-0123456789abcdef0"], provider="InMageAzureV2")
    with pytest.raises(ValidationError, match="/32"):
        SecurityGroupRuleChange(
            group_id="sg-0123456789abcdef0",
            rule_id="sgr-0123456789abcdef0",
            port=443,
            cidr="10.0.0.0/16",
            instance_id="i-0123456789abcdef0",
            purpose="replication",
        )
    with pytest.raises(ValidationError, match="extra"):
        InstallAgentEvent(migration_id="m", instance_ids=["i-0123456789abcdef0"], passphrase="x")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("status", "details", "state"),
    [
        ("Pending", "Pending", CommandState.RUNNING),
        ("InProgress", "InProgress", CommandState.RUNNING),
        ("Delayed", "Delayed", CommandState.RUNNING),
        ("Success", "Success", CommandState.SUCCEEDED),
        ("Failed", "Failed", CommandState.FAILED),
        ("Failed", "Undeliverable", CommandState.UNDELIVERABLE),
        ("TimedOut", "DeliveryTimedOut", CommandState.UNDELIVERABLE),
        ("TimedOut", "ExecutionTimedOut", CommandState.TIMED_OUT),
        ("Failed", "ExecutionTimedOut", CommandState.TIMED_OUT),
        ("Cancelled", "Cancelled", CommandState.FAILED),
    ],
)
def test_ssm_states_map_to_command_states(status: str, details: str, state: CommandState) -> None:
    assert command_state(status, details) is state


def test_final_json_line_is_parsed_only_when_last() -> None:
    assert final_json_line('noise\n{"a": 1}\n\n') == {"a": 1}
    assert final_json_line('{"a": 1}\ntrailing text') is None
    assert final_json_line("{broken") is None


def test_ssm_gateway_batches_by_50_and_trusts_only_its_own_targets() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images(Filters=[{"Name": "name", "Values": ["*ubuntu*"]}])["Images"][0]["ImageId"]
        ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=120, MaxCount=120)["Instances"]]
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.create_document(
            Name="p-doc",
            DocumentType="Command",
            Content=json.dumps(
                {"schemaVersion": "2.2", "description": "d", "mainSteps": [
                    {"action": "aws:runShellScript", "name": "s", "inputs": {"runCommand": ["true"]}}
                ]}
            ),
        )  # fmt: skip
        gateway = Boto3SsmGateway(REGION, client=ssm)
        sent = gateway.send_command("p-doc", ids[:110], {"Discovery": "false"}, comment="c")
        assert [len(s.instance_ids) for s in sent] == [50, 50, 10]
        assert [i for s in sent for i in s.instance_ids] == ids[:110]
        # moto's own view of the last batch lists all 120 instances (its bug); ours lists the 10 we sent to.
        assert len(ssm.list_commands(CommandId=sent[2].command_id)["Commands"][0]["InstanceIds"]) == 120

        # An invocation's status and output, set through moto's backend (same process).
        command = ssm_backends["123456789012"][REGION].get_command_by_id(sent[0].command_id)
        invocation = command.get_invocation(ids[0], None)
        invocation.update(Status="Failed", StatusDetails="Failed", ResponseCode=2, StandardErrorContent="boom")
        got = gateway.get_invocation(sent[0].command_id, ids[0])
        assert (got.status, got.response_code, got.stderr) == ("Failed", 2, "boom")
        missing = gateway.get_invocation(sent[0].command_id, "i-0123456789abcdef0")
        assert missing.status == "Pending"  # InvocationDoesNotExist right after a send


def test_ssm_gateway_describes_managed_instances_in_batches_of_50() -> None:
    client = boto3.client("ssm", region_name=REGION)
    ids = [f"i-{n:017x}" for n in range(60)]
    with Stubber(client) as stub:
        for batch, online in ((ids[:50], ids[:2]), (ids[50:], ids[50:51])):
            stub.add_response(
                "describe_instance_information",
                {
                    "InstanceInformationList": [
                        {
                            "InstanceId": i,
                            "PingStatus": "Online",
                            "PlatformType": "Linux",
                            "PlatformName": "Ubuntu",
                            "PlatformVersion": "22.04",
                        }
                        for i in online
                    ]
                },
                {"Filters": [{"Key": "InstanceIds", "Values": batch}]},
            )
        managed = Boto3SsmGateway(REGION, client=client).describe_managed_instances(ids)
        stub.assert_no_pending_responses()
    assert sorted(managed) == sorted([*ids[:2], ids[50]])
    assert managed[ids[0]].platform_name == "Ubuntu"


def test_ssm_gateway_maps_throttling_from_the_sdk() -> None:
    client = boto3.client("ssm", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("get_command_invocation", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(ThrottlingError) as raised:
            Boto3SsmGateway(REGION, client=client).get_invocation("c" * 36, "i-0123456789abcdef0")
    assert raised.value.resource.endswith("/i-0123456789abcdef0")
