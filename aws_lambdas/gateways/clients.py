"""Building boto3 clients: only when a gateway is created without an injected client, never at import."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def client_config(max_attempts: int) -> Config:
    # Standard retry mode retries throttling and 5xx with backoff before a gateway sees the error.
    return Config(retries={"mode": "standard", "total_max_attempts": max_attempts}, connect_timeout=5, read_timeout=30)


def make_client(service: str, region: str, max_attempts: int = 5) -> Any:
    """A boto3 client; the endpoint comes from the standard ``AWS_ENDPOINT_URL*`` environment when set."""
    return boto3.session.Session().client(service, region_name=region, config=client_config(max_attempts))
