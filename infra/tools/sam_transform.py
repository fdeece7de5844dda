"""Transform the SAM template into the CloudFormation that would be deployed, with aws-sam-translator.

aws-sam-translator is the library ``sam deploy`` (through CloudFormation's transform) and cfn-lint use; it lives
in ``.venv-infra`` (run this file with ``.venv-infra/bin/python``). Local ``CodeUri`` paths are replaced by a
placeholder S3 URI first, as ``sam package`` (and cfn-lint) do: the translator accepts only S3 locations.

Usage::

    .venv-infra/bin/python infra/tools/sam_transform.py infra/aws/template.yaml [--param Environment=dev ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

#: Stands in for the S3 location ``sam package`` uploads a local ``CodeUri`` to.
PLACEHOLDER_CODE_URI = "s3://sam-transform-placeholder/code.zip"
DEFAULT_REGION = "eu-west-1"


class TransformError(Exception):
    """The template cannot be read or transformed; the message is one line."""


def load_template(template_path: Path) -> dict[str, Any]:
    """The template as plain data (CloudFormation short-form tags read as their long form)."""
    from cfnlint.decode import decode_str  # noqa: PLC0415 - .venv-infra only

    try:
        text = template_path.read_text(encoding="utf-8")
    except OSError as error:
        raise TransformError(f"cannot read {template_path}: {error.strerror}") from None
    template, matches = decode_str(text)
    if matches or not isinstance(template, dict):
        first = matches[0].message if matches else "not a mapping"
        raise TransformError(f"{template_path}: {first}")
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


def _replace_local_code_uris(template: dict[str, Any]) -> None:
    function_globals = template.get("Globals", {}).get("Function", {})
    if isinstance(function_globals.get("CodeUri"), str) and not function_globals["CodeUri"].startswith("s3://"):
        function_globals["CodeUri"] = PLACEHOLDER_CODE_URI
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties")
        if resource.get("Type") != "AWS::Serverless::Function" or not isinstance(properties, dict):
            continue
        code_uri = properties.get("CodeUri")
        if code_uri is None or (isinstance(code_uri, str) and not code_uri.startswith("s3://")):
            properties["CodeUri"] = PLACEHOLDER_CODE_URI


def transform(
    template_path: Path | str, parameter_overrides: dict[str, str] | None = None, *, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """The CloudFormation template (as data) that ``template_path`` becomes, given parameter values."""
    from samtranslator.model.exceptions import InvalidDocumentException  # noqa: PLC0415
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415

    template = load_template(Path(template_path))
    _replace_local_code_uris(template)
    declared = template.get("Parameters", {})
    values = {name: spec["Default"] for name, spec in declared.items() if "Default" in spec}
    for name, value in (parameter_overrides or {}).items():
        if name not in declared:
            raise TransformError(f"parameter {name!r} is not declared by {template_path}")
        values[name] = value
    # The translator builds ARNs for the region in AWS_DEFAULT_REGION (samtranslator.translator.arn_generator).
    saved_region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        translated = Translator(managed_policy_map=None, sam_parser=Parser()).translate(
            sam_template=template, parameter_values=values, passthrough_metadata=True
        )
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise TransformError(f"SAM transform of {template_path} failed: {causes}") from None
    finally:
        if saved_region is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved_region
    result: dict[str, Any] = json.loads(json.dumps(translated))
    return result


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` (also ``sam``'s space-separated ``parameter_overrides`` split into words) → dict."""
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise TransformError(f"parameter {pair!r} is not NAME=VALUE")
        values[name] = value
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("template", type=Path)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--region", default=DEFAULT_REGION)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(transform(args.template, parse_params(args.param), region=args.region), indent=2))
    except TransformError as error:
        print(f"sam_transform: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
