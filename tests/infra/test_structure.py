"""Structural rules of infra/: per-environment files, tags, names, least privilege, no secrets, CI/CD shape."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import AZURE_DIR, ENVIRONMENTS, INFRA_DIR, REPO_ROOT, SAMCONFIG

pytestmark = pytest.mark.infra

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "deploy.yml"
ENVIRONMENT_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "deploy-environment.yml"
# Child resources, role assignments and the like carry no tags in ARM.
UNTAGGABLE_AZURE_TYPES = (
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies",
    "Microsoft.Web/sites/config",
    "Microsoft.Storage/storageAccounts/blobServices",
    "Microsoft.Storage/storageAccounts/queueServices",
    "Microsoft.Storage/storageAccounts/blobServices/containers",
    "Microsoft.ServiceBus/namespaces/queues",
    "Microsoft.ServiceBus/namespaces/topics",
    "Microsoft.ServiceBus/namespaces/topics/subscriptions",
    "Microsoft.KeyVault/vaults/secrets",
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
)
UNTAGGABLE_AWS_TYPES = {
    "AWS::KMS::Alias",
    "AWS::S3::BucketPolicy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::InstanceProfile",
}
NAME_PROPERTIES = (
    "FunctionName",
    "TableName",
    "BucketName",
    "RoleName",
    "Name",
    "LogGroupName",
    "AliasName",
    "ManagedPolicyName",
    "InstanceProfileName",
)
SECRET_LOOKING = re.compile(
    r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|AccountKey=|SharedAccessKey="
    r"|(?i:password|passphrase)\s*[:=]\s*['\"][^'\"]+)"
)


def _walk(node: Any) -> list[Any]:
    found = [node]
    if isinstance(node, dict):
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _all_policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = []
        if "AssumeRolePolicyDocument" in properties:
            documents.append(properties["AssumeRolePolicyDocument"])
        documents.extend(
            policy["PolicyDocument"] for policy in properties.get("Policies", []) if "PolicyDocument" in policy
        )
        documents.extend(
            policy for policy in properties.get("Policies", []) if isinstance(policy, dict) and "Statement" in policy
        )
        for key in ("PolicyDocument", "KeyPolicy"):
            if key in properties:
                documents.append(properties[key])
        for document in documents:
            rendered = document["Fn::Sub"] if isinstance(document, dict) and "Fn::Sub" in document else document
            found.extend((logical_id, statement) for statement in _statements(rendered))
    return found


# ------------------------------------------------------------------------------------------- environments


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_has_its_bicepparam_and_samconfig_section(environment: str) -> None:
    param_file = AZURE_DIR / f"{environment}.bicepparam"
    assert param_file.is_file()
    text = param_file.read_text(encoding="utf-8")
    assert "using 'main.bicep'" in text
    assert f"param environment = '{environment}'" in text
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    deploy = config[environment]["deploy"]["parameters"]
    assert f"Environment={environment}" in deploy["parameter_overrides"]
    assert deploy["stack_name"].endswith(f"-{environment}")
    assert "CAPABILITY_NAMED_IAM" in deploy["capabilities"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_bicepparam_sets_only_declared_parameters_and_every_required_one(
    azure_report: dict[str, Any], environment: str
) -> None:
    declared = {p["name"]: p["has_default"] for p in azure_report["files"][str(AZURE_DIR / "main.bicep")]["parameters"]}
    assigned = set(azure_report["files"][str(AZURE_DIR / f"{environment}.bicepparam")]["assignments"])
    assert assigned - set(declared) == set(), "parameters set but not declared in main.bicep"
    required = {name for name, has_default in declared.items() if not has_default}
    assert required - assigned == set(), "required parameters the environment does not set"


def test_prod_keeps_backing_services_private_and_dev_does_not_pay_for_it() -> None:
    prod = (AZURE_DIR / "prod.bicepparam").read_text(encoding="utf-8")
    dev = (AZURE_DIR / "dev.bicepparam").read_text(encoding="utf-8")
    assert "param publicNetworkAccess = 'Disabled'" in prod
    assert "param serviceBusSku = 'Premium'" in prod
    assert "param publicNetworkAccess = 'Enabled'" in dev


# ------------------------------------------------------------------------------------------- no secrets


def test_no_secret_values_in_templates_or_parameter_files() -> None:
    files = [path for path in INFRA_DIR.rglob("*") if path.suffix in {".bicep", ".bicepparam", ".yaml", ".toml", ".sh"}]
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not SECRET_LOOKING.search(text), f"{path} looks like it holds a secret value"


def test_the_agent_secret_is_generated_never_literal(sam_template: dict[str, Any]) -> None:
    """One secret: the InMageRcm agent configuration (the classic appliance passphrase went with InMageAzureV2)."""
    secrets = [r for r in sam_template["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret"]
    assert len(secrets) == 1
    for secret in secrets:
        assert "SecretString" not in secret["Properties"]
        assert "GenerateSecretString" in secret["Properties"]


def test_no_bicep_parameter_is_a_plain_secret() -> None:
    for path in AZURE_DIR.rglob("*.bicep"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("param "):
                continue
            name = line.split()[1]
            if re.search(r"(?i)password|passphrase|secret|key", name) and not name.endswith(("Name", "Id", "Uri")):
                raise AssertionError(f"{path}: parameter {line!r} would carry a secret; use Key Vault")


# ------------------------------------------------------------------------------------------- tags and names


def test_every_taggable_bicep_resource_is_tagged(azure_report: dict[str, Any]) -> None:
    checked = 0
    for path, entry in azure_report["files"].items():
        for resource in entry["resources"]:
            if resource["existing"] or resource["type"].split("@")[0] in UNTAGGABLE_AZURE_TYPES:
                continue
            checked += 1
            assert "tags" in resource["properties"], f"{path}:{resource['line']} {resource['symbol']} has no tags"
    assert checked >= 12
    main = (AZURE_DIR / "main.bicep").read_text(encoding="utf-8")
    assert re.search(r"environment: environment\s+owner: owner", main), "tags must carry environment and owner"


def test_bicep_names_derive_from_the_environment(azure_report: dict[str, Any]) -> None:
    main = (AZURE_DIR / "main.bicep").read_text(encoding="utf-8")
    assert "var namePrefix = '${projectPrefix}-${environment}'" in main
    assert "var compactPrefix = take('${projectPrefix}${environment}" in main
    for path, entry in azure_report["files"].items():
        for resource in entry["resources"]:
            if resource["existing"] or resource["has_parent"]:
                continue
            name = resource["name"]
            derived = "namePrefix" in name or "compactPrefix" in name or name.startswith("guid(")
            private_dns_zone = resource["type"].startswith("Microsoft.Network/privateDnsZones@")
            assert derived or private_dns_zone, f"{path}: {resource['symbol']} is named {name!r}"


def test_every_taggable_sam_resource_is_tagged_with_the_environment(sam_template: dict[str, Any]) -> None:
    assert sam_template["Globals"]["Function"]["Tags"]["environment"] == {"Ref": "Environment"}
    for logical_id, resource in sam_template["Resources"].items():
        if resource["Type"] in UNTAGGABLE_AWS_TYPES or resource["Type"] == "AWS::Serverless::Function":
            continue
        tags = resource["Properties"].get("Tags")
        assert tags, f"{logical_id} has no tags"
        assert {"Key": "environment", "Value": {"Ref": "Environment"}} in tags, logical_id


def test_sam_names_derive_from_the_environment(sam_template: dict[str, Any]) -> None:
    named = 0
    for logical_id, resource in sam_template["Resources"].items():
        for key in NAME_PROPERTIES:
            value = resource.get("Properties", {}).get(key)
            if value is None:
                continue
            named += 1
            assert isinstance(value, dict) and "Fn::Sub" in value, f"{logical_id}.{key} is a literal"
            assert "${Environment}" in value["Fn::Sub"], f"{logical_id}.{key} does not derive from Environment"
    assert named >= 20


# ------------------------------------------------------------------------------------------- least privilege


def test_no_policy_allows_every_action_or_opens_the_internet(sam_template: dict[str, Any]) -> None:
    statements = _all_policy_statements(sam_template)
    assert len(statements) > 30
    for logical_id, statement in statements:
        for action in _as_list(statement.get("Action", [])):
            assert action not in ("*", "*:*"), f"{logical_id}: Action '*'"
    everything = json.dumps(sam_template) + "".join(p.read_text(encoding="utf-8") for p in AZURE_DIR.rglob("*.bicep"))
    assert "0.0.0.0/0" not in everything
    assert "::/0" not in everything
    for resource in sam_template["Resources"].values():
        assert resource["Type"] not in {"AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress"}


def test_the_azure_identity_role_may_only_invoke_this_projects_functions(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    role = resources["AzureInvokerRole"]["Properties"]
    functions = {logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == 9
    statements = [s for policy in role["Policies"] for s in _statements(policy["PolicyDocument"])]
    assert role.get("ManagedPolicyArns") is None
    assert len(statements) == 1
    (statement,) = statements
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "lambda:InvokeFunction"
    assert {ref["Fn::GetAtt"][0] for ref in statement["Resource"]} == functions
    assert all(ref["Fn::GetAtt"][1] == "Arn" for ref in statement["Resource"])

    (trust,) = _statements(role["AssumeRolePolicyDocument"]["Fn::Sub"])
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"] == {"Federated": "${EntraIdOidcProvider}"}
    conditions = trust["Condition"]["StringEquals"]
    assert conditions == {
        "sts.windows.net/${EntraTenantId}/:aud": "${AzureFederationAudience}",
        "sts.windows.net/${EntraTenantId}/:sub": "${AzureManagedIdentityPrincipalId}",
    }
    provider = resources["EntraIdOidcProvider"]["Properties"]
    assert provider["Url"] == {"Fn::Sub": "https://sts.windows.net/${EntraTenantId}/"}


def _function_statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    policies = template["Resources"][logical_id]["Properties"]["Policies"]
    return [statement for policy in policies for statement in _statements(policy)]


def test_lambda_roles_are_scoped(sam_template: dict[str, Any]) -> None:
    functions = [lid for lid, r in sam_template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    for logical_id in functions:
        for statement in _function_statements(sam_template, logical_id):
            actions = _as_list(statement["Action"])
            assert "secretsmanager:GetSecretValue" not in actions, f"{logical_id} must never read the secret"
            resources = json.dumps(statement["Resource"])
            if "ssm:SendCommand" in actions:
                assert (
                    "document/${ProjectPrefix}-${Environment}-*" in resources
                    or (statement["Condition"]["StringEquals"]["ssm:resourceTag/ec2-to-azure:scope"])
                ), f"{logical_id}: SendCommand beyond the project's documents / scoped instances"
            mutating = {
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:StopInstances",
                "ec2:StartInstances",
                "ec2:CreateTags",
            }
            if mutating & set(actions):
                assert statement.get("Condition"), f"{logical_id}: {actions} without a tag or create-action condition"
                assert statement["Resource"] != "*"
            if statement["Resource"] == "*":
                assert all(a.split(":")[1].startswith(("Describe", "Get", "List", "PutMetricData")) for a in actions), (
                    f"{logical_id}: {actions} on every resource"
                )


def test_idempotency_table_has_ttl_pitr_and_sse(sam_template: dict[str, Any]) -> None:
    table = sam_template["Resources"]["IdempotencyTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_installer_bucket_is_private_versioned_encrypted_and_tls_only(sam_template: dict[str, Any]) -> None:
    bucket = sam_template["Resources"]["InstallerBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    statements = sam_template["Resources"]["InstallerBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_lambdas_run_python311_on_arm64_with_their_handlers(sam_template: dict[str, Any]) -> None:
    function_globals = sam_template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.11"
    assert function_globals["Architectures"] == ["arm64"]
    handlers = {
        r["Properties"]["Handler"]
        for r in sam_template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    names = [
        "inventory",
        "prepare_network",
        "prepare_guest",
        "install_agent",
        "command_status",
        "command_watch",
        "stop_source",
        "start_source",
        "revert_changes",
    ]
    assert handlers == {f"aws_lambdas/{name}/handler.lambda_handler" for name in names}


# ------------------------------------------------------------------------------------------- Azure specifics


def test_function_app_uses_identity_connections_and_secure_transport() -> None:
    text = (AZURE_DIR / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    for setting in (
        "AzureWebJobsStorage__accountName",
        "ServiceBusConnection__fullyQualifiedNamespace",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "@Microsoft.KeyVault(",
    ):
        assert setting in text
    for fragment in ("httpsOnly: true", "minTlsVersion: '1.2'", "ftpsState: 'Disabled'", "keyVaultReferenceIdentity"):
        assert fragment in text
    assert "AzureWebJobsStorage'" not in text and "AccountKey" not in text
    storage = (AZURE_DIR / "modules" / "storage.bicep").read_text(encoding="utf-8")
    assert "allowSharedKeyAccess: false" in storage
    service_bus = (AZURE_DIR / "modules" / "servicebus.bicep").read_text(encoding="utf-8")
    assert "disableLocalAuth: true" in service_bus


def test_service_bus_queue_and_topic_contract() -> None:
    text = (AZURE_DIR / "modules" / "servicebus.bicep").read_text(encoding="utf-8")
    assert "name: 'migration-requests'" in text
    assert "name: 'migration-events'" in text
    for fragment in (
        "requiresDuplicateDetection: true",
        "duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow",
        "deadLetteringOnMessageExpiration: true",
        "maxDeliveryCount: maxDeliveryCount",
    ):
        assert fragment in text


def test_identity_roles_are_least_privilege() -> None:
    roles = (AZURE_DIR / "modules" / "roles.bicep").read_text(encoding="utf-8")
    assert "scope: requestsQueue" in roles and "scope: eventsTopic" in roles and "scope: vault" in roles
    assert "scope: namespace" not in roles, "Service Bus roles belong on the queue / topic, not the namespace"
    assert "b24988ac-6180-42a0-ab88-20f7382dd24c" not in roles, "no Contributor"
    assert "8e3af657-a8ff-443c-a75c-2fe8c4bcb635" not in roles, "no Owner"
    site_recovery = (AZURE_DIR / "modules" / "site-recovery-role.bicep").read_text(encoding="utf-8")
    assert "6670b86e-a3f7-4917-ac9b-5d6ab1be4567" in site_recovery and "scope: vault" in site_recovery


# ------------------------------------------------------------------------------------------- deploy and CI


def test_deploy_script_rejects_an_unknown_environment_before_touching_anything() -> None:
    result = subprocess.run(
        ["bash", str(INFRA_DIR / "deploy.sh"), "staging"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 1
    assert "unknown environment 'staging'" in result.stderr
    usage = subprocess.run(
        ["bash", str(INFRA_DIR / "deploy.sh")], capture_output=True, text=True, timeout=30, check=False
    )
    assert usage.returncode == 2
    assert "usage:" in usage.stderr


def test_deploy_script_checks_its_tools(tmp_path: Path) -> None:
    result = subprocess.run(
        ["/bin/bash", str(INFRA_DIR / "deploy.sh"), "dev"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "'az' is not installed" in result.stderr


def test_workflow_tests_first_then_deploys_with_oidc_and_approvals() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    assert any(step.get("run") == "make test" for step in jobs["test"]["steps"])
    assert jobs["deploy-dev"]["needs"] == "test"
    assert jobs["deploy-test"]["needs"] == "deploy-dev"
    assert jobs["deploy-prod"]["needs"] == "deploy-test"
    assert [jobs[f"deploy-{env}"]["with"]["environment"] for env in ENVIRONMENTS] == list(ENVIRONMENTS)

    reusable = yaml.safe_load(ENVIRONMENT_WORKFLOW.read_text(encoding="utf-8"))
    deploy = reusable["jobs"]["deploy"]
    assert reusable["permissions"]["id-token"] == "write"
    assert deploy["environment"] == "${{ inputs.environment }}"
    steps = {step.get("uses", "").split("@")[0]: step for step in deploy["steps"]}
    azure_login = steps["azure/login"]["with"]
    assert set(azure_login) == {"client-id", "tenant-id", "subscription-id"}
    aws = steps["aws-actions/configure-aws-credentials"]["with"]
    assert "role-to-assume" in aws
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws)
    text = ENVIRONMENT_WORKFLOW.read_text(encoding="utf-8") + WORKFLOW.read_text(encoding="utf-8")
    assert "secrets." not in text and "creds:" not in text
    assert any("infra/deploy.sh" in step.get("run", "") for step in deploy["steps"])
