"""The IAM policies as aws-sam-translator makes them: the Lambdas' roles file is current, parliament finds nothing
that is not explained, and both checks go red on planted defects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import (
    LAMBDA_ROLES,
    LINT_POLICIES,
    SAM_TEMPLATE,
    SAM_TRANSFORM,
    infra_tool,
    lambda_roles_report,
)

pytestmark = pytest.mark.infra

#: parliament findings that are right about the statement and wrong about the policy, each with the reason.
#: Key: (resource, issue, text the finding's detail contains).
EXPLAINED_FINDINGS: dict[tuple[str, str, str], str] = {
    **{
        (role, "RESOURCE_MISMATCH", "ssm:SendCommand"): (
            "SendCommand needs an Allow on the document (required resource) and on each instance: the document ARNs "
            "are allowed by SendProjectDocuments, the instances by SendToScopedInstances with its tag condition. "
            "parliament checks each statement alone, so the instance-only statement lacks the document"
        )
        for role in ("PrepareGuestFunctionRole", "InstallAgentFunctionRole", "RevertChangesFunctionRole")
    },
    ("PrepareNetworkFunctionRole", "RESOURCE_MISMATCH", "ec2:AuthorizeSecurityGroupIngress"): (
        "AuthorizeSecurityGroupIngress is allowed on the group by AuthorizeOnScopedGroups and on the new rule by "
        "CreateMarkedRules (security-group-rule ARNs with aws:RequestTag); the rule statement alone lacks the group"
    ),
    ("RevertChangesFunctionRole", "RESOURCE_MISMATCH", "ec2:AuthorizeSecurityGroupIngress"): (
        "restoring shared rules (aws_lambdas/shared_rules.py): AuthorizeSecurityGroupIngress is allowed on the group "
        "by RestoreOnScopedGroups and on the rule by RestoreMarkedRules (aws:RequestTag); the rule statement alone "
        "lacks the group"
    ),
    ("StartSourceFunctionRole", "PERMISSIONS_MANAGEMENT_ACTIONS", ""): (
        "kms:CreateGrant is how EC2 gets to use a customer managed key for the volumes of an instance it starts; "
        "limited to grants for AWS resources (kms:GrantIsForAWSResource) made through EC2 (kms:ViaService)"
    ),
}


def lint(template: Path) -> tuple[int, dict[str, Any]]:
    overrides = json.loads(LAMBDA_ROLES.read_text(encoding="utf-8"))["overrides"]
    result = infra_tool(LINT_POLICIES, str(template), *(f"--param={k}={v}" for k, v in overrides.items()))
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def unexplained(findings: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (f["resource"], f["issue"], f["detail"])
        for f in findings
        if not any(
            f["resource"] == resource and f["issue"] == issue and text in f["detail"]
            for resource, issue, text in EXPLAINED_FINDINGS
        )
    ]


def test_the_lambda_roles_file_is_what_the_sam_transform_makes_of_the_template() -> None:
    committed = json.loads(LAMBDA_ROLES.read_text(encoding="utf-8"))
    fresh = lambda_roles_report(SAM_TEMPLATE)
    assert fresh == committed, (
        f"{LAMBDA_ROLES.name} is stale: regenerate it with .venv-infra/bin/python "
        f"{committed['generated_by'].replace('TEMPLATE', 'infra/aws/template.yaml')} > infra/aws/lambda_roles.json"
    )
    assert set(fresh["roles"]) == {
        "inventory",
        "prepare_network",
        "prepare_guest",
        "install_agent",
        "command_status",
        "command_watch",
        "stop_source",
        "start_source",
        "revert_changes",
    }
    for role in fresh["roles"].values():  # SAM's own additions are part of the role
        assert "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" in role["managed_policy_arns"]
        assert not json.dumps(role["policies"]).count("Fn::"), "an intrinsic was left unresolved"


def test_removing_an_action_from_the_template_removes_it_from_the_role(tmp_path: Path) -> None:
    text = SAM_TEMPLATE.read_text(encoding="utf-8")
    grant = "            - *describe_instances\n            - *managed_instances_statement\n            # Checks the"
    assert text.count(grant) == 1, "install_agent's DescribeInstances grant moved; update this planted defect"
    planted = tmp_path / "template.yaml"
    planted.write_text(text.replace(grant, "            - *managed_instances_statement\n            # Checks the"))
    report = lambda_roles_report(planted)
    roles = report["roles"]
    actions = json.dumps(roles["install_agent"]["policies"])
    assert "ec2:DescribeInstances" not in actions and "ec2:DescribeInstances" in json.dumps(roles["prepare_guest"])
    assert report != json.loads(LAMBDA_ROLES.read_text(encoding="utf-8")), "the staleness check would miss it"


def test_the_transform_cli_prints_cloudformation_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    overrides = json.loads(LAMBDA_ROLES.read_text(encoding="utf-8"))["overrides"]
    result = infra_tool(SAM_TRANSFORM, str(SAM_TEMPLATE), *(f"--param={k}={v}" for k, v in overrides.items()))
    assert result.returncode == 0, result.stderr
    cloudformation = json.loads(result.stdout)
    types = {r["Type"] for r in cloudformation["Resources"].values()}
    assert "AWS::Serverless::Function" not in types and "AWS::Lambda::Function" in types
    assert "Transform" not in cloudformation

    for args, message in [
        ((str(SAM_TEMPLATE), "--param=Environment=dev"), "no value for template parameter(s)"),
        ((str(SAM_TEMPLATE), *(f"--param={k}={v}" for k, v in {**overrides, "Environment": "qa"}.items())), "qa"),
        ((str(SAM_TEMPLATE), "--param=Nope=1"), "unknown template parameter(s): Nope"),
        ((str(tmp_path / "missing.yaml"),), "cannot read"),
    ]:
        refused = infra_tool(SAM_TRANSFORM, *args)
        assert refused.returncode == 2 and refused.stdout == ""
        assert len(refused.stderr.strip().splitlines()) == 1 and message in refused.stderr, refused.stderr


def test_parliament_finds_nothing_unexplained_in_any_identity_policy() -> None:
    code, report = lint(SAM_TEMPLATE)
    linted = {p["resource"] for p in report["policies"]}
    assert {"InventoryFunctionRole", "StartSourceFunctionRole", "AzureInvokerRole", "GuestAccessPolicy"} <= linted
    assert unexplained(report["findings"]) == []
    used = {
        key
        for key in EXPLAINED_FINDINGS
        if any(f["resource"] == key[0] and f["issue"] == key[1] and key[2] in f["detail"] for f in report["findings"])
    }
    assert used == set(EXPLAINED_FINDINGS), (
        f"explanations for findings parliament no longer makes: {set(EXPLAINED_FINDINGS) - used}"
    )
    assert code == (1 if report["findings"] else 0)


def test_parliament_flags_a_planted_bad_policy(tmp_path: Path) -> None:
    text = SAM_TEMPLATE.read_text(encoding="utf-8")
    assert text.count("              Action: ec2:StopInstances\n") == 1
    planted = tmp_path / "template.yaml"
    planted.write_text(
        text.replace("              Action: ec2:StopInstances\n", "              Action: ec2:StopInstance\n")
    )
    code, report = lint(planted)
    assert code == 1
    assert ("StopSourceFunctionRole", "UNKNOWN_ACTION") in {(r, i) for r, i, _ in unexplained(report["findings"])}
