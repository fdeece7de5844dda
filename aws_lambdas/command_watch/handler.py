"""Lambda ``command_watch``: which of the guest commands VMs wait for have ended, with each one's invocation.

The replication watch calls it once per Region and tick for every VM waiting on a guest command, instead of each
VM polling its own command with ``command_status``. It reads SSM's ListCommands filtered by ``InvokedAfter`` (the
earliest command waited for), a page of 50 at a time, newest first, and stops once every command asked for was
seen; each one that ended is read once with GetCommandInvocation (its exit code and output tails, as
``command_status`` reports them). A command not listed (yet) is simply not in the answer: the next tick asks again,
and the VM's own read is its safety net.
"""

from __future__ import annotations

from aws_lambdas.command_states import RUNNING, invocation_status
from aws_lambdas.runtime import Invocation, lambda_function
from shared.aws_contracts import CommandStatusResult, CommandWatchEvent, CommandWatchResult


@lambda_function("command_watch", CommandWatchEvent)
def command_watch(event: CommandWatchEvent, invocation: Invocation) -> CommandWatchResult:
    ssm = invocation.gateways.ssm
    tail = invocation.settings.output_tail_chars
    wanted = {command.command_id: command.instance_id for command in event.commands}
    unseen = set(wanted)
    ended: list[CommandStatusResult] = []
    pages = 0
    token: str | None = None
    while True:
        page, token = ssm.list_commands_page(event.invoked_after, token)
        pages += 1
        for command in page:
            instance_id = wanted.get(command.command_id)
            if instance_id is None or command.command_id not in unseen:
                continue
            unseen.discard(command.command_id)
            if command.status not in RUNNING:
                status = invocation_status(ssm.get_invocation(command.command_id, instance_id), tail)
                ended.append(CommandStatusResult(command_id=command.command_id, invocations=[status]))
        if token is None or not unseen:
            return CommandWatchResult(ended=ended, pages=pages)


lambda_handler = command_watch
