"""What ``infra/deploy.sh ENV`` would deploy, worked out without calling a cloud (``deploy.sh ENV --dry-run``).

Everything the deployment does up to its first cloud call, for real: host.json is checked, the SSM documents are
built from the guest scripts (into a copy of the template), the Lambda package is built (``build/lambda_src``)
and each handler of the transformed template is imported from it in a fresh interpreter, the SAM template is
transformed by aws-sam-translator with the environment's ``samconfig.toml`` parameters, and the environment's
``.bicepparam`` is resolved against ``main.bicep`` (syntax checked by tree-sitter-bicep). Values that only exist
once Azure is deployed (tenant, managed identity) are shown as such and given format-valid stand-ins for the
transform. Any problem ends the plan with one line naming it and exit status 1.

Run with ``.venv-infra/bin/python`` (aws-sam-translator, cfn-lint, tree-sitter); the handler check runs under
``--runtime-python`` (default ``.venv/bin/python``), which has the Lambdas' pinned requirements installed::

    .venv-infra/bin/python infra/tools/deploy_plan.py dev [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

TOOLS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TOOLS_DIR.parents[1]
if str(TOOLS_DIR) not in sys.path:
    sys.path.insert(0, str(TOOLS_DIR))

import check_bicep_syntax  # noqa: E402 - tools beside this file
import host_json  # noqa: E402
import lambda_package  # noqa: E402
import sam_transform  # noqa: E402

ENVIRONMENTS = ("dev", "test", "prod")
PROJECT_PREFIX = "ec2mig"
AWS_DIR = REPO_ROOT / "infra" / "aws"
AZURE_DIR = REPO_ROOT / "infra" / "azure"
#: SAM parameters deploy.sh takes from the Azure deployment's outputs: (stand-in for the transform, where from).
FROM_AZURE = {
    "EntraTenantId": ("00000000-0000-0000-0000-000000000000", "Azure deployment output tenantId"),
    "AzureManagedIdentityPrincipalId": (
        "00000000-0000-0000-0000-000000000000",
        "Azure deployment output managedIdentityPrincipalId",
    ),
}
_BICEP_PARAM = re.compile(r"^param\s+(?P<name>\w+)\s*=\s*(?P<value>.+?)\s*$")
_READ_ENV = re.compile(r"^readEnvironmentVariable\('(?P<var>\w+)'(?:,\s*'(?P<default>[^']*)')?\)$")


class PlanError(Exception):
    """The deployment would fail; the message is one line."""


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, cwd=REPO_ROOT)
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
        raise PlanError(f"{what}: {lines[-1]}" + (f" (and {len(lines) - 1} more lines)" if len(lines) > 1 else ""))
    return result.stdout


def samconfig(environment: str) -> dict[str, Any]:
    config = tomllib.loads((AWS_DIR / "samconfig.toml").read_text(encoding="utf-8"))
    try:
        deploy: dict[str, Any] = config[environment]["deploy"]["parameters"]
    except KeyError:
        raise PlanError(f"samconfig.toml has no [{environment}.deploy.parameters] section") from None
    return deploy


def bicep_parameters(environment: str) -> dict[str, dict[str, Any]]:
    """main.bicep's parameters as the environment's .bicepparam sets them: name → {value, source}."""
    param_file = AZURE_DIR / f"{environment}.bicepparam"
    if not param_file.is_file():
        raise PlanError(f"missing {param_file.relative_to(REPO_ROOT)}")
    report = check_bicep_syntax.check_files(sorted([*AZURE_DIR.rglob("*.bicep"), param_file]))
    for path, entry in report["files"].items():
        if entry["errors"]:
            first = entry["errors"][0]
            where = f"{path}:{first.get('line', '?')}"
            raise PlanError(f"{where}: Bicep syntax error ({first.get('kind', '')} {first.get('text', '')!r})")
    declared = {p["name"]: p["has_default"] for p in report["files"][str(AZURE_DIR / "main.bicep")]["parameters"]}
    resolved: dict[str, dict[str, Any]] = {}
    for line in param_file.read_text(encoding="utf-8").splitlines():
        match = _BICEP_PARAM.match(line.strip())
        if not match:
            continue
        name, raw = match["name"], match["value"]
        if name not in declared:
            raise PlanError(f"{param_file.name} sets {name}, which main.bicep does not declare")
        if reads := _READ_ENV.match(raw):
            value = os.environ.get(reads["var"], reads["default"] or "")
            resolved[name] = {
                "value": value,
                "source": f"${reads['var']}" + (" (unset)" if reads["var"] not in os.environ else ""),
            }
        else:
            resolved[name] = {"value": raw.strip("'"), "source": param_file.name}
    resolved["owner"] = {"value": os.environ.get("OWNER", "platform-team"), "source": "deploy.sh ($OWNER)"}
    missing = [name for name, has_default in declared.items() if not has_default and name not in resolved]
    if missing:
        raise PlanError(f"{param_file.name} does not set the required parameter(s) {', '.join(missing)}")
    for name, has_default in declared.items():
        resolved.setdefault(name, {"value": "<default>", "source": "main.bicep"} if has_default else {})
    return resolved


def azure_resources() -> list[dict[str, str]]:
    """Every resource the Bicep modules declare (existing ones excluded): module, symbol, type."""
    report = check_bicep_syntax.check_files(sorted((AZURE_DIR / "modules").glob("*.bicep")))
    return [
        {"module": Path(path).stem, "symbol": r["symbol"], "type": r["type"].split("@")[0]}
        for path, entry in sorted(report["files"].items())
        for r in entry["resources"]
        if not r["existing"]
    ]


def _resolve(value: Any, names: dict[str, str]) -> Any:
    """Intrinsics over parameters and pseudo parameters, for display; other references stay visible as <X>."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "Ref":
            return names.get(inner, f"<{inner}>")
        if key == "Fn::Sub" and isinstance(inner, str):
            return re.sub(r"\$\{([\w:.]+)\}", lambda m: names.get(m[1], f"<{m[1]}>"), inner)
        if key == "Fn::GetAtt":
            return f"<{'.'.join(inner) if isinstance(inner, list) else inner}>"
    if isinstance(value, list):
        return [_resolve(item, names) for item in value]
    return value


def lambda_functions(template: dict[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    """Each Lambda of the transformed template: name, handler, environment, and its role's allowed actions."""
    resources = template["Resources"]
    functions = []
    for logical_id, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        role = resources[properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        actions = sorted(
            {
                action
                for policy in role.get("Policies", [])
                for statement in _as_list(policy["PolicyDocument"]["Statement"])
                if statement.get("Effect") == "Allow"
                for action in _as_list(statement.get("Action", []))
            }
        )
        variables = properties.get("Environment", {}).get("Variables", {})
        functions.append(
            {
                "logical_id": logical_id,
                "name": _resolve(properties.get("FunctionName"), names),
                "handler": properties["Handler"],
                "runtime": properties.get("Runtime"),
                "environment": {key: _resolve(value, names) for key, value in sorted(variables.items())},
                "role_actions": actions,
                "managed_policies": [_resolve(arn, names) for arn in role.get("ManagedPolicyArns", [])],
            }
        )
    if not functions:
        raise PlanError("the transformed template has no Lambda function")
    return functions


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def build_plan(
    environment: str,
    *,
    runtime_python: Path,
    work_dir: Path,
    template_source: Path = AWS_DIR / "template.yaml",
    package_dir: Path = REPO_ROOT / "build" / "lambda_src",
) -> dict[str, Any]:
    if environment not in ENVIRONMENTS:
        raise PlanError(f"unknown environment {environment!r}: expected dev, test or prod")
    if not runtime_python.is_file():
        raise PlanError(f"{runtime_python} is missing: run `make venv` (the handler check needs the Lambdas' pins)")
    if problems := host_json.check_file(REPO_ROOT / "host.json"):
        raise PlanError(problems[0])
    work_dir.mkdir(parents=True, exist_ok=True)
    template = work_dir / "template.yaml"
    _run(
        [
            str(runtime_python),
            str(AWS_DIR / "build_ssm_documents.py"),
            "--template",
            str(template_source),
            "--output",
            str(template),
        ],
        "building the SSM documents",
    )
    package = lambda_package.build(package_dir)

    deploy = samconfig(environment)
    region = str(deploy.get("region", ""))
    overrides = sam_transform.parse_params(str(deploy.get("parameter_overrides", "")).split())
    bicep = bicep_parameters(environment)
    overrides["Owner"] = bicep["owner"]["value"]
    overrides["AzureFederationAudience"] = bicep["awsFederationAudience"]["value"]
    sources = {name: "samconfig.toml" for name in overrides} | {
        "Owner": "deploy.sh ($OWNER)",
        "AzureFederationAudience": f"{environment}.bicepparam awsFederationAudience",
    }
    for name, (stand_in, source) in FROM_AZURE.items():
        overrides[name] = stand_in
        sources[name] = source
    if overrides.get("Environment") != environment:
        raise PlanError(f"samconfig.toml [{environment}] deploys Environment={overrides.get('Environment')!r}")
    try:
        transformed = sam_transform.transform(template, overrides, region=region)
    except sam_transform.TemplateError as error:
        raise PlanError(str(error)) from None

    names = {"AWS::Region": region, "AWS::Partition": "aws", "AWS::AccountId": "<account>"} | {
        name: ("<set at deploy time>" if name in FROM_AZURE else value) for name, value in overrides.items()
    }
    for name, spec in transformed.get("Parameters", {}).items():
        if name not in names and "Default" in spec:
            names[name] = str(spec["Default"])
            sources[name] = "template default"
    functions = lambda_functions(transformed, names)
    _run(
        [
            str(runtime_python),
            str(TOOLS_DIR / "lambda_package.py"),
            "check",
            "--package",
            str(package),
            *(function["handler"] for function in functions),
        ],
        "the Lambda package",
    )
    return {
        "environment": environment,
        "aws": {
            "stack": deploy.get("stack_name"),
            "region": region,
            "capabilities": deploy.get("capabilities"),
            "package": str(package.relative_to(REPO_ROOT) if package.is_relative_to(REPO_ROOT) else package),
            "parameters": {name: {"value": names[name], "source": sources.get(name, "")} for name in sorted(names)},
            "functions": functions,
            "resources": sorted({r["Type"] for r in transformed["Resources"].values()}),
        },
        "azure": {
            "resource_group": os.environ.get("AZURE_RESOURCE_GROUP", f"{PROJECT_PREFIX}-{environment}"),
            "location": os.environ.get("AZURE_LOCATION", "westeurope"),
            "template": "infra/azure/main.bicep",
            "parameters": bicep,
            "resources": azure_resources(),
        },
    }


def render(plan: dict[str, Any]) -> str:
    aws, azure = plan["aws"], plan["azure"]
    lines = [f"Deploy plan for {plan['environment']} (nothing was called in any cloud)", ""]
    lines += [f"Azure: resource group {azure['resource_group']} ({azure['location']}), {azure['template']}"]
    for name, entry in sorted(azure["parameters"].items()):
        if entry.get("source"):
            lines.append(f"  param {name} = {entry['value']}   [{entry['source']}]")
    lines.append(f"  resources ({len(azure['resources'])}):")
    lines += [f"    {r['module']}: {r['symbol']} ({r['type']})" for r in azure["resources"]]
    lines += ["", f"AWS: stack {aws['stack']} in {aws['region']} ({aws['capabilities']}), code from {aws['package']}"]
    for name, entry in aws["parameters"].items():
        if not name.startswith("AWS::"):
            lines.append(f"  {name} = {entry['value']}   [{entry['source']}]")
    for function in aws["functions"]:
        lines.append(f"  Lambda {function['name']} ({function['runtime']}): handler {function['handler']}")
        lines.append(f"    role allows: {', '.join(function['role_actions'])}")
        powertools = {k: v for k, v in function["environment"].items() if k.startswith("POWERTOOLS_")}
        lines.append(f"    powertools: {', '.join(f'{k}={v}' for k, v in powertools.items())}")
    lines.append(f"  resource types: {', '.join(aws['resources'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("environment")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--runtime-python", type=Path, default=REPO_ROOT / ".venv" / "bin" / "python")
    parser.add_argument("--work-dir", type=Path, help="where the built template goes (default build/deploy-plan/ENV)")
    parser.add_argument("--template", type=Path, default=AWS_DIR / "template.yaml", help="the SAM template")
    parser.add_argument("--package-dir", type=Path, default=REPO_ROOT / "build" / "lambda_src")
    args = parser.parse_args(argv)
    work_dir = args.work_dir or REPO_ROOT / "build" / "deploy-plan" / args.environment
    try:
        plan = build_plan(
            args.environment,
            runtime_python=args.runtime_python,
            work_dir=work_dir,
            template_source=args.template,
            package_dir=args.package_dir,
        )
    except (PlanError, lambda_package.PackageError) as error:
        print(f"deploy plan ({args.environment}): {error}", file=sys.stderr)
        return 1
    print(json.dumps(plan, indent=2) if args.json else render(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
