"""Each Lambda's role, as the SAM template defines it, against the AWS calls its handler really makes.

The ``world`` fixture runs every handler under its own execution role with moto's access control on (see
local/aws/iam.py for what moto evaluates: actions only). Here the actions moto authorised are recorded per role
session during a representative run and compared with the role: a call the role lacks fails the run, and a
grant no call used fails too, unless listed in :data:`GRANTED_WITHOUT_A_CALL` with the reason.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from moto import mock_aws
from moto.iam.access_control import IAMRequestBase

from local.aws.guest import GuestEmulator
from local.aws.iam import LambdaRole, load_lambda_roles
from local.aws.ssm_extension import guest_ssm
from local.clock import VirtualClock
from shared.aws_contracts import PrepareNetworkResult, error_from_lambda_payload
from shared.errors import AccessDeniedError
from tests.aws_lambdas.conftest import AwsWorld, iam_enforced_world
from tests.infra.conftest import SAM_TEMPLATE, lambda_roles_report

#: Actions a role must grant although the handler never calls them, each with the reason.
GRANTED_WITHOUT_A_CALL: dict[tuple[str, str], str] = {
    ("revert_changes", "ec2:AuthorizeSecurityGroupIngress"): (
        "race path: a wave's release restores the shared rules it revoked while another wave took hold of them "
        "(aws_lambdas/shared_rules.py; tests/aws_lambdas/test_shared_rules.py races it through the gateway)"
    ),
    ("start_source", "kms:CreateGrant"): (
        "authorisation only: starting an instance whose EBS volumes use a customer managed key makes EC2 create a "
        "KMS grant on the caller's behalf (AWS EBS docs, Permissions for users); moto emulates no such check"
    ),
    **{
        (function, "dynamodb:GetItem"): (
            "error path: Powertools idempotency reads the record only when a conditional PutItem fails without "
            "returning the existing item; Powertools' docs list GetItem among the required permissions"
        )
        for function in ("prepare_guest", "install_agent", "revert_changes")
    },
}


@dataclasses.dataclass
class Recorded:
    """The actions moto authorised (or refused), per role session name (= the Lambda's handler folder)."""

    calls: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)

    def actions(self, function: str) -> set[str]:
        return {action for session, action, _ in self.calls if session == function}

    def denied(self) -> list[tuple[str, str]]:
        return [(session, action) for session, action, allowed in self.calls if not allowed]


@contextmanager
def recording() -> Iterator[Recorded]:
    """Record every action moto's access control checks, by the assumed role session that made the call."""
    recorded = Recorded()
    original = IAMRequestBase.check_action_permitted

    def check(request: Any, resource: str) -> None:
        principal = str(request._access_key.arn)
        session = principal.rsplit("/", 1)[-1] if ":assumed-role/" in principal else ""
        try:
            original(request, resource)
        except Exception:
            if session:
                recorded.calls.append((session, request._action, False))
            raise
        if session:
            recorded.calls.append((session, request._action, True))

    IAMRequestBase.check_action_permitted = check  # type: ignore[method-assign]
    try:
        yield recorded
    finally:
        IAMRequestBase.check_action_permitted = original  # type: ignore[method-assign]


def granted(role: LambdaRole, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in role.actions())


def representative_run(world: AwsWorld) -> None:
    """Every Lambda on the demo's path, including the duplicate and error paths the pipeline takes."""
    web, win, db = world.id("web-1"), world.id("win-1"), world.id("db-1")
    names = ["web-1", "win-1", "db-1", "legacy-1"]
    assert "errorType" not in world.invoke("inventory", instance_ids=[world.id(n) for n in names])
    network = {
        "instance_ids": [web, win],
        "appliance_security_group_id": world.seeded.appliance.security_group_id,
        "discovery_appliance_ip": "10.0.1.5",
        "holder": "wave-wave0",  # the discovery rules are on the sources' groups: held by the wave
    }
    prepared = PrepareNetworkResult.model_validate(world.invoke("prepare_network", **network))
    again = world.invoke("prepare_network", **network)  # the rules exist: duplicates are read back
    assert "errorType" not in again
    guest = world.invoke("prepare_guest", instance_ids=[web, win], discovery=True)
    assert guest["commands"], guest
    command = guest["commands"][0]
    status = world.invoke("command_status", command_id=command["command_id"], instance_ids=command["instance_ids"])
    assert "errorType" not in status
    watched = world.invoke(
        "command_watch",
        invoked_after="2000-01-01T00:00:00Z",
        commands=[{"command_id": command["command_id"], "instance_id": command["instance_ids"][0]}],
    )
    assert "errorType" not in watched and watched["pages"] >= 1, watched
    installed = world.invoke("install_agent", instance_ids=[web, win], provider="InMageRcm")
    assert installed["commands"], installed
    assert "errorType" not in world.invoke("stop_source", instance_ids=[web])
    assert "errorType" not in world.invoke("start_source", instance_ids=[web])
    ledger = [c.model_dump(mode="json") for c in prepared.created]
    reverted = world.invoke("revert_changes", rules=ledger, instance_ids=[web, win, db], outcome="rolled_back")
    assert reverted.get("rules_removed"), reverted
    released = world.invoke("revert_changes", outcome="wave-completed", release_holder="wave-wave0", revert_guest=False)
    assert released.get("rules_removed"), released  # the discovery rules: no other wave holds them
    # Shared rules (rule_source security_group): a wave takes hold of them, then releases them at its end.
    shared = {**network, "source_kind": "security_group", "holder": "wave-wave1", "migration_id": "vm-wave1-shared"}
    assert "errorType" not in world.invoke("prepare_network", **shared)
    released = world.invoke("revert_changes", outcome="wave-completed", release_holder="wave-wave1", revert_guest=False)
    assert released.get("rules_removed"), released
    # Idempotent Lambdas failing after their record was written: Powertools deletes the record (DeleteItem).
    boto3.client("secretsmanager", region_name=world.seeded.region).delete_secret(
        SecretId=world.seeded.agent_config_secret_id, ForceDeleteWithoutRecovery=True
    )
    failed = world.invoke("install_agent", instance_ids=[web], provider="InMageRcm")
    assert failed.get("errorType") == "SecretNotFoundError", failed
    ssm = boto3.client("ssm", region_name=world.seeded.region)
    for script in ("prepare-guest-linux", "revert-guest-linux"):  # a document not deployed
        ssm.delete_document(Name=f"{world.seeded.document_prefix}-{script}")
    later = {"migration_id": "vm-wave1-later"}
    failed = world.invoke("prepare_guest", instance_ids=[web], discovery=False, **later)
    assert failed.get("errorType") == "DocumentNotFoundError", failed
    failed = world.invoke("revert_changes", rules=[], instance_ids=[web], outcome="failed", **later)
    assert failed.get("errorType") == "DocumentNotFoundError", failed


def role_problems(roles: dict[str, LambdaRole], recorded: Recorded) -> list[str]:
    """Calls a role lacks, and grants no call used (allow-list aside)."""
    problems = []
    for function, role in sorted(roles.items()):
        used = recorded.actions(function)
        if not used:
            problems.append(f"{function} made no AWS call on the representative run")
        problems += [f"{function} calls {a}, which its role lacks" for a in sorted(used) if not granted(role, a)]
        for action in sorted(role.actions()):
            if (function, action) in GRANTED_WITHOUT_A_CALL or any(fnmatch.fnmatchcase(u, action) for u in used):
                continue
            problems.append(f"{function} is granted {action} but never calls it")
    return problems


def with_actions(role: LambdaRole, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> LambdaRole:
    """A copy of the role with actions added (one new statement) or removed from every statement."""
    policies: dict[str, dict[str, Any]] = {}
    for name, document in role.policies.items():
        statements = []
        for statement in _as_list(document["Statement"]):
            kept = [a for a in _as_list(statement["Action"]) if a not in remove]
            if kept:
                statements.append({**statement, "Action": kept})
        policies[name] = {**document, "Statement": statements}
    if add:
        policies["planted"] = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(add)}]}
    return dataclasses.replace(role, policies=policies)


def test_each_lambda_calls_exactly_what_its_role_grants(world: AwsWorld) -> None:
    roles = load_lambda_roles()
    with recording() as recorded:
        representative_run(world)
    assert recorded.denied() == []
    assert role_problems(roles, recorded) == []
    stale = [key for key in GRANTED_WITHOUT_A_CALL if key[1] not in roles[key[0]].actions()]
    assert stale == [], "allow-listed grants that the roles no longer have"

    # The comparison goes red on the two planted defects of issue 14: a grant never used, a call not granted.
    planted = {
        **roles,
        "inventory": with_actions(roles["inventory"], add=("ec2:DescribeSubnets",)),
        "install_agent": with_actions(roles["install_agent"], remove=("secretsmanager:DescribeSecret",)),
    }
    assert role_problems(planted, recorded) == [
        "install_agent calls secretsmanager:DescribeSecret, which its role lacks",
        "inventory is granted ec2:DescribeSubnets but never calls it",
    ]


def test_a_call_its_role_does_not_allow_fails_the_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    roles = load_lambda_roles()
    install = roles["install_agent"]
    planted = with_actions(install, remove=("ec2:DescribeInstances",))
    assert "ec2:DescribeInstances" in install.actions() and "ec2:DescribeInstances" not in planted.actions()
    # The same defect on a JSON-protocol service: AWS answers AccessDeniedException there (see deny_as_aws_does).
    prepare = with_actions(roles["prepare_guest"], remove=("ssm:DescribeInstanceInformation",))
    with iam_enforced_world(monkeypatch, {**roles, "install_agent": planted, "prepare_guest": prepare}) as world:
        payload = world.invoke("install_agent", instance_ids=[world.id("web-1")], provider="InMageRcm")
        unprepared = world.invoke("prepare_guest", instance_ids=[world.id("web-1")])
    error = error_from_lambda_payload(payload)
    assert isinstance(error, AccessDeniedError), payload
    assert "ec2:DescribeInstances" in error.message
    denied = error_from_lambda_payload(unprepared)
    assert isinstance(denied, AccessDeniedError) and denied.code == "AccessDeniedException", unprepared
    assert "ssm:DescribeInstanceInformation" in denied.message


@pytest.mark.infra
def test_an_action_removed_from_the_template_fails_the_iam_enforced_lambda(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The whole chain on a temp copy: template → aws-sam-translator → role in moto → the handler's call refused."""
    text = SAM_TEMPLATE.read_text(encoding="utf-8")
    grant = "            - *describe_instances\n            - *managed_instances_statement\n            # Checks the"
    assert text.count(grant) == 1, "install_agent's DescribeInstances grant moved; update this planted defect"
    planted = tmp_path / "template.yaml"
    planted.write_text(text.replace(grant, "            - *managed_instances_statement\n            # Checks the"))
    roles_file = tmp_path / "lambda_roles.json"
    roles_file.write_text(json.dumps(lambda_roles_report(planted)), encoding="utf-8")
    with iam_enforced_world(monkeypatch, load_lambda_roles(roles_file)) as world:
        refused = world.invoke("install_agent", instance_ids=[world.id("web-1")], provider="InMageRcm")
        still = world.invoke("prepare_guest", instance_ids=[world.id("web-1")])
    error = error_from_lambda_payload(refused)
    assert isinstance(error, AccessDeniedError) and "ec2:DescribeInstances" in error.message
    assert "errorType" not in still  # prepare_guest keeps its own grant


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_emulated_ssm_calls_go_through_moto_with_iam_and_validation(world: AwsWorld) -> None:
    """DescribeInstanceInformation / GetCommandInvocation are served by moto: IAM and the SDK's checks apply."""
    web = world.id("web-1")
    as_status = world.credentials["command_status"]
    ssm_status = boto3.client(
        "ssm",
        region_name=world.seeded.region,
        aws_access_key_id=as_status.access_key_id,
        aws_secret_access_key=as_status.secret_access_key,
        aws_session_token=as_status.session_token,
    )
    with pytest.raises(ClientError) as refused:
        ssm_status.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [web]}])
    assert "ssm:DescribeInstanceInformation" in str(refused.value)
    ssm = boto3.client("ssm", region_name=world.seeded.region)  # the administrator
    with pytest.raises(ParamValidationError):
        ssm.describe_instance_information(Filters=[{"Key": "InstanceIds"}])
    listed = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [web, world.id("legacy-1")]}])
    assert [(i["InstanceId"], i["PingStatus"]) for i in listed["InstanceInformationList"]] == [(web, "Online")]
    paged = ssm.describe_instance_information(MaxResults=5)  # every managed guest, five at most per page
    assert len(paged["InstanceInformationList"]) == 3 and "NextToken" not in paged
    with pytest.raises(ClientError) as unknown_key:
        ssm.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["Online"]}])
    assert unknown_key.value.response["Error"]["Code"] == "InvalidFilterKey"

    document = f"{world.seeded.document_prefix}-prepare-guest-linux"
    with pytest.raises(ClientError) as missing:
        ssm.send_command(DocumentName="no-such-document", InstanceIds=[web])
    assert missing.value.response["Error"]["Code"] == "InvalidDocument"
    with pytest.raises(ClientError) as undeclared:
        ssm.send_command(DocumentName=document, InstanceIds=[web], Parameters={"Shell": ["rm -rf /"]})
    assert undeclared.value.response["Error"]["Code"] == "InvalidParameters"
    with pytest.raises(ClientError) as malformed:
        ssm.send_command(
            DocumentName=document, InstanceIds=[web], Parameters={"MigrationId": ["$(reboot)"], "Discovery": ["true"]}
        )
    assert malformed.value.response["Error"]["Code"] == "InvalidParameters"
    sent = ssm.send_command(
        DocumentName=document, InstanceIds=[web], Parameters={"MigrationId": ["vm-1"], "Discovery": ["false"]}
    )["Command"]["CommandId"]
    got = ssm.get_command_invocation(CommandId=sent, InstanceId=web)
    assert (got["Status"], got["DocumentName"]) == ("Success", document)
    assert '"discovery_enabled": false' in got["StandardOutputContent"]
    with pytest.raises(ClientError) as never_sent:
        ssm.get_command_invocation(CommandId=sent, InstanceId=world.id("win-1"))
    assert never_sent.value.response["Error"]["Code"] == "InvocationDoesNotExist"


def test_unpatched_moto_is_kinder_than_ssm_and_the_extension_is_not() -> None:
    """What the extension corrects, shown on moto without it: an unknown document is accepted, and there is no
    DescribeInstanceInformation at all."""
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        accepted = ssm.send_command(DocumentName="no-such-document", InstanceIds=["i-0123456789abcdef0"])
        assert accepted["Command"]["CommandId"]  # AWS answers InvalidDocument
        with pytest.raises(NotImplementedError):
            ssm.describe_instance_information()
        with guest_ssm(GuestEmulator(VirtualClock())):
            with pytest.raises(ClientError) as refused:
                ssm.send_command(DocumentName="no-such-document", InstanceIds=["i-0123456789abcdef0"])
            assert refused.value.response["Error"]["Code"] == "InvalidDocument"
            assert ssm.describe_instance_information()["InstanceInformationList"] == []
        with pytest.raises(NotImplementedError):  # the block gave moto its own responses back
            ssm.describe_instance_information()
