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
from shared.request import Environment, MigrationRequest

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
#: "false" lets approve/cancel through without an authenticated caller (App Service authentication off); default on.
ENV_REQUIRE_CALLER = "EC2AZ_REQUIRE_AUTHENTICATED_CALLER"
#: The deployment: its environment and the one Recovery Services vault its identity may use (infra sets them).
ENV_ENVIRONMENT = "MIGRATION_ENVIRONMENT"
ENV_VAULT_SUBSCRIPTION_ID = "SITE_RECOVERY_SUBSCRIPTION_ID"
ENV_VAULT_RESOURCE_GROUP = "SITE_RECOVERY_RESOURCE_GROUP"
ENV_VAULT_NAME = "SITE_RECOVERY_VAULT_NAME"

#: Names bound in the trigger decorators (the platform resolves ``%NAME%`` from app settings; infra sets them).
REQUESTS_QUEUE = "migration-requests"
SERVICEBUS_CONNECTION = "ServiceBusConnection"
HEALTH_SCHEDULE_SETTING = "REPLICATION_HEALTH_SCHEDULE"
DEFAULT_HEALTH_SCHEDULE = "0 */15 * * * *"
#: The replication watch (job completions and final syncs the VMs wait for): every 10 seconds.
WATCH_SCHEDULE_SETTING = "REPLICATION_WATCH_SCHEDULE"
DEFAULT_WATCH_SCHEDULE = "*/10 * * * * *"
#: The discovery watch (machines discovered with their agents registered, for VMs waiting on that): every minute.
#: Not on the cutover's path, and each read lists the whole Azure Migrate site: slower than the replication watch.
DISCOVERY_WATCH_SCHEDULE_SETTING = "DISCOVERY_WATCH_SCHEDULE"
DEFAULT_DISCOVERY_WATCH_SCHEDULE = "0 * * * * *"


class DeploymentVault(BaseModel):
    """The Recovery Services vault this deployment's identity has Site Recovery rights on (infra grants them on
    this vault only). Azure resource names compare case-insensitively."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resource_group: str = Field(min_length=1)
    name: str = Field(min_length=1)
    subscription_id: str = ""
    """Empty: any subscription (the check then compares resource group and name only)."""

    def admits(self, subscription_id: str, resource_group: str, name: str) -> bool:
        return (
            (not self.subscription_id or self.subscription_id.lower() == subscription_id.lower())
            and self.resource_group.lower() == resource_group.lower()
            and self.name.lower() == name.lower()
        )

    def __str__(self) -> str:
        where = f"subscription {self.subscription_id}, " if self.subscription_id else ""
        return f"vault {self.name} ({where}resource group {self.resource_group})"


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
    require_authenticated_caller: bool = Field(
        default=True, description="approve / cancel need the principal App Service authentication passes in"
    )
    environment: Environment | None = None
    """The deployment's environment; ``from_env`` requires it. None only for settings built in-process without
    a deployment (unit tests): nothing is then refused on that ground."""
    vault: DeploymentVault | None = None
    """The deployment's vault; ``from_env`` requires it. None as for ``environment``."""

    def refusals(self, request: MigrationRequest) -> list[str]:
        """Why this deployment must not run ``request`` (empty when it may): another environment's request, or a
        target vault its identity may not use. Checked before anything starts."""
        found = []
        if self.environment is not None and request.environment is not self.environment:
            found.append(
                f"environment: the request is for {request.environment.value}, "
                f"this deployment is {self.environment.value}"
            )
        if self.vault is not None:
            for index, vm in enumerate(request.vms):
                target = request.target_for(vm)
                if not self.vault.admits(target.subscription_id, target.vault.resource_group, target.vault.name):
                    where = f"vms[{index}].target.vault" if vm.target and vm.target.vault else "target.vault"
                    found.append(
                        f"{where}: vault {target.vault.name} (subscription {target.subscription_id}, resource group "
                        f"{target.vault.resource_group}) is not this deployment's {self.vault}"
                    )
                    break
        return found

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
            "require_authenticated_caller": ENV_REQUIRE_CALLER,
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
        missing = [name for name in (ENV_ENVIRONMENT, ENV_VAULT_RESOURCE_GROUP, ENV_VAULT_NAME) if not env.get(name)]
        if missing:
            raise InvalidRequestError(
                f"invalid function app settings: {', '.join(missing)} not set (infra sets the deployment's "
                "environment and Site Recovery vault)",
                issues=tuple(f"{name}: not set" for name in missing),
            )
        values["environment"] = env[ENV_ENVIRONMENT]
        values["vault"] = {
            "subscription_id": env.get(ENV_VAULT_SUBSCRIPTION_ID, ""),
            "resource_group": env[ENV_VAULT_RESOURCE_GROUP],
            "name": env[ENV_VAULT_NAME],
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            names = {**plain, "timings": ENV_TIMINGS, "health_thresholds": ENV_HEALTH_THRESHOLDS}
            names |= {"environment": ENV_ENVIRONMENT, "vault": f"{ENV_VAULT_RESOURCE_GROUP}/{ENV_VAULT_NAME}"}
            issues = tuple(
                f"{names.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors(include_url=False)
            )
            raise InvalidRequestError("invalid function app settings: " + "; ".join(issues), issues=issues) from None
