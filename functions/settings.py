"""Settings of the function app, built once from app settings (environment variables) and passed in.

Every variable name is a constant here. Orchestrators never read these: the starter copies what they need
(the timings) into their input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidRequestError
from shared.health import HealthThresholds
from shared.pipeline import Timings

ENV_LAMBDA_PREFIX = "AWS_LAMBDA_FUNCTION_PREFIX"
ENV_AWS_REGION = "AWS_REGION"
ENV_AWS_ROLE_ARN = "AWS_ROLE_ARN"
ENV_AWS_TOKEN_AUDIENCE = "AWS_WEB_IDENTITY_AUDIENCE"  # noqa: S105 - a variable name
ENV_MANAGED_IDENTITY_CLIENT_ID = "AZURE_CLIENT_ID"
ENV_SERVICEBUS_NAMESPACE = "ServiceBusConnection__fullyQualifiedNamespace"
ENV_EVENTS_TOPIC = "MIGRATION_EVENTS_TOPIC"
ENV_TIMINGS = "EC2AZ_TIMINGS"
ENV_HEALTH_THRESHOLDS = "EC2AZ_HEALTH_THRESHOLDS"
ENV_BATCH_SIZE = "EC2AZ_BATCH_SIZE"

#: Names bound in the trigger decorators (the platform resolves ``%NAME%`` from app settings; infra sets them).
REQUESTS_QUEUE = "migration-requests"
SERVICEBUS_CONNECTION = "ServiceBusConnection"
HEALTH_SCHEDULE_SETTING = "REPLICATION_HEALTH_SCHEDULE"
DEFAULT_HEALTH_SCHEDULE = "0 */15 * * * *"


class FunctionAppSettings(BaseModel):
    """What the function app needs to reach AWS, Site Recovery and Service Bus, and how to pace the lifecycle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lambda_prefix: str = Field(default="ec2-to-azure-dev-", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    aws_region: str = "eu-west-1"
    aws_role_arn: str = ""
    aws_token_audience: str = "api://AzureADTokenExchange"  # noqa: S105 - the OIDC audience, not a secret
    managed_identity_client_id: str = ""
    servicebus_namespace: str = ""
    events_topic: str = "migration-events"
    timings: Timings = Field(default_factory=Timings)
    health_thresholds: HealthThresholds = Field(default_factory=HealthThresholds)
    batch_size: int = Field(default=50, ge=1, le=500)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FunctionAppSettings:
        """Build from app settings; a malformed value names its variable."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        plain = {
            "lambda_prefix": ENV_LAMBDA_PREFIX,
            "aws_region": ENV_AWS_REGION,
            "aws_role_arn": ENV_AWS_ROLE_ARN,
            "aws_token_audience": ENV_AWS_TOKEN_AUDIENCE,
            "managed_identity_client_id": ENV_MANAGED_IDENTITY_CLIENT_ID,
            "servicebus_namespace": ENV_SERVICEBUS_NAMESPACE,
            "events_topic": ENV_EVENTS_TOPIC,
            "batch_size": ENV_BATCH_SIZE,
        }
        for field, name in plain.items():
            if env.get(name):
                values[field] = env[name]
        for field, name in {"timings": ENV_TIMINGS, "health_thresholds": ENV_HEALTH_THRESHOLDS}.items():
            if env.get(name):
                try:
                    values[field] = json.loads(env[name])
                except json.JSONDecodeError as error:
                    raise InvalidRequestError(f"{name}: expected a JSON object: {error.msg}") from None
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            names = {**plain, "timings": ENV_TIMINGS, "health_thresholds": ENV_HEALTH_THRESHOLDS}
            issues = tuple(
                f"{names.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors(include_url=False)
            )
            raise InvalidRequestError("invalid function app settings: " + "; ".join(issues), issues=issues) from None
