"""Settings of the Lambdas, built once at a handler's entry from the environment.

Every environment variable name is a constant here; an explicit argument to :class:`Settings` wins over the
environment. Nothing here creates a client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from shared.facts import Platform
from shared.provider import Provider

ENV_REGION = "AWS_REGION"
ENV_DEFAULT_REGION = "AWS_DEFAULT_REGION"
ENV_SSM_DOCUMENT_PREFIX = "EC2AZ_SSM_DOCUMENT_PREFIX"
ENV_INSTALLER_BUCKET = "EC2AZ_INSTALLER_BUCKET"
ENV_INSTALLER_PREFIX = "EC2AZ_INSTALLER_PREFIX"
ENV_AGENT_CONFIG_SECRET_ID = "EC2AZ_AGENT_CONFIG_SECRET_ID"  # noqa: S105 (a variable name, not a secret)
ENV_IDEMPOTENCY_TABLE = "EC2AZ_IDEMPOTENCY_TABLE"
ENV_IDEMPOTENCY_EXPIRES_SECONDS = "EC2AZ_IDEMPOTENCY_EXPIRES_SECONDS"
ENV_AWS_MAX_ATTEMPTS = "EC2AZ_AWS_MAX_ATTEMPTS"
ENV_OUTPUT_TAIL_CHARS = "EC2AZ_OUTPUT_TAIL_CHARS"

ALL_ENV_NAMES = (
    ENV_REGION,
    ENV_SSM_DOCUMENT_PREFIX,
    ENV_INSTALLER_BUCKET,
    ENV_INSTALLER_PREFIX,
    ENV_AGENT_CONFIG_SECRET_ID,
    ENV_IDEMPOTENCY_TABLE,
    ENV_IDEMPOTENCY_EXPIRES_SECONDS,
    ENV_AWS_MAX_ATTEMPTS,
    ENV_OUTPUT_TAIL_CHARS,
)

# Guest scripts by purpose and platform: the manifest ``name`` under aws_lambdas/guest_scripts/.
PREPARE_GUEST_DOCUMENTS = {Platform.LINUX: "prepare-guest-linux", Platform.WINDOWS: "prepare-guest-windows"}
INSTALL_AGENT_DOCUMENTS = {Platform.LINUX: "install-agent-linux", Platform.WINDOWS: "install-agent-windows"}
REVERT_GUEST_DOCUMENTS = {Platform.LINUX: "revert-guest-linux", Platform.WINDOWS: "revert-guest-windows"}

_INSTALLER_FILES = {Platform.LINUX: "installer.tar.gz", Platform.WINDOWS: "MobilityServiceInstaller.exe"}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(min_length=1)
    ssm_document_prefix: str = Field(default="ec2-to-azure", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    installer_bucket: str = ""
    installer_prefix: str = "mobility-agent"
    agent_config_secret_id: str = ""
    idempotency_table: str = ""
    idempotency_expires_seconds: int = Field(default=3600, ge=60)
    aws_max_attempts: int = Field(default=5, ge=1, le=20)
    output_tail_chars: int = Field(default=4000, ge=200, le=24000)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def integer(name: str, default: int) -> int:
            raw = env.get(name, "")
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError as exc:
                raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc

        region = env.get(ENV_REGION) or env.get(ENV_DEFAULT_REGION) or ""
        if not region:
            raise SettingsError(f"{ENV_REGION} is not set")
        try:
            return cls(
                region=region,
                ssm_document_prefix=env.get(ENV_SSM_DOCUMENT_PREFIX) or "ec2-to-azure",
                installer_bucket=env.get(ENV_INSTALLER_BUCKET, ""),
                installer_prefix=env.get(ENV_INSTALLER_PREFIX) or "mobility-agent",
                agent_config_secret_id=env.get(ENV_AGENT_CONFIG_SECRET_ID, ""),
                idempotency_table=env.get(ENV_IDEMPOTENCY_TABLE, ""),
                idempotency_expires_seconds=integer(ENV_IDEMPOTENCY_EXPIRES_SECONDS, 3600),
                aws_max_attempts=integer(ENV_AWS_MAX_ATTEMPTS, 5),
                output_tail_chars=integer(ENV_OUTPUT_TAIL_CHARS, 4000),
            )
        except ValueError as exc:
            raise SettingsError(f"invalid Lambda settings: {exc}") from exc

    def document_name(self, manifest_name: str) -> str:
        """The SSM document deployed for a guest script: ``<prefix>-<manifest name>``."""
        return f"{self.ssm_document_prefix}-{manifest_name}"

    def installer_key(self, provider: Provider, platform: Platform) -> str:
        """S3 key of the Mobility agent installer: ``<prefix>/<provider>/<platform>/<file>``."""
        return f"{self.installer_prefix}/{provider.value}/{platform.value}/{_INSTALLER_FILES[platform]}"

    def registration_secret_id(self) -> str:
        """The secret the guest fetches to register with the appliance: the Mobility service configuration file."""
        if not self.agent_config_secret_id:
            raise SettingsError(f"{ENV_AGENT_CONFIG_SECRET_ID} is not set: needed to register the Mobility agent")
        return self.agent_config_secret_id

    def require_installer_bucket(self) -> str:
        if not self.installer_bucket:
            raise SettingsError(f"{ENV_INSTALLER_BUCKET} is not set")
        return self.installer_bucket

    def require_idempotency_table(self) -> str:
        if not self.idempotency_table:
            raise SettingsError(f"{ENV_IDEMPOTENCY_TABLE} is not set")
        return self.idempotency_table
