"""Lambda ``prepare_guest``: run the prepare-guest script (Linux or Windows) through SSM Run Command.

The script collects OS facts, disables cloud-init and, for discovery, opens sshd password/root login (Linux,
originals saved, config validated before reload) or WinRM on 5985 (Windows). This Lambda only sends the
command and returns its id(s); ``command_status`` reads the outcome. Idempotent: a retry with the same event
returns the same commands instead of sending new ones.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from aws_lambdas.guest_commands import run_guest_script
from aws_lambdas.runtime import Invocation, lambda_function, metrics
from aws_lambdas.settings import PREPARE_GUEST_DOCUMENTS
from shared.aws_contracts import GuestCommandResult, PrepareGuestEvent
from shared.facts import Platform


@lambda_function("prepare_guest", PrepareGuestEvent, idempotent=True)
def prepare_guest(event: PrepareGuestEvent, invocation: Invocation) -> GuestCommandResult:
    def parameters(_platform: Platform) -> dict[str, str]:
        return {"Discovery": "true" if event.discovery else "false", "MigrationId": event.migration_id}

    result = run_guest_script(
        invocation,
        migration_id=event.migration_id,
        instance_ids=event.instance_ids,
        documents=PREPARE_GUEST_DOCUMENTS,
        parameters_for=parameters,
        purpose="prepare-guest",
    )
    metrics.add_metric(name="GuestCommandsSent", unit=MetricUnit.Count, value=len(result.commands))
    return result


lambda_handler = prepare_guest
