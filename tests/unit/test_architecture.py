"""The pure domain in shared/ imports no cloud SDK: gateways adapt SDKs, never the other way round."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("boto3", "botocore", "azure", "aws_lambda_powertools", "moto", "aiohttp", "requests")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


SHARED_MODULES = sorted((ROOT / "shared").rglob("*.py"))


@pytest.mark.parametrize("path", SHARED_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_shared_imports_no_cloud_sdk(path):
    offending = sorted(name for name in _imports(path) if name.split(".")[0] in FORBIDDEN)
    assert not offending, f"{path.relative_to(ROOT)} imports {offending}"


def test_shared_imports_nothing_from_the_adapters():
    for path in SHARED_MODULES:
        for name in _imports(path):
            assert name.split(".")[0] not in {"functions", "aws_lambdas", "local", "cli"}, (path, name)


def test_the_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import boto3\nfrom azure.identity import DefaultAzureCredential\n")
    assert {"boto3", "azure.identity"} <= _imports(bad)
