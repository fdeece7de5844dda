"""Transform the SAM template into CloudFormation with aws-sam-translator, and read each Lambda's IAM policies.

aws-sam-translator is the library ``sam deploy`` and cfn-lint use, so the roles read here are the roles
CloudFormation would create: the inline ``Policies`` of each function, SAM policy templates expanded, and the
managed policies SAM adds on its own (``AWSLambdaBasicExecutionRole``; ``AWSXrayWriteOnlyAccess`` with
``Tracing: Active``). Runs under the infra venv (its pydantic pin clashes with the runtime's)::

    .venv-infra/bin/python infra/tools/sam_transform.py infra/aws/template.yaml [--param K=V ...]
    .venv-infra/bin/python infra/tools/sam_transform.py infra/aws/template.yaml --roles [--param K=V ...]

The first prints the CloudFormation JSON; ``--roles`` prints, per Lambda (its handler folder under
``aws_lambdas/``), the policy documents of its execution role with every intrinsic (``!Sub``, ``!Ref``,
``!GetAtt``, ``!Join``) resolved to the value CloudFormation would give it in account :data:`ACCOUNT_ID`.
Bad input ends with one line on stderr naming what is wrong, exit code 2.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

#: Realistic stand-ins for the deployment's pseudo parameters (the account id is AWS's documentation example).
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"
#: Where ``sam package`` would have uploaded a local CodeUri; the translator accepts only S3 locations.
PACKAGE_BUCKET = "sam-transform-package"
LAMBDA_ROLE_TYPE = "AWS::IAM::Role"


class TemplateError(ValueError):
    """The template, a parameter or an intrinsic cannot be read; the message names it."""


# --- transform ----------------------------------------------------------------------------------------------


def load_template(template_path: Path | str) -> dict[str, Any]:
    path = Path(template_path)
    try:
        document = yaml_parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"cannot read {path}: {exc.strerror}") from exc
    except Exception as exc:  # yaml errors carry their own position
        raise TemplateError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation/SAM template (no Resources)")
    return document


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template's parameter defaults, then ``overrides``, checked as CloudFormation checks them on deploy:
    unknown names, missing values and values outside AllowedValues / AllowedPattern / length / range are refused."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(overrides or {}) - set(declared))
    if unknown:
        raise TemplateError(f"unknown template parameter(s): {', '.join(unknown)}")
    values = {name: spec["Default"] for name, spec in declared.items() if "Default" in spec}
    values.update(overrides or {})
    missing = sorted(set(declared) - set(values))
    if missing:
        raise TemplateError(f"no value for template parameter(s): {', '.join(missing)}")
    for name, spec in declared.items():
        problem = _parameter_problem(spec, str(values[name]))
        if problem:
            raise TemplateError(f"parameter {name}={values[name]!r}: {problem}")
    return values


def _parameter_problem(spec: Mapping[str, Any], value: str) -> str:
    allowed = [str(v) for v in spec.get("AllowedValues") or []]
    pattern = spec.get("AllowedPattern")
    problems = [
        (bool(allowed) and value not in allowed, f"not one of {', '.join(allowed)}"),
        (bool(pattern) and re.fullmatch(str(pattern), value) is None, f"does not match {pattern}"),
        ("MinLength" in spec and len(value) < int(spec.get("MinLength", 0)), f"shorter than {spec.get('MinLength')}"),
    ]
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "not a number"
        problems += [
            ("MinValue" in spec and number < float(spec.get("MinValue", 0)), f"below {spec.get('MinValue')}"),
            ("MaxValue" in spec and number > float(spec.get("MaxValue", 0)), f"above {spec.get('MaxValue')}"),
        ]
    return next((message for failed, message in problems if failed), "")


def _package_local_code(template: dict[str, Any]) -> None:
    """Rewrite local ``CodeUri`` values to an S3 location, as ``sam package`` does before the transform."""
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    holders = [function_globals] + [
        r.get("Properties") or {}
        for r in template["Resources"].values()
        if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::Function"
    ]
    for holder in holders:
        code = holder.get("CodeUri")
        if isinstance(code, str) and not code.startswith("s3://"):
            holder["CodeUri"] = f"s3://{PACKAGE_BUCKET}/{code.strip('./') or 'code'}.zip"


def transform(
    template_path: Path | str, parameter_overrides: Mapping[str, str] | None = None, *, region: str = REGION
) -> dict[str, Any]:
    """The CloudFormation template (as a dict) that the SAM transform makes of ``template_path`` in ``region``."""
    template = load_template(template_path)
    values = parameter_values(template, parameter_overrides)
    _package_local_code(template)
    session = boto3.session.Session(region_name=region)
    translator = Translator(managed_policy_map=None, sam_parser=Parser(), boto_session=session)
    try:
        cloudformation: dict[str, Any] = translator.translate(
            sam_template=template,
            parameter_values=values,
            passthrough_metadata=True,
            get_managed_policy_map=lambda: get_bundled_managed_policy_map(PARTITION) or {},
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes)
        raise TemplateError(f"the SAM transform refused {template_path}: {causes}") from exc
    return cloudformation


# --- intrinsic values ------------------------------------------------------------------------------------------


class Resolver:
    """Resolve CloudFormation intrinsics to the values the stack would have (names, ARNs) in one account."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
        self.resources: Mapping[str, Any] = template.get("Resources") or {}
        self.values: dict[str, Any] = {
            **parameters,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": f"{parameters.get('ProjectPrefix', 'stack')}-{parameters.get('Environment', 'env')}",
            "AWS::NoValue": None,
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, argument)
        return {k: self.resolve(v) for k, v in value.items()}

    def _intrinsic(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            return self.ref(str(argument))
        if key == "Fn::GetAtt":
            name, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self.get_att(str(name), str(attribute))
        if key == "Fn::Sub":
            return self.sub(argument)
        if key == "Fn::Join":
            separator, items = argument
            return str(separator).join(str(self.resolve(item)) for item in items)
        raise TemplateError(f"cannot resolve {key} in {json.dumps({key: argument})[:120]}")

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        local = {name: self.resolve(v) for name, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    def _properties(self, name: str) -> tuple[str, dict[str, Any]]:
        if name not in self.resources:
            raise TemplateError(f"reference to {name}, which is neither a parameter nor a resource")
        resource = self.resources[name]
        return str(resource.get("Type", "")), dict(resource.get("Properties") or {})

    def _named(self, name: str, props: Mapping[str, Any], key: str) -> str:
        given = props.get(key)
        return str(self.resolve(given)) if given is not None else f"{self.values['AWS::StackName']}-{name}"

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        kind, props = self._properties(name)
        p, r, a = PARTITION, REGION, ACCOUNT_ID
        refs = {
            "AWS::DynamoDB::Table": lambda: self._named(name, props, "TableName"),
            "AWS::S3::Bucket": lambda: self._named(name, props, "BucketName"),
            "AWS::Lambda::Function": lambda: self._named(name, props, "FunctionName"),
            "AWS::Logs::LogGroup": lambda: self._named(name, props, "LogGroupName"),
            "AWS::IAM::Role": lambda: self._named(name, props, "RoleName"),
            "AWS::IAM::InstanceProfile": lambda: self._named(name, props, "InstanceProfileName"),
            "AWS::SSM::Document": lambda: self._named(name, props, "Name"),
            "AWS::KMS::Key": lambda: _key_id(name),
            "AWS::SecretsManager::Secret": lambda: (
                f"arn:{p}:secretsmanager:{r}:{a}:secret:{self._named(name, props, 'Name')}-AbCdEf"
            ),
            "AWS::IAM::ManagedPolicy": lambda: (
                f"arn:{p}:iam::{a}:policy/{self._named(name, props, 'ManagedPolicyName')}"
            ),
            "AWS::IAM::OIDCProvider": lambda: (
                f"arn:{p}:iam::{a}:oidc-provider/{str(self.resolve(props['Url'])).removeprefix('https://')}"
            ),
        }
        if kind not in refs:
            raise TemplateError(f"no value known for Ref {name} ({kind})")
        return refs[kind]()

    def get_att(self, name: str, attribute: str) -> Any:
        kind, _ = self._properties(name)
        p, r, a = PARTITION, REGION, ACCOUNT_ID
        if attribute != "Arn":
            raise TemplateError(f"no value known for GetAtt {name}.{attribute}")
        arns = {
            "AWS::DynamoDB::Table": lambda ref: f"arn:{p}:dynamodb:{r}:{a}:table/{ref}",
            "AWS::S3::Bucket": lambda ref: f"arn:{p}:s3:::{ref}",
            "AWS::Lambda::Function": lambda ref: f"arn:{p}:lambda:{r}:{a}:function:{ref}",
            "AWS::Logs::LogGroup": lambda ref: f"arn:{p}:logs:{r}:{a}:log-group:{ref}:*",
            "AWS::IAM::Role": lambda ref: f"arn:{p}:iam::{a}:role/{ref}",
            "AWS::KMS::Key": lambda ref: f"arn:{p}:kms:{r}:{a}:key/{ref}",
        }
        if kind not in arns:
            raise TemplateError(f"no value known for GetAtt {name}.Arn ({kind})")
        return arns[kind](self.ref(name))


def _key_id(logical_id: str) -> str:
    """A KMS key id shaped like AWS's (a UUID), stable for a logical id."""
    digits = "".join(f"{ord(c):02x}" for c in logical_id)[:32].ljust(32, "0")
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:32]}"


# --- the Lambdas' roles ---------------------------------------------------------------------------------------


def handler_folder(handler: str) -> str:
    """``aws_lambdas/inventory/handler.lambda_handler`` → ``inventory`` (the folder of the handler module)."""
    module = handler.rsplit(".", 1)[0]
    parts = [part for part in re.split(r"[./]", module) if part]
    if len(parts) < 2:
        raise TemplateError(f"Handler {handler!r} does not name a module inside a folder")
    return parts[-2]


def lambda_role_policies(cloudformation: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per Lambda (handler folder): its role's logical id, inline policy documents and managed policy ARNs.

    ``cloudformation`` is :func:`transform`'s output and ``parameters`` the values it was transformed with;
    every intrinsic in the policies is resolved (:class:`Resolver`).
    """
    resolver = Resolver(cloudformation, parameters)
    resources = cloudformation.get("Resources") or {}
    roles: dict[str, dict[str, Any]] = {}
    for logical_id, resource in sorted(resources.items()):
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        props = resource.get("Properties") or {}
        role = props.get("Role")
        if not (isinstance(role, dict) and "Fn::GetAtt" in role):
            raise TemplateError(f"{logical_id}: Role is not a role of this template ({json.dumps(role)})")
        role_id = role["Fn::GetAtt"][0] if isinstance(role["Fn::GetAtt"], list) else role["Fn::GetAtt"].split(".")[0]
        role_resource = resources.get(role_id) or {}
        if role_resource.get("Type") != LAMBDA_ROLE_TYPE:
            raise TemplateError(f"{logical_id}: its role {role_id} is not an {LAMBDA_ROLE_TYPE}")
        role_props = copy.deepcopy(role_resource.get("Properties") or {})
        folder = handler_folder(str(props.get("Handler", "")))
        if folder in roles:
            raise TemplateError(f"two Lambdas use the handler folder {folder!r}")
        roles[folder] = {
            "function": logical_id,
            "role": role_id,
            "policies": [
                {"name": str(resolver.resolve(p["PolicyName"])), "document": resolver.resolve(p["PolicyDocument"])}
                for p in role_props.get("Policies") or []
            ],
            "managed_policy_arns": [str(resolver.resolve(arn)) for arn in role_props.get("ManagedPolicyArns") or []],
        }
    return roles


def roles_report(template_path: Path | str, parameter_overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What ``--roles`` prints: the parameters used and :func:`lambda_role_policies` of the transformed template."""
    values = parameter_values(load_template(template_path), parameter_overrides)
    cloudformation = transform(template_path, parameter_overrides)
    return {
        "generated_by": "infra/tools/sam_transform.py TEMPLATE --roles"
        + "".join(f" --param {k}={v}" for k, v in sorted((parameter_overrides or {}).items())),
        "account_id": ACCOUNT_ID,
        "region": REGION,
        "overrides": dict(sorted((parameter_overrides or {}).items())),
        "parameters": {k: values[k] for k in sorted(values)},
        "roles": lambda_role_policies(cloudformation, values),
    }


# --- command line -----------------------------------------------------------------------------------------------


def parse_params(pairs: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise TemplateError(f"--param expects NAME=VALUE, got {pair!r}")
        parsed[name] = value
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter value")
    parser.add_argument("--roles", action="store_true", help="print each Lambda's role policies instead")
    args = parser.parse_args(argv)
    try:
        overrides = parse_params(args.param)
        result = roles_report(args.template, overrides) if args.roles else transform(args.template, overrides)
    except TemplateError as exc:
        print(f"sam_transform: {exc}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
