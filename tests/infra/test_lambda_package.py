"""The Lambda deployment package, checked the way Lambda's Python runtime will use it.

The handler strings come from the template as aws-sam-translator transforms it (what CloudFormation receives),
the package from ``infra/tools/lambda_package.py build`` (what ``make lambda-package`` and deploy.sh stage), and
each handler is imported in a fresh interpreter that sees only the package and its pinned requirements. Lambda
resolves ``path/module.function`` relative to ``CodeUri`` by splitting at the last ``.`` and importing the
module path with ``/`` read as ``.`` (``awslambdaric.bootstrap._get_handler``; AWS docs "Define Lambda function
handler in Python": the handler is ``file_name.function_name``). Each check is shown failing on a planted defect:
a wrong Handler string, and the package deploy.sh used to build (``aws_lambdas/guest_scripts`` deleted).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import INFRA_PYTHON, REPO_ROOT, SAM_TEMPLATE, require_infra_venv
from tests.infra.tools import load_tool

pytestmark = pytest.mark.infra

lambda_package = load_tool("lambda_package")
SAM_TRANSFORM = REPO_ROOT / "infra" / "tools" / "sam_transform.py"
#: Values the transform needs for parameters deploy.sh takes from the Azure deployment (format-valid stand-ins).
AZURE_OUTPUT_STANDINS = [
    "Owner=platform-team",
    "EntraTenantId=00000000-0000-0000-0000-000000000000",
    "AzureFederationAudience=api://ec2mig-plan",
    "AzureManagedIdentityPrincipalId=00000000-0000-0000-0000-000000000000",
]


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The dev stack's CloudFormation, as aws-sam-translator (in .venv-infra) produces it."""
    require_infra_venv()
    params = [f"--param={p}" for p in ["Environment=dev", *AZURE_OUTPUT_STANDINS]]
    result = subprocess.run(
        [str(INFRA_PYTHON), str(SAM_TRANSFORM), str(SAM_TEMPLATE), *params],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    template: dict[str, Any] = json.loads(result.stdout)
    return template


@pytest.fixture(scope="module")
def handlers(transformed: dict[str, Any]) -> dict[str, str]:
    """Function logical id → Handler, for every Lambda of the transformed template."""
    functions = {
        logical_id: resource["Properties"]["Handler"]
        for logical_id, resource in transformed["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert len(functions) == 9
    return functions


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built: Path = lambda_package.build(tmp_path_factory.mktemp("package") / "lambda_src")
    return built


def _copy(package: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "lambda_src"
    shutil.copytree(package, copy)
    return copy


def test_every_handler_the_template_names_imports_from_the_package(package: Path, handlers: dict[str, str]) -> None:
    assert lambda_package.check(package, handlers.values()) == []


def test_the_package_carries_the_guest_scripts_and_the_pinned_runtime_requirements(package: Path) -> None:
    assert (package / "aws_lambdas" / "guest_scripts" / "install_agent_linux" / "manifest.yaml").is_file()
    assert (package / "shared" / "data" / "azure_vm_sizes.json").is_file()
    assert not list(package.rglob("__pycache__"))
    pins = [line for line in (package / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    repo_pins = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert pins and all(pin in repo_pins for pin in pins)
    assert {pin.split("==")[0].split("[")[0] for pin in pins} == set(lambda_package.LAMBDA_REQUIREMENTS)


def test_a_wrong_handler_string_fails_the_check(package: Path, handlers: dict[str, str]) -> None:
    planted = {**handlers, "InventoryFunction": "aws_lambdas/inventory/handler.handler"}
    assert lambda_package.check(package, planted.values()) == [
        "aws_lambdas/inventory/handler.handler: aws_lambdas.inventory.handler defines no callable 'handler'"
    ]
    assert lambda_package.check(package, ["aws_lambdas/inventory/handler"])[0].endswith(
        "is not of the form path/module.function"
    )


def test_the_package_deploy_sh_used_to_build_fails_the_check(
    package: Path, handlers: dict[str, str], tmp_path: Path
) -> None:
    """deploy.sh staged aws_lambdas/ then deleted aws_lambdas/guest_scripts, which guest_commands imports."""
    staged = _copy(package, tmp_path)
    shutil.rmtree(staged / "aws_lambdas" / "guest_scripts")
    found = lambda_package.check(staged, handlers.values())
    missing_module = "No module named 'aws_lambdas.guest_scripts'"
    broken = sorted(problem.split(":")[0] for problem in found if missing_module in problem)
    assert broken == [
        "aws_lambdas/install_agent/handler.lambda_handler",
        "aws_lambdas/prepare_guest/handler.lambda_handler",
        "aws_lambdas/revert_changes/handler.lambda_handler",
    ]
    assert found[0].startswith("the package lacks aws_lambdas/guest_scripts/")


def test_a_package_without_the_manifests_fails_although_every_import_succeeds(
    package: Path, handlers: dict[str, str], tmp_path: Path
) -> None:
    """The manifests are read when a command is sent, not at import: the file comparison catches them."""
    staged = _copy(package, tmp_path)
    for manifest in (staged / "aws_lambdas" / "guest_scripts").rglob("manifest.yaml"):
        manifest.unlink()
    (problem,) = lambda_package.check(staged, handlers.values())
    assert problem.startswith("the package lacks aws_lambdas/guest_scripts/") and "manifest.yaml" in problem


def test_a_requirement_missing_from_the_package_fails_the_check(
    package: Path, handlers: dict[str, str], tmp_path: Path
) -> None:
    staged = _copy(package, tmp_path)
    requirements = staged / "requirements.txt"
    requirements.write_text(
        "".join(line + "\n" for line in requirements.read_text().splitlines() if not line.startswith("PyYAML"))
    )
    found = lambda_package.check(staged, handlers.values())
    assert found and all("No module named 'yaml'" in problem for problem in found), found


# ------------------------------------------------------------------------------------------- Powertools names

_METRICS_PROBE = """
import json, sys
from aws_lambdas.inventory.handler import lambda_handler
class Context:
    function_name = "probe"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:1:function:probe"
    aws_request_id = "req-1"
try:
    lambda_handler({"not": "an inventory event"}, Context())
except Exception as exc:
    print("FAILED:" + type(exc).__name__, file=sys.stderr)
"""


def _emitted_metrics(package: Path, environment: dict[str, str]) -> tuple[str, str]:
    """(namespace, service dimension) of the EMF line a handler prints when it fails, run from ``package`` in a
    fresh interpreter whose environment is ``environment`` (what the template gives the function)."""
    deps = package.parent / "deps"
    if not deps.exists():
        deps.mkdir()
        pins = [line for line in (package / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
        lambda_package.link_requirements(pins, deps)
    bootstrap = f"import sys; sys.path[:0] = {[str(package), str(deps)]!r}; exec({_METRICS_PROBE!r})"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "POWERTOOLS_TRACE_DISABLED": "1", **environment}
    result = subprocess.run(
        [sys.executable, "-S", "-c", bootstrap],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=package.parent,
    )
    assert "FAILED:InvalidRequestError" in result.stderr, result.stderr[-2000:]
    emf = [json.loads(line) for line in result.stdout.splitlines() if '"_aws"' in line]
    assert len(emf) == 1, result.stdout
    (metric_set,) = emf[0]["_aws"]["CloudWatchMetrics"]
    return metric_set["Namespace"], emf[0]["service"]


def test_the_function_environment_decides_the_powertools_names(package: Path) -> None:
    environment = {"POWERTOOLS_SERVICE_NAME": "inventory", "POWERTOOLS_METRICS_NAMESPACE": "ec2mig-test"}
    assert _emitted_metrics(package, environment) == ("ec2mig-test", "inventory")
    environment = {"POWERTOOLS_SERVICE_NAME": "inventory", "POWERTOOLS_METRICS_NAMESPACE": "ec2mig-prod"}
    assert _emitted_metrics(package, environment) == ("ec2mig-prod", "inventory")


def test_hard_coded_powertools_names_fail_the_check(package: Path, tmp_path: Path) -> None:
    """The defect that was there: runtime.py passed service and namespace, overriding the environment."""
    staged = _copy(package, tmp_path)
    runtime = staged / "aws_lambdas" / "runtime.py"
    text = runtime.read_text()
    assert "metrics = Metrics()\n" in text
    hard_coded = 'metrics = Metrics(namespace="Ec2ToAzure", service="ec2-to-azure")\n'
    runtime.write_text(text.replace("metrics = Metrics()\n", hard_coded))
    environment = {"POWERTOOLS_SERVICE_NAME": "inventory", "POWERTOOLS_METRICS_NAMESPACE": "ec2mig-test"}
    assert _emitted_metrics(staged, environment) != ("ec2mig-test", "inventory")


def test_the_template_names_each_service_and_a_namespace_per_environment(transformed: dict[str, Any]) -> None:
    """POWERTOOLS_SERVICE_NAME is the function's folder; POWERTOOLS_METRICS_NAMESPACE derives from the environment.
    Powertools Metrics writes EMF lines to the function's log, so no role needs cloudwatch:PutMetricData."""
    resources = transformed["Resources"]
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        variables = properties["Environment"]["Variables"]
        folder = properties["Handler"].split("/")[1]
        assert variables["POWERTOOLS_SERVICE_NAME"] == folder
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": "${ProjectPrefix}-${Environment}"}
        role = resources[properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        actions = [
            action
            for policy in role["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        ]
        assert "cloudwatch:PutMetricData" not in actions, folder
