"""Shared fixtures of the infra tests: the linters' venv, the repo paths, a CloudFormation-aware YAML loader."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
AZURE_DIR = INFRA_DIR / "azure"
SAM_TEMPLATE = INFRA_DIR / "aws" / "template.yaml"
SAMCONFIG = INFRA_DIR / "aws" / "samconfig.toml"
INFRA_VENV_BIN = REPO_ROOT / ".venv-infra" / "bin"
CFN_LINT = INFRA_VENV_BIN / "cfn-lint"
CHECKOV = INFRA_VENV_BIN / "checkov"
INFRA_PYTHON = INFRA_VENV_BIN / "python"
BICEP_CHECKER = INFRA_DIR / "tools" / "check_bicep_syntax.py"
SAM_TRANSFORM = INFRA_DIR / "tools" / "sam_transform.py"
LINT_POLICIES = INFRA_DIR / "tools" / "lint_policies.py"
LAMBDA_ROLES = INFRA_DIR / "aws" / "lambda_roles.json"
ENVIRONMENTS = ("dev", "test", "prod")


def require_infra_venv() -> None:
    """Skip (with the reason) when the infra linters' venv is absent; ``make test`` always creates it."""
    missing = [tool for tool in (CFN_LINT, CHECKOV, INFRA_PYTHON) if not tool.exists()]
    if missing:
        pytest.skip(f".venv-infra is missing {', '.join(map(str, missing))}: run `make infra-venv`")


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt ...) as their long form."""


def _intrinsic(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_cfn(path: Path) -> dict[str, Any]:
    """A CloudFormation / SAM template as plain data."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)


def bicep_report(paths: list[Path]) -> tuple[int, dict[str, Any]]:
    """Run the tree-sitter syntax checker under .venv-infra; (exit code, JSON report)."""
    result = subprocess.run(
        [str(INFRA_PYTHON), str(BICEP_CHECKER), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def bicep_files() -> list[Path]:
    """Every .bicep and .bicepparam file under infra/azure."""
    return sorted([*AZURE_DIR.rglob("*.bicep"), *AZURE_DIR.glob("*.bicepparam")])


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return load_cfn(SAM_TEMPLATE)


@pytest.fixture(scope="session")
def azure_report() -> dict[str, Any]:
    require_infra_venv()
    _, report = bicep_report(bicep_files())
    return report


@pytest.fixture(scope="session")
def checkov_results() -> dict[str, Any]:
    """checkov over infra/ once per session (it is the slow one), as parsed JSON keyed by framework."""
    require_infra_venv()
    result = subprocess.run(
        [
            # through the venv's python: checkov's script carries a plain ``#!`` line, which breaks in a checkout
            # whose path has a space (pip's console scripts quote it; checkov's is a setuptools script)
            str(INFRA_PYTHON),
            str(CHECKOV),
            "-d",
            str(INFRA_DIR),
            "--framework",
            "cloudformation",
            "bicep",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(REPO_ROOT / ".pytest_cache"),
            "BC_SKIP_MAPPING": "TRUE",
            "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        },
    )
    payload = json.loads(result.stdout)
    reports = payload if isinstance(payload, list) else [payload]
    return {"exit_code": result.returncode, "reports": {report["check_type"]: report for report in reports}}


def infra_tool(tool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of infra/tools under .venv-infra (skips when that venv is absent)."""
    require_infra_venv()
    return subprocess.run(
        [str(INFRA_PYTHON), str(tool), *args], capture_output=True, text=True, timeout=120, check=False
    )


def lambda_roles_report(template: Path) -> dict[str, Any]:
    """``sam_transform.py --roles`` of ``template`` with the parameters infra/aws/lambda_roles.json was made with."""
    overrides = json.loads(LAMBDA_ROLES.read_text(encoding="utf-8"))["overrides"]
    result = infra_tool(SAM_TRANSFORM, str(template), "--roles", *(f"--param={k}={v}" for k, v in overrides.items()))
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report
