"""Turn the guest scripts' manifests into SSM Command documents inside the SAM template.

Every ``aws_lambdas/guest_scripts/<dir>/manifest.yaml`` (plus the script it names) becomes one
``AWS::SSM::Document`` resource (schemaVersion 2.2, one ``aws:runShellScript`` or ``aws:runPowerShellScript``
step, parameters with ``allowedPattern`` and ``interpolationType: ENV_VAR``). The resources are written between
the marker comments of ``infra/aws/template.yaml``; everything else in the template is left untouched, so the
committed template stays valid on its own and ``--check`` tells CI when it is stale.

Usage::

    python infra/aws/build_ssm_documents.py            # rewrite the generated block of the template
    python infra/aws/build_ssm_documents.py --check    # exit 1 if the template is not up to date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from aws_lambdas.guest_scripts import inline_library  # noqa: E402 - after the repo root is importable

DEFAULT_SCRIPTS_DIR = REPO_ROOT / "aws_lambdas" / "guest_scripts"
DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "template.yaml"

BEGIN_MARKER = "  # BEGIN GENERATED SSM DOCUMENTS (infra/aws/build_ssm_documents.py; do not edit by hand)"
END_MARKER = "  # END GENERATED SSM DOCUMENTS"

ACTION_BY_PLATFORM = {"linux": "aws:runShellScript", "windows": "aws:runPowerShellScript"}
PLATFORM_TYPE = {"linux": "Linux", "windows": "Windows"}
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,80}[a-z0-9]$")
PARAMETER_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,49}$")
SECRET_LIKE_NAME = re.compile(r"passphrase|password|passwd|secretvalue|token|privatekey", re.IGNORECASE)
PARAMETER_TYPES = ("String",)
MAX_TIMEOUT_SECONDS = 172_800  # SSM's limit for one step
MAX_DOCUMENT_BYTES = 64 * 1024  # SSM's limit for a document's content
MANIFEST_KEYS = {"name", "platform", "script", "description", "timeout_seconds", "parameters"}
PARAMETER_KEYS = {"name", "type", "allowed_pattern", "default", "description"}


class ManifestError(ValueError):
    """A guest script manifest is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class SsmParameter:
    """One document parameter, exposed to the script as the environment variable ``SSM_<name>``."""

    name: str
    allowed_pattern: str
    description: str
    default: str | None = None
    type: str = "String"


@dataclass(frozen=True)
class GuestScript:
    """A validated manifest together with the script text it names."""

    name: str
    platform: str
    script_text: str
    description: str
    timeout_seconds: int
    parameters: tuple[SsmParameter, ...]

    @property
    def logical_id(self) -> str:
        """CloudFormation logical id, e.g. ``prepare-guest-linux`` -> ``SsmDocPrepareGuestLinux``."""
        return "SsmDoc" + "".join(part.capitalize() for part in self.name.split("-"))


def load_manifest(manifest_path: Path) -> GuestScript:
    """Read and validate one ``manifest.yaml`` and the script next to it."""
    where = str(manifest_path)
    try:
        raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: expected a mapping at the top level")
    unknown = set(raw) - MANIFEST_KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(MANIFEST_KEYS)}")

    name = _required_str(raw, "name", where)
    if not NAME_PATTERN.match(name):
        raise ManifestError(f"{where}: name {name!r} must match {NAME_PATTERN.pattern} (lowercase, digits, '-')")
    platform = _required_str(raw, "platform", where)
    if platform not in ACTION_BY_PLATFORM:
        raise ManifestError(f"{where}: platform {platform!r} must be one of {sorted(ACTION_BY_PLATFORM)}")
    script_name = _required_str(raw, "script", where)
    script_path = manifest_path.parent / script_name
    if Path(script_name).name != script_name or not script_path.is_file():
        raise ManifestError(f"{where}: script {script_name!r} is not a file next to the manifest")
    script_text = inline_library(script_path.read_text(encoding="utf-8"), scripts_library(manifest_path))
    if "{{" in script_text:
        raise ManifestError(
            f"{where}: {script_name} contains '{{{{'; SSM would interpolate it. Read parameters from $SSM_<Name>."
        )
    description = _required_str(raw, "description", where)
    timeout = raw.get("timeout_seconds")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise ManifestError(f"{where}: timeout_seconds must be an integer in 1..{MAX_TIMEOUT_SECONDS}")

    raw_parameters = raw.get("parameters") or []
    if not isinstance(raw_parameters, list):
        raise ManifestError(f"{where}: parameters must be a list")
    parameters = tuple(_parameter(item, f"{where}: parameters[{index}]") for index, item in enumerate(raw_parameters))
    names = [parameter.name for parameter in parameters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(f"{where}: duplicate parameter names {duplicates}")
    return GuestScript(name, platform, script_text, description, timeout, parameters)


def scripts_library(manifest_path: Path) -> Path:
    """The shared shell library beside the scripts' folders (``<scripts dir>/lib/common.sh``)."""
    return manifest_path.parent.parent / "lib" / "common.sh"


def _required_str(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: {key} is required and must be a non-empty string")
    return value


def _parameter(item: object, where: str) -> SsmParameter:
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected a mapping with name, type, allowed_pattern")
    unknown = set(item) - PARAMETER_KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(PARAMETER_KEYS)}")
    name = _required_str(item, "name", where)
    if not PARAMETER_NAME_PATTERN.match(name):
        raise ManifestError(f"{where}: name {name!r} must match {PARAMETER_NAME_PATTERN.pattern}")
    if SECRET_LIKE_NAME.search(name):
        raise ManifestError(
            f"{where}: parameter {name!r} looks like a secret; secrets never travel in SSM command parameters "
            "(pass the secret's id and let the guest fetch it)"
        )
    parameter_type = item.get("type", "String")
    if parameter_type not in PARAMETER_TYPES:
        raise ManifestError(f"{where}: type {parameter_type!r} must be one of {list(PARAMETER_TYPES)}")
    pattern = _required_str(item, "allowed_pattern", where)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ManifestError(f"{where}: allowed_pattern {pattern!r} is not a regular expression: {exc}") from exc
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ManifestError(f"{where}: allowed_pattern {pattern!r} must be anchored with ^ and $")
    default = item.get("default")
    if default is not None:
        if not isinstance(default, str):
            raise ManifestError(f"{where}: default must be a string (quote it in YAML)")
        if not compiled.fullmatch(default):
            raise ManifestError(f"{where}: default {default!r} does not match allowed_pattern {pattern!r}")
    description = item.get("description", name)
    if not isinstance(description, str):
        raise ManifestError(f"{where}: description must be a string")
    return SsmParameter(name, pattern, description, default, parameter_type)


def document_content(script: GuestScript) -> dict[str, Any]:
    """The SSM Command document (schemaVersion 2.2) that runs ``script``."""
    parameters: dict[str, Any] = {}
    for parameter in script.parameters:
        spec: dict[str, Any] = {
            "type": parameter.type,
            "description": parameter.description,
            "allowedPattern": parameter.allowed_pattern,
            "interpolationType": "ENV_VAR",
        }
        if parameter.default is not None:
            spec["default"] = parameter.default
        parameters[parameter.name] = spec
    content: dict[str, Any] = {
        "schemaVersion": "2.2",
        "description": script.description,
        "parameters": parameters,
        "mainSteps": [
            {
                "action": ACTION_BY_PLATFORM[script.platform],
                "name": script.name.replace("-", "_"),
                "precondition": {"StringEquals": ["platformType", PLATFORM_TYPE[script.platform]]},
                "inputs": {
                    "timeoutSeconds": str(script.timeout_seconds),
                    "runCommand": script.script_text.splitlines(),
                },
            }
        ],
    }
    size = len(json.dumps(content).encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise ManifestError(f"{script.name}: document is {size} bytes, over SSM's {MAX_DOCUMENT_BYTES}-byte limit")
    return content


def document_resource(script: GuestScript) -> dict[str, Any]:
    """The ``AWS::SSM::Document`` resource; its name is ``<ProjectPrefix>-<Environment>-<manifest name>``."""
    return {
        "Type": "AWS::SSM::Document",
        "Properties": {
            "Name": {"Fn::Sub": "${ProjectPrefix}-${Environment}-" + script.name},
            "DocumentType": "Command",
            "DocumentFormat": "JSON",
            "TargetType": "/AWS::EC2::Instance",
            "UpdateMethod": "NewVersion",
            "Content": document_content(script),
            "Tags": [
                {"Key": "environment", "Value": {"Ref": "Environment"}},
                {"Key": "owner", "Value": {"Ref": "Owner"}},
                {"Key": "project", "Value": {"Ref": "ProjectPrefix"}},
                {"Key": "platform", "Value": script.platform},
            ],
        },
    }


def discover_scripts(scripts_dir: Path) -> list[GuestScript]:
    """All manifests under ``scripts_dir`` (sorted by directory); names must be unique."""
    if not scripts_dir.is_dir():
        return []
    scripts = [load_manifest(path) for path in sorted(scripts_dir.glob("*/manifest.yaml"))]
    seen: dict[str, str] = {}
    for script in scripts:
        if script.name in seen or script.logical_id in seen.values():
            raise ManifestError(f"{scripts_dir}: two manifests are named {script.name!r}")
        seen[script.name] = script.logical_id
    return scripts


def render_block(scripts: list[GuestScript]) -> str:
    """The generated template text between (and including) the two markers."""
    lines = [BEGIN_MARKER]
    if scripts:
        resources = {script.logical_id: document_resource(script) for script in scripts}
        body = yaml.safe_dump(resources, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)
        lines.extend("  " + line if line else line for line in body.splitlines())
    lines.append(END_MARKER)
    return "\n".join(lines)


def splice(template_text: str, block: str) -> str:
    """Replace the marked block of ``template_text`` with ``block``."""
    begin = template_text.find(BEGIN_MARKER)
    end = template_text.find(END_MARKER)
    if begin < 0 or end < begin:
        raise ManifestError(f"template has no '{BEGIN_MARKER.strip()}' ... '{END_MARKER.strip()}' block")
    return template_text[:begin] + block + template_text[end + len(END_MARKER) :]


def build(scripts_dir: Path, template_path: Path) -> str:
    """The template text with the SSM documents for every manifest under ``scripts_dir``."""
    return splice(template_path.read_text(encoding="utf-8"), render_block(discover_scripts(scripts_dir)))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scripts-dir", type=Path, default=DEFAULT_SCRIPTS_DIR)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--output", type=Path, help="write here instead of rewriting --template")
    parser.add_argument("--check", action="store_true", help="fail if the template is not up to date")
    args = parser.parse_args(argv)
    try:
        text = build(args.scripts_dir, args.template)
    except (ManifestError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if text != args.template.read_text(encoding="utf-8"):
            print(f"{args.template} is stale: run infra/aws/build_ssm_documents.py", file=sys.stderr)
            return 1
        return 0
    (args.output or args.template).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
