"""The infra linters pass on infra/ and catch planted errors (cfn-lint, checkov, tree-sitter-bicep, shellcheck)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import (
    AZURE_DIR,
    CFN_LINT,
    REPO_ROOT,
    SAM_TEMPLATE,
    bicep_files,
    bicep_report,
    require_infra_venv,
)

pytestmark = pytest.mark.infra


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    require_infra_venv()
    return subprocess.run(
        [str(CFN_LINT), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cfn_lint_passes_on_the_sam_template() -> None:
    result = cfn_lint(SAM_TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_catches_a_planted_error_inside_a_serverless_function(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    text = SAM_TEMPLATE.read_text(encoding="utf-8")
    assert "    Runtime: python3.11\n" in text
    broken.write_text(text.replace("    Runtime: python3.11\n", "    Runtime: python3.99\n"), encoding="utf-8")
    result = cfn_lint(broken)
    assert result.returncode != 0
    assert "python3.99" in result.stdout


def test_cfn_lint_catches_a_reference_to_a_missing_resource(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    text = SAM_TEMPLATE.read_text(encoding="utf-8")
    broken.write_text(text.replace("Resource: !GetAtt IdempotencyTable.Arn", "Resource: !GetAtt NoSuchTable.Arn", 1))
    result = cfn_lint(broken)
    assert result.returncode != 0
    assert "NoSuchTable" in result.stdout


@pytest.mark.parametrize("framework", ["cloudformation", "bicep"])
def test_checkov_reports_zero_failed_checks(checkov_results: dict[str, Any], framework: str) -> None:
    report = checkov_results["reports"][framework]
    failed = [
        (check["check_id"], check["resource"], check["file_path"]) for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert report["results"]["parsing_errors"] == [], "checkov could not parse these files, so it checked nothing there"
    assert report["summary"]["passed"] > 20


@pytest.mark.parametrize("framework", ["cloudformation", "bicep"])
def test_every_checkov_skip_is_justified_next_to_the_resource(checkov_results: dict[str, Any], framework: str) -> None:
    skipped = checkov_results["reports"][framework]["results"]["skipped_checks"]
    assert skipped, "expected the documented, justified skips"
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.split()) >= 6, f"{check['check_id']} on {check['resource']} has no real justification"


def test_every_bicep_file_parses_without_error_or_missing_nodes(azure_report: dict[str, Any]) -> None:
    assert set(azure_report["files"]) == {str(path) for path in bicep_files()}
    for path, entry in azure_report["files"].items():
        assert entry["errors"] == [], f"{path}: {entry['errors']}"


@pytest.mark.parametrize(
    ("name", "breakage"),
    [
        (
            "missing_brace.bicep",
            lambda text: text.replace("properties: {\n    serverFarmId", "properties: \n    serverFarmId", 1),
        ),
        ("bad_keyword.bicep", lambda text: text.replace("resource site ", "resourze site ", 1)),
    ],
)
def test_bicep_syntax_check_catches_a_planted_error(tmp_path: Path, name: str, breakage: Any) -> None:
    require_infra_venv()
    original = (AZURE_DIR / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    broken_text = breakage(original)
    assert broken_text != original
    broken = tmp_path / name
    broken.write_text(broken_text, encoding="utf-8")
    code, report = bicep_report([broken])
    assert code == 1
    assert report["files"][str(broken)]["errors"]


def test_bicepparam_syntax_check_catches_a_planted_error(tmp_path: Path) -> None:
    require_infra_venv()
    broken = tmp_path / "dev.bicepparam"
    text = (AZURE_DIR / "dev.bicepparam").read_text(encoding="utf-8")
    broken.write_text(text.replace("param logRetentionDays = 30", "param logRetentionDays = [30"), encoding="utf-8")
    code, report = bicep_report([broken])
    assert code == 1
    assert report["files"][str(broken)]["errors"]


def test_deploy_script_is_shellcheck_clean() -> None:
    shellcheck = REPO_ROOT / ".venv" / "bin" / "shellcheck"
    if not shellcheck.exists():
        shellcheck_path = shutil.which("shellcheck")
        if shellcheck_path is None:
            pytest.skip(".venv/bin/shellcheck is missing: run `make venv`")
        shellcheck = Path(shellcheck_path)
    result = subprocess.run(
        [str(shellcheck), "--severity=style", str(REPO_ROOT / "infra" / "deploy.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout
