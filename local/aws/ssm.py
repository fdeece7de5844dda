"""The SSM gateway used locally: moto for what moto does, the guest emulator for what it does not.

* ``send_command`` goes to moto (the command is recorded there, with its document and parameters) after
  checking that the document exists (moto does not), then the emulator delivers it to exactly the instance ids
  we asked for — moto's reply lists every instance of the region (a moto bug) and is ignored;
* ``get_invocation`` and ``describe_managed_instances`` come from the emulator (moto returns Success with
  empty output for everything, and has no DescribeInstanceInformation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambdas.gateways.errors import aws_errors
from aws_lambdas.gateways.ports import Invocation, ManagedInstance, SentCommand
from aws_lambdas.gateways.ssm import Boto3SsmGateway
from local.aws.guest import GuestEmulator


class EmulatedSsmGateway:
    def __init__(self, region: str, client: Any, emulator: GuestEmulator) -> None:
        self._client = client
        self._inner = Boto3SsmGateway(region, client=client)
        self.emulator = emulator

    def describe_managed_instances(self, instance_ids: Sequence[str]) -> dict[str, ManagedInstance]:
        return self.emulator.managed_instances(list(instance_ids))

    def send_command(
        self,
        document_name: str,
        instance_ids: Sequence[str],
        parameters: Mapping[str, str],
        *,
        comment: str,
        timeout_seconds: int = 600,
    ) -> list[SentCommand]:
        with aws_errors("DescribeDocument", document_name):
            self._client.describe_document(Name=document_name)
        sent = self._inner.send_command(
            document_name, instance_ids, parameters, comment=comment, timeout_seconds=timeout_seconds
        )
        for command in sent:
            self.emulator.dispatch(command.command_id, document_name, list(command.instance_ids), dict(parameters))
        return sent

    def get_invocation(self, command_id: str, instance_id: str) -> Invocation:
        return self.emulator.invocation(command_id, instance_id)
