"""A minimal ``aws`` CLI for emulated guests: the two calls the install-agent script makes, against moto.

    aws s3 cp s3://<bucket>/<key> <file> [--region R] [--only-show-errors]
    aws secretsmanager get-secret-value --secret-id <id> [--region R] --query SecretString --output text

The endpoint comes from ``AWS_ENDPOINT_URL`` (boto3's own variable). Anything else exits 2 with a message.
"""

from __future__ import annotations

import sys

import boto3


def _options(args: list[str]) -> tuple[list[str], dict[str, str]]:
    positional, options = [], {}
    flags = {"--only-show-errors"}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in flags:
            options[arg] = "true"
            index += 1
        elif arg.startswith("--"):
            if index + 1 >= len(args):
                raise SystemExit(f"aws: option {arg} needs a value")
            options[arg] = args[index + 1]
            index += 2
        else:
            positional.append(arg)
            index += 1
    return positional, options


def main(argv: list[str]) -> int:
    positional, options = _options(argv)
    region = options.get("--region")
    if positional[:2] == ["s3", "cp"] and len(positional) == 4 and positional[2].startswith("s3://"):
        bucket, _, key = positional[2].removeprefix("s3://").partition("/")
        boto3.client("s3", region_name=region).download_file(bucket, key, positional[3])
        return 0
    if positional == ["secretsmanager", "get-secret-value"] and options.get("--query") == "SecretString":
        value = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=options["--secret-id"])
        sys.stdout.write(str(value["SecretString"]) + "\n")
        return 0
    sys.stderr.write(f"aws (emulated): unsupported command: {' '.join(positional)}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
