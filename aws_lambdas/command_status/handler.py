"""Lambda ``command_status``: per-instance state and bounded output of an SSM command.

SSM's states map to running / succeeded / failed (exit code and stderr tail) / timed_out / undeliverable
(:mod:`aws_lambdas.command_states`). The scripts end with a JSON line of facts/results on stdout; it is parsed into
``result`` when present.
"""

from __future__ import annotations

from aws_lambdas.command_states import invocation_status
from aws_lambdas.runtime import Invocation, lambda_function
from shared.aws_contracts import CommandStatusEvent, CommandStatusResult


@lambda_function("command_status", CommandStatusEvent)
def command_status(event: CommandStatusEvent, invocation: Invocation) -> CommandStatusResult:
    ssm = invocation.gateways.ssm
    tail = invocation.settings.output_tail_chars
    statuses = [invocation_status(ssm.get_invocation(event.command_id, i), tail) for i in event.instance_ids]
    return CommandStatusResult(command_id=event.command_id, invocations=statuses)


lambda_handler = command_status
