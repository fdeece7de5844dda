"""Secrets Manager gateway. The Lambdas only check that a secret exists and learn its ARN: the guest fetches
the value itself, so no secret value ever passes through a Lambda."""

from __future__ import annotations

from typing import Any

from aws_lambdas.gateways.clients import make_client
from aws_lambdas.gateways.errors import aws_errors
from aws_lambdas.gateways.ports import SecretRef


class Boto3SecretsGateway:
    def __init__(self, region: str, client: Any = None, *, max_attempts: int = 5) -> None:
        self.region = region
        self._client = client if client is not None else make_client("secretsmanager", region, max_attempts)

    def describe_secret(self, secret_id: str) -> SecretRef:
        """The secret's ARN and name (DescribeSecret: metadata only, never the value)."""
        with aws_errors("DescribeSecret", secret_id):
            raw = self._client.describe_secret(SecretId=secret_id)
        return SecretRef(arn=str(raw["ARN"]), name=str(raw["Name"]))
