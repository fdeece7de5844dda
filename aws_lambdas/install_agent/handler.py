"""Lambda ``install_agent``: install and register the Mobility agent through SSM Run Command.

The script stages the installer from S3, installs it for the modernized appliance (provider ``InMageRcm``:
CSPrime) and registers it with the Mobility service configuration file. The file is a secret fetched ON THE
GUEST into a 0600 temp file that is removed afterwards: the command parameters carry only the secret's ARN. An
agent already installed and registered is left as it is.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from aws_lambdas.guest_commands import run_guest_script
from aws_lambdas.runtime import Invocation, lambda_function, metrics
from aws_lambdas.settings import INSTALL_AGENT_DOCUMENTS, SettingsError
from shared.aws_contracts import GuestCommandResult, InstallAgentEvent
from shared.errors import InvalidRequestError
from shared.facts import Platform


@lambda_function("install_agent", InstallAgentEvent, idempotent=True)
def install_agent(event: InstallAgentEvent, invocation: Invocation) -> GuestCommandResult:
    settings = invocation.settings
    try:
        secret_id = settings.registration_secret_id()
        bucket = settings.require_installer_bucket()
    except SettingsError as exc:
        raise InvalidRequestError(str(exc), code="Settings", resource="install_agent") from exc
    secret = invocation.gateways.secrets.describe_secret(secret_id)

    def parameters(platform: Platform) -> dict[str, str]:
        return {
            "InstallerBucket": bucket,
            "InstallerKey": settings.installer_key(event.provider, platform),
            "SecretId": secret.arn,
            "Region": invocation.region,
        }

    result = run_guest_script(
        invocation,
        migration_id=event.migration_id,
        instance_ids=event.instance_ids,
        documents=INSTALL_AGENT_DOCUMENTS,
        parameters_for=parameters,
        purpose="install-agent",
    )
    metrics.add_metric(name="GuestCommandsSent", unit=MetricUnit.Count, value=len(result.commands))
    return result


lambda_handler = install_agent
