"""SSM gateway: managed-instance information, Run Command by document name (batched), invocation status, the
commands sent since a time (a page at a time)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from aws_lambdas.gateways.clients import make_client
from aws_lambdas.gateways.errors import aws_errors, error_code
from aws_lambdas.gateways.ports import CommandSummary, Invocation, ManagedInstance, SentCommand
from shared.aws_contracts import SSM_MAX_TARGETS_PER_COMMAND

# DescribeInstanceInformation accepts at most 50 values in its InstanceIds filter.
DESCRIBE_BATCH = 50


def chunked(values: Sequence[str], size: int = SSM_MAX_TARGETS_PER_COMMAND) -> list[list[str]]:
    return [list(values[start : start + size]) for start in range(0, len(values), size)]


class Boto3SsmGateway:
    """SSM over boto3. Pass ``client`` in tests; a default client is built from ``region`` when omitted."""

    def __init__(self, region: str, client: Any = None, *, max_attempts: int = 5) -> None:
        self.region = region
        self._client = client if client is not None else make_client("ssm", region, max_attempts)

    def describe_managed_instances(self, instance_ids: Sequence[str]) -> dict[str, ManagedInstance]:
        """SSM's view of the instances that are managed; unmanaged ones are absent."""
        managed: dict[str, ManagedInstance] = {}
        paginator = self._client.get_paginator("describe_instance_information")
        for batch in chunked(instance_ids, DESCRIBE_BATCH):
            with aws_errors("DescribeInstanceInformation", ",".join(batch)):
                for page in paginator.paginate(Filters=[{"Key": "InstanceIds", "Values": batch}]):
                    for raw in page.get("InstanceInformationList", []):
                        managed[raw["InstanceId"]] = ManagedInstance(
                            instance_id=str(raw["InstanceId"]),
                            ping_status=str(raw.get("PingStatus", "")),
                            platform_type=str(raw.get("PlatformType", "")),
                            platform_name=str(raw.get("PlatformName", "")),
                            platform_version=str(raw.get("PlatformVersion", "")),
                            agent_version=str(raw.get("AgentVersion", "")),
                        )
        return managed

    def send_command(
        self,
        document_name: str,
        instance_ids: Sequence[str],
        parameters: Mapping[str, str],
        *,
        comment: str,
        timeout_seconds: int = 600,
    ) -> list[SentCommand]:
        """Run a document on the instances, 50 per call. Parameter values are passed as given, never as shell."""
        sent: list[SentCommand] = []
        for batch in chunked(instance_ids):
            with aws_errors("SendCommand", f"{document_name} on {','.join(batch)}"):
                response = self._client.send_command(
                    DocumentName=document_name,
                    InstanceIds=batch,
                    Parameters={name: [value] for name, value in parameters.items()},
                    Comment=comment[:100],
                    TimeoutSeconds=max(30, timeout_seconds),
                )
            # moto echoes every instance of the region back in InstanceIds: trust only what we asked for.
            sent.append(
                SentCommand(
                    command_id=str(response["Command"]["CommandId"]),
                    document_name=document_name,
                    instance_ids=tuple(batch),
                )
            )
        return sent

    def get_invocation(self, command_id: str, instance_id: str) -> Invocation:
        """One instance's invocation; not yet visible right after send_command counts as Pending."""
        with aws_errors("GetCommandInvocation", f"{command_id}/{instance_id}"):
            try:
                raw = self._client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
            except ClientError as exc:
                if error_code(exc) == "InvocationDoesNotExist":
                    return Invocation(command_id=command_id, instance_id=instance_id, status="Pending")
                raise
        code = raw.get("ResponseCode")
        return Invocation(
            command_id=command_id,
            instance_id=instance_id,
            status=str(raw.get("Status", "")),
            status_details=str(raw.get("StatusDetails", "")),
            response_code=None if code is None or int(code) == -1 else int(code),
            stdout=str(raw.get("StandardOutputContent", "")),
            stderr=str(raw.get("StandardErrorContent", "")),
        )

    def list_commands_page(
        self, invoked_after: datetime, token: str | None = None
    ) -> tuple[list[CommandSummary], str | None]:
        """One page (50, ListCommands' most) of the commands sent at or after ``invoked_after``, newest first, and
        the token of the next page (None: the last)."""
        moment = invoked_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        arguments: dict[str, Any] = {"Filters": [{"key": "InvokedAfter", "value": moment}], "MaxResults": 50}
        if token:
            arguments["NextToken"] = token
        with aws_errors("ListCommands", f"since {moment}"):
            page = self._client.list_commands(**arguments)
        commands = [
            CommandSummary(
                command_id=str(raw["CommandId"]),
                status=str(raw.get("Status", "")),
                instance_ids=tuple(str(i) for i in raw.get("InstanceIds") or ()),
            )
            for raw in page.get("Commands", [])
        ]
        return commands, page.get("NextToken") or None
