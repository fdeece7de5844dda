"""Lambda ``command_status``: per-instance state and bounded output of an SSM command.

SSM's states map to running / succeeded / failed (exit code and stderr tail) / timed_out / undeliverable.
The scripts end with a JSON line of facts/results on stdout; it is parsed into ``result`` when present.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambdas.gateways.ports import Invocation as SsmInvocation
from aws_lambdas.runtime import Invocation, lambda_function
from shared.aws_contracts import CommandState, CommandStatusEvent, CommandStatusResult, InvocationStatus

_RUNNING = {"Pending", "InProgress", "Delayed", "Cancelling"}
_UNDELIVERABLE_DETAILS = {"Undeliverable", "DeliveryTimedOut", "Delivery Timed Out", "Terminated"}


def command_state(status: str, details: str) -> CommandState:
    compact = details.replace(" ", "")
    if compact in {d.replace(" ", "") for d in _UNDELIVERABLE_DETAILS}:
        return CommandState.UNDELIVERABLE
    if status in _RUNNING:
        return CommandState.RUNNING
    if status == "Success":
        return CommandState.SUCCEEDED
    if status == "TimedOut" or compact == "ExecutionTimedOut":
        return CommandState.TIMED_OUT
    return CommandState.FAILED


def final_json_line(stdout: str) -> dict[str, Any] | None:
    for raw_line in reversed(stdout.strip().splitlines()):
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
        return None
    return None


def invocation_status(raw: SsmInvocation, tail_chars: int) -> InvocationStatus:
    state = command_state(raw.status, raw.status_details)
    return InvocationStatus(
        instance_id=raw.instance_id,
        state=state,
        ssm_status=raw.status,
        status_details=raw.status_details,
        exit_code=raw.response_code if state is not CommandState.RUNNING else None,
        stdout_tail=raw.stdout[-tail_chars:],
        stderr_tail=raw.stderr[-tail_chars:],
        result=final_json_line(raw.stdout),
    )


@lambda_function("command_status", CommandStatusEvent)
def command_status(event: CommandStatusEvent, invocation: Invocation) -> CommandStatusResult:
    ssm = invocation.gateways.ssm
    tail = invocation.settings.output_tail_chars
    statuses = [invocation_status(ssm.get_invocation(event.command_id, i), tail) for i in event.instance_ids]
    return CommandStatusResult(command_id=event.command_id, invocations=statuses)


lambda_handler = command_status
