"""The ports the handlers depend on, and the plain records they exchange.

The boto3 adapters (:mod:`.ec2`, :mod:`.ssm`, :mod:`.secrets`) implement them; the local emulation
(``local.aws``) implements the SSM port where moto lacks behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.facts import Platform, Volume


@dataclass(frozen=True)
class InstanceDescription:
    instance_id: str
    state: str
    platform: Platform
    image_id: str = ""
    instance_type: str = ""
    private_ip: str = ""
    vpc_id: str = ""
    subnet_id: str = ""
    security_group_ids: tuple[str, ...] = ()
    virtualization_type: str = "hvm"
    architecture: str = "x86_64"
    root_device_name: str = ""
    root_device_type: str = "ebs"
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.tags.get("Name", "")


@dataclass(frozen=True)
class ImageDescription:
    image_id: str
    name: str = ""
    description: str = ""
    platform_details: str = ""


@dataclass(frozen=True)
class IngressRule:
    rule_id: str
    group_id: str
    protocol: str
    from_port: int
    to_port: int
    cidr: str = ""
    source_group_id: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StateChange:
    instance_id: str
    previous_state: str
    state: str


@dataclass(frozen=True)
class ManagedInstance:
    """What SSM knows about a managed instance (DescribeInstanceInformation)."""

    instance_id: str
    ping_status: str  # Online | ConnectionLost | Inactive
    platform_type: str = ""  # Linux | Windows | MacOS
    platform_name: str = ""
    platform_version: str = ""
    agent_version: str = ""


@dataclass(frozen=True)
class SentCommand:
    """One send_command call: its id and the instance ids WE targeted (not what the service echoes back)."""

    command_id: str
    document_name: str
    instance_ids: tuple[str, ...]


@dataclass(frozen=True)
class Invocation:
    """One instance's view of a command (GetCommandInvocation)."""

    command_id: str
    instance_id: str
    status: str  # Pending | InProgress | Delayed | Success | Cancelled | TimedOut | Failed | Cancelling
    status_details: str = ""
    response_code: int | None = None
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class CommandSummary:
    """One command as ListCommands reports it: its status over all its instances."""

    command_id: str
    status: str  # Pending | InProgress | Success | Cancelled | Failed | TimedOut | Cancelling
    instance_ids: tuple[str, ...]


@dataclass(frozen=True)
class SecretRef:
    arn: str
    name: str


class Ec2Port(Protocol):
    def describe_instances(self, instance_ids: Sequence[str]) -> dict[str, InstanceDescription]: ...

    def describe_volumes(self, instances: Sequence[InstanceDescription]) -> dict[str, list[Volume]]: ...

    def describe_images(self, image_ids: Sequence[str]) -> dict[str, ImageDescription]: ...

    def ingress_rules(self, group_id: str, rule_ids: Sequence[str] = ()) -> list[IngressRule]: ...

    def authorize_ingress(
        self,
        group_id: str,
        *,
        port: int,
        cidr: str = "",
        source_group_id: str = "",
        description: str,
        tags: Mapping[str, str],
    ) -> str | None: ...

    def revoke_ingress_rule(self, group_id: str, rule_id: str) -> bool: ...

    def security_group_tags(self, group_ids: Sequence[str] = (), *, tag_key: str = "") -> dict[str, dict[str, str]]: ...

    def tag_security_group(self, group_id: str, tags: Mapping[str, str]) -> None: ...

    def untag_security_group(self, group_id: str, keys: Sequence[str]) -> None: ...

    def stop_instances(self, instance_ids: Sequence[str]) -> list[StateChange]: ...

    def start_instances(self, instance_ids: Sequence[str]) -> list[StateChange]: ...

    def tag_instances(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None: ...


class SsmPort(Protocol):
    def describe_managed_instances(self, instance_ids: Sequence[str]) -> dict[str, ManagedInstance]: ...

    def send_command(
        self,
        document_name: str,
        instance_ids: Sequence[str],
        parameters: Mapping[str, str],
        *,
        comment: str,
        timeout_seconds: int = 600,
    ) -> list[SentCommand]: ...

    def get_invocation(self, command_id: str, instance_id: str) -> Invocation: ...

    def list_commands_page(
        self, invoked_after: datetime, token: str | None = None
    ) -> tuple[list[CommandSummary], str | None]: ...


class SecretsPort(Protocol):
    def describe_secret(self, secret_id: str) -> SecretRef: ...
