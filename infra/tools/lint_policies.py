"""Lint every IAM policy of the transformed SAM template offline with parliament (duo-labs' IAM policy linter).

Runs under the infra venv, after the SAM transform (so SAM's generated roles are linted too)::

    .venv-infra/bin/python infra/tools/lint_policies.py infra/aws/template.yaml [--param K=V ...]

Prints one JSON object: ``{"policies": [{"resource", "name"}...], "findings": [{"resource", "name", "issue",
"severity", "title", "detail", "location"}...]}``. Linted: every identity policy CloudFormation would create (the
inline policies of roles, SAM's generated Lambda roles included, and customer managed policies), with intrinsics
resolved first (``sam_transform.Resolver``) so ARNs are checked as AWS would see them. Not linted: resource
policies (trust, key and bucket policies), which parliament does not model (it reports every trust policy as
MALFORMED for lacking a Resource), and AWS managed policies (AWS's own). Exit code 1 when there is any finding,
2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from parliament import analyze_policy_string
from sam_transform import Resolver, TemplateError, load_template, parameter_values, transform

#: (resource type, property) of every identity policy document CloudFormation creates.
POLICY_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("AWS::IAM::Role", "Policies"),
    ("AWS::IAM::ManagedPolicy", "PolicyDocument"),
    ("AWS::IAM::Policy", "PolicyDocument"),
)


def policy_documents(cloudformation: Mapping[str, Any], resolver: Resolver) -> Iterator[tuple[str, str, Any]]:
    """(resource, policy name, resolved document) for every identity policy of the template."""
    for logical_id, resource in sorted((cloudformation.get("Resources") or {}).items()):
        props = resource.get("Properties") or {}
        for resource_type, key in POLICY_PROPERTIES:
            if resource.get("Type") != resource_type or key not in props:
                continue
            if key == "Policies":
                for policy in props[key]:
                    name = str(resolver.resolve(policy["PolicyName"]))
                    yield logical_id, name, resolver.resolve(policy["PolicyDocument"])
            else:
                yield (
                    logical_id,
                    str(resolver.resolve(props.get("ManagedPolicyName", key))),
                    resolver.resolve(props[key]),
                )


def lint(cloudformation: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    resolver = Resolver(cloudformation, parameters)
    linted: list[dict[str, str]] = []
    findings: list[dict[str, Any]] = []
    for resource, name, document in policy_documents(cloudformation, resolver):
        linted.append({"resource": resource, "name": name})
        analyzed = analyze_policy_string(json.dumps(document), include_community_auditors=True)
        for finding in analyzed.findings:
            findings.append(
                {
                    "resource": resource,
                    "name": name,
                    "issue": finding.issue,
                    "severity": finding.severity,
                    "title": finding.title,
                    "detail": finding.detail if isinstance(finding.detail, str) else json.dumps(finding.detail),
                    "location": json.dumps(finding.location, default=str),
                }
            )
    return {"policies": linted, "findings": findings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    try:
        overrides = {}
        for pair in args.param:
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise TemplateError(f"--param expects NAME=VALUE, got {pair!r}")
            overrides[name] = value
        values = parameter_values(load_template(args.template), overrides)
        report = lint(transform(args.template, overrides), values)
    except TemplateError as exc:
        print(f"lint_policies: {exc}", file=sys.stderr)
        return 2
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
