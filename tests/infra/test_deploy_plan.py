"""The deploy plan: ``infra/deploy.sh ENV --dry-run`` does everything a deployment does except the cloud calls.

Per environment it builds the SSM documents and the Lambda package, imports every handler from the package in a
fresh interpreter, transforms the template with aws-sam-translator under the environment's samconfig.toml
parameters, resolves the .bicepparam against main.bicep, and prints what would be deployed. A planted defect (a
handler Lambda cannot import) makes it fail with one line and a non-zero status.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ENVIRONMENTS, INFRA_DIR, INFRA_PYTHON, REPO_ROOT, SAM_TEMPLATE, require_infra_venv

pytestmark = pytest.mark.infra

DEPLOY_PLAN = INFRA_DIR / "tools" / "deploy_plan.py"
RUNTIME_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


def _plan(environment: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    require_infra_venv()
    return subprocess.run(
        [
            str(INFRA_PYTHON),
            str(DEPLOY_PLAN),
            environment,
            "--json",
            "--runtime-python",
            str(RUNTIME_PYTHON),
            "--work-dir",
            str(tmp_path / "work"),
            "--package-dir",
            str(tmp_path / "lambda_src"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "OWNER": "platform-team"},
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_plan_resolves_each_environment(environment: str, tmp_path: Path) -> None:
    result = _plan(environment, tmp_path)
    assert result.returncode == 0, result.stderr
    plan: dict[str, Any] = json.loads(result.stdout)
    aws, azure = plan["aws"], plan["azure"]
    assert aws["stack"] == f"ec2mig-{environment}"
    assert aws["parameters"]["Environment"] == {"value": environment, "source": "samconfig.toml"}
    assert aws["parameters"]["EntraTenantId"]["value"] == "<set at deploy time>"
    functions = {function["name"]: function for function in aws["functions"]}
    assert len(functions) == 9
    inventory = functions[f"ec2mig-{environment}-inventory"]
    assert inventory["handler"] == "aws_lambdas/inventory/handler.lambda_handler"
    assert inventory["environment"]["POWERTOOLS_METRICS_NAMESPACE"] == f"ec2mig-{environment}"
    assert inventory["environment"]["POWERTOOLS_SERVICE_NAME"] == "inventory"
    assert "ec2:DescribeInstances" in inventory["role_actions"]
    assert azure["resource_group"] == os.environ.get("AZURE_RESOURCE_GROUP", f"ec2mig-{environment}")
    assert azure["parameters"]["environment"] == {"value": environment, "source": f"{environment}.bicepparam"}
    assert azure["parameters"]["recoveryVaultName"]["value"] == f"ec2mig-{environment}-vault"
    assert {"module": "roles", "symbol": "queueTrigger", "type": "Microsoft.Authorization/roleAssignments"} in azure[
        "resources"
    ]
    # App Service authentication of the HTTP API, configured with the operator API's app registration
    assert {"module": "functionapp", "symbol": "authSettings", "type": "Microsoft.Web/sites/config"} in azure[
        "resources"
    ]
    assert azure["parameters"]["operatorApiClientId"]["source"].startswith("$OPERATOR_API_CLIENT_ID")
    assert (tmp_path / "lambda_src" / "aws_lambdas" / "guest_scripts").is_dir()


def test_a_handler_lambda_cannot_import_fails_the_plan_with_one_line(tmp_path: Path) -> None:
    planted = tmp_path / "template.yaml"
    text = SAM_TEMPLATE.read_text(encoding="utf-8")
    wrong = "Handler: aws_lambdas/stop_source/handler.stop"
    planted.write_text(text.replace("Handler: aws_lambdas/stop_source/handler.lambda_handler", wrong), encoding="utf-8")
    result = _plan("dev", tmp_path, "--template", str(planted))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "deploy plan (dev): the Lambda package: lambda_package: aws_lambdas/stop_source/handler.stop: "
        "aws_lambdas.stop_source.handler defines no callable 'stop'"
    )


def test_a_template_the_translator_rejects_fails_the_plan_with_one_line(tmp_path: Path) -> None:
    planted = tmp_path / "template.yaml"
    text = SAM_TEMPLATE.read_text(encoding="utf-8")
    planted.write_text(text.replace("    Runtime: python3.11\n", "    Runtime: python3.11\n    Bogus: true\n", 1))
    result = _plan("dev", tmp_path, "--template", str(planted))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("deploy plan (dev): the SAM transform refused ") and "Bogus" in line


def test_deploy_sh_dry_run_prints_the_plan_without_cloud_tools(tmp_path: Path) -> None:
    """No az, sam or aws on PATH: a dry run must not need them (it calls no cloud)."""
    require_infra_venv()
    result = subprocess.run(
        ["/bin/bash", str(INFRA_DIR / "deploy.sh"), "test", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Deploy plan for test (nothing was called in any cloud)")
    assert (
        "Lambda ec2mig-test-revert-changes (python3.11): handler aws_lambdas/revert_changes/handler.lambda_handler"
        in (result.stdout)
    )
    unknown = subprocess.run(
        ["/bin/bash", str(INFRA_DIR / "deploy.sh"), "staging", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert unknown.returncode == 1 and "unknown environment 'staging'" in unknown.stderr
