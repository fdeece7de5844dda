"""What SSM says of a command, as the pipeline reads it: the state of one instance's invocation (running /
succeeded / failed with its exit code and stderr tail / timed out / undeliverable) and the JSON line of facts or
results its script ends with on stdout. Shared by ``command_status`` (one command, read by a VM) and
``command_watch`` (the commands that ended, read for every waiting VM at once)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambdas.gateways.ports import Invocation as SsmInvocation
from shared.aws_contracts import CommandState, InvocationStatus

#: SSM's statuses of a command or invocation that has not ended yet.
RUNNING = {"Pending", "InProgress", "Delayed", "Cancelling"}
_UNDELIVERABLE_DETAILS = {"Undeliverable", "DeliveryTimedOut", "Delivery Timed Out", "Terminated"}


def command_state(status: str, details: str) -> CommandState:
    compact = details.replace(" ", "")
    if compact in {d.replace(" ", "") for d in _UNDELIVERABLE_DETAILS}:
        return CommandState.UNDELIVERABLE
    if status in RUNNING:
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
