"""infra/aws/build_ssm_documents.py: guest script manifests -> SSM Command documents in the SAM template."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.infra.conftest import CFN_LINT, INFRA_DIR, SAM_TEMPLATE, load_cfn, require_infra_venv

FIXTURE_SCRIPTS = Path(__file__).parent / "fixtures" / "guest_scripts"


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_ssm_documents", INFRA_DIR / "aws" / "build_ssm_documents.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def _write_script(tmp_path: Path, manifest: str, script: str = "echo ok\n", script_name: str = "run.sh") -> Path:
    directory = tmp_path / "scripts" / "sample"
    directory.mkdir(parents=True)
    (directory / "manifest.yaml").write_text(manifest, encoding="utf-8")
    (directory / script_name).write_text(script, encoding="utf-8")
    return directory / "manifest.yaml"


MANIFEST = """\
name: sample-linux
platform: linux
script: run.sh
description: sample
timeout_seconds: 60
parameters:
  - {name: Flag, type: String, allowed_pattern: "^(on|off)$", default: "off", description: a flag}
"""


def test_linux_manifest_becomes_a_schema_22_command_document() -> None:
    script = builder.load_manifest(FIXTURE_SCRIPTS / "prepare_guest_linux" / "manifest.yaml")
    content = builder.document_content(script)
    assert content["schemaVersion"] == "2.2"
    assert content["parameters"]["Discovery"] == {
        "type": "String",
        "description": "Enable password authentication for discovery",
        "allowedPattern": "^(true|false)$",
        "interpolationType": "ENV_VAR",
        "default": "false",
    }
    assert "default" not in content["parameters"]["MigrationId"]
    (step,) = content["mainSteps"]
    assert step["action"] == "aws:runShellScript"
    assert step["precondition"] == {"StringEquals": ["platformType", "Linux"]}
    assert step["inputs"]["timeoutSeconds"] == "600"
    script_text = (FIXTURE_SCRIPTS / "prepare_guest_linux" / "prepare_guest.sh").read_text(encoding="utf-8")
    assert step["inputs"]["runCommand"] == script_text.splitlines()


def test_windows_manifest_runs_powershell_and_resource_is_named_and_tagged_per_environment() -> None:
    script = builder.load_manifest(FIXTURE_SCRIPTS / "install_agent_windows" / "manifest.yaml")
    resource = builder.document_resource(script)
    assert script.logical_id == "SsmDocInstallAgentWindows"
    properties = resource["Properties"]
    assert properties["Name"] == {"Fn::Sub": "${ProjectPrefix}-${Environment}-install-agent-windows"}
    assert properties["DocumentType"] == "Command"
    assert properties["UpdateMethod"] == "NewVersion"
    assert {"Key": "environment", "Value": {"Ref": "Environment"}} in properties["Tags"]
    (step,) = properties["Content"]["mainSteps"]
    assert step["action"] == "aws:runPowerShellScript"
    assert step["precondition"] == {"StringEquals": ["platformType", "Windows"]}


def test_build_splices_documents_into_a_template_and_is_stable(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    shutil.copy(SAM_TEMPLATE, template)
    once = builder.build(FIXTURE_SCRIPTS, template)
    template.write_text(once, encoding="utf-8")
    assert builder.build(FIXTURE_SCRIPTS, template) == once
    resources = load_cfn(template)["Resources"]
    assert resources["SsmDocPrepareGuestLinux"]["Type"] == "AWS::SSM::Document"
    assert resources["SsmDocInstallAgentWindows"]["Type"] == "AWS::SSM::Document"
    # Without scripts the block is empty again and the rest of the template is untouched.
    emptied = builder.build(tmp_path / "no-scripts", template)
    assert "AWS::SSM::Document" not in emptied
    assert builder.BEGIN_MARKER in emptied and builder.END_MARKER in emptied
    assert emptied.split(builder.BEGIN_MARKER)[0] == once.split(builder.BEGIN_MARKER)[0]


def test_check_mode_detects_a_stale_template(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    shutil.copy(SAM_TEMPLATE, template)
    args = ["--scripts-dir", str(FIXTURE_SCRIPTS), "--template", str(template)]
    assert builder.main([*args, "--check"]) == 1
    assert builder.main(args) == 0
    assert builder.main([*args, "--check"]) == 0


def test_committed_template_is_up_to_date_with_the_guest_scripts() -> None:
    assert builder.main(["--check"]) == 0, "run: python infra/aws/build_ssm_documents.py"


@pytest.mark.infra
def test_template_with_generated_documents_passes_cfn_lint(tmp_path: Path) -> None:
    require_infra_venv()
    template = tmp_path / "template.yaml"
    shutil.copy(SAM_TEMPLATE, template)
    template.write_text(builder.build(FIXTURE_SCRIPTS, template), encoding="utf-8")
    result = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.replace("platform: linux", "platform: macos"), "platform 'macos' must be one of"),
        (lambda m: m.replace("name: Flag", "name: Passphrase"), "looks like a secret"),
        (lambda m: m.replace('default: "off"', 'default: "maybe"'), "does not match allowed_pattern"),
        (lambda m: m.replace('"^(on|off)$"', '"(on|off)"'), "must be anchored"),
        (lambda m: m.replace("script: run.sh", "script: missing.sh"), "is not a file next to the manifest"),
        (lambda m: m.replace("script: run.sh", "script: ../run.sh"), "is not a file next to the manifest"),
        (lambda m: m.replace("timeout_seconds: 60", "timeout_seconds: 0"), "timeout_seconds must be an integer"),
        (lambda m: m + "extra: 1\n", "unknown keys ['extra']"),
        (lambda m: m.replace("name: sample-linux", "name: Sample_Linux"), "name 'Sample_Linux' must match"),
        (lambda m: m + '  - {name: Flag, allowed_pattern: "^x$"}\n', "duplicate parameter names ['Flag']"),
        (lambda m: m.replace("type: String", "type: SecureString"), "type 'SecureString' must be one of"),
        (lambda m: "- not a mapping\n", "expected a mapping at the top level"),
    ],
)
def test_bad_manifests_are_rejected_with_a_clear_reason(tmp_path: Path, change: Any, message: str) -> None:
    manifest = _write_script(tmp_path, change(MANIFEST))
    with pytest.raises(builder.ManifestError) as raised:
        builder.load_manifest(manifest)
    assert message in str(raised.value)
    assert str(manifest) in str(raised.value)


def test_scripts_using_ssm_interpolation_are_rejected(tmp_path: Path) -> None:
    manifest = _write_script(tmp_path, MANIFEST, script="echo {{ Flag }}\n")
    with pytest.raises(builder.ManifestError, match=r"\$SSM_<Name>"):
        builder.load_manifest(manifest)


def test_cli_reports_a_bad_manifest_and_leaves_the_template_alone(tmp_path: Path, capsys: Any) -> None:
    _write_script(tmp_path, MANIFEST.replace("platform: linux", "platform: beos"))
    template = tmp_path / "template.yaml"
    shutil.copy(SAM_TEMPLATE, template)
    assert builder.main(["--scripts-dir", str(tmp_path / "scripts"), "--template", str(template)]) == 2
    assert "platform 'beos'" in capsys.readouterr().err
    assert template.read_text(encoding="utf-8") == SAM_TEMPLATE.read_text(encoding="utf-8")


CLASSIC_MARKERS = ("InMageAzureV2", "CSLegacy", "Passphrase", "CSEndPoint", "ApplianceIp")


def _classic_leftovers(resources: dict[str, Any]) -> list[str]:
    """Parameters or (non-comment) script lines of the install-agent documents that only the retired classic
    stack (InMageAzureV2: configuration server IP + passphrase) used."""
    found = []
    for logical_id in ("SsmDocInstallAgentLinux", "SsmDocInstallAgentWindows"):
        content = resources[logical_id]["Properties"]["Content"]
        found += [f"{logical_id} parameter {name}" for name in content["parameters"] if name not in INSTALL_PARAMETERS]
        for line in content["mainSteps"][0]["inputs"]["runCommand"]:
            if not line.lstrip().startswith("#") and any(marker in line for marker in CLASSIC_MARKERS):
                found.append(f"{logical_id}: {line.strip()}")
    return found


INSTALL_PARAMETERS = {"InstallerBucket", "InstallerKey", "SecretId", "Region"}


def test_committed_install_agent_documents_have_no_classic_path() -> None:
    assert _classic_leftovers(load_cfn(SAM_TEMPLATE)["Resources"]) == []


def test_the_classic_check_fails_on_a_planted_classic_parameter(tmp_path: Path) -> None:
    scripts = tmp_path / "guest_scripts"
    shutil.copytree(builder.DEFAULT_SCRIPTS_DIR, scripts)
    manifest = scripts / "install_agent_linux" / "manifest.yaml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8")
        + '  - {name: ApplianceIp, type: String, allowed_pattern: "^.*$", default: "", description: classic CS IP}\n',
        encoding="utf-8",
    )
    template = tmp_path / "template.yaml"
    shutil.copy(SAM_TEMPLATE, template)
    template.write_text(builder.build(scripts, template), encoding="utf-8")
    assert _classic_leftovers(load_cfn(template)["Resources"]) == ["SsmDocInstallAgentLinux parameter ApplianceIp"]
