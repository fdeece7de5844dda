"""The contract between the Azure activities and the AWS Lambdas: one typed event and one result per Lambda.

Events and results cross the wire as JSON (``model_dump(mode="json")``). Every event carries the VM's
``migration_id`` (its orchestration instance id): the Lambdas log it as the correlation id and tag what they
change with it, so revert removes exactly what was added.

Errors: a Lambda that fails on purpose raises an exception whose class name is the error type
(``errorType`` in the Lambda invoke payload, e.g. ``TransientError`` or ``InstanceNotFoundError``) and whose
message (``errorMessage``) is the JSON of :meth:`shared.errors.MigrationError.to_dict`.
:func:`error_from_lambda_payload` rebuilds the typed error on the calling side.

Secrets never appear here: events name secrets only through the Lambdas' settings (secret ids), and the guest
fetches the value itself.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.errors import (
    AccessDeniedError,
    InvalidRequestError,
    MigrationError,
    NotFoundError,
    PermanentError,
    TransientError,
    error_from_dict,
)
from shared.facts import InstanceFacts, Platform
from shared.provider import Provider as Provider  # noqa: PLC0414 (explicit re-export; defined in shared.provider)
from shared.provider import ProviderField

# Tag keys the Lambdas write on what they change (security group rules, instances).
MIGRATION_ID_TAG = "ec2-to-azure:migration-id"
MANAGED_BY_TAG = "ec2-to-azure:managed-by"
MANAGED_BY_VALUE = "ec2-to-azure"
OUTCOME_TAG = "ec2-to-azure:outcome"
#: Prefix of the holder tags on a source security group: ``<prefix><wave id>`` = the appliance group whose shared
#: 443/9443 rules from this group the wave holds; any holder also holds the group's own discovery rules
#: (see :func:`rule_holder_tag`).
RULE_HOLDER_TAG_PREFIX = "ec2-to-azure:rule-holder:"

# SSM send_command accepts at most this many instance ids per call.
SSM_MAX_TARGETS_PER_COMMAND = 50

InstanceId = Annotated[str, StringConstraints(pattern=r"^i-[0-9a-f]{8,17}$")]
SecurityGroupId = Annotated[str, StringConstraints(pattern=r"^sg-[0-9a-f]{8,17}$")]
MigrationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")]
#: Who holds shared rules: a wave's orchestration id, short enough for a tag key (128 characters at most).
RuleHolder = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")]
CommandId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{36}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(values: list[str], what: str) -> list[str]:
    duplicates = sorted(v for v, n in Counter(values).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(duplicates)}")
    return values


def _host_ip(value: str, what: str) -> str:
    """A single IPv4 host address that may be used as a /32 rule source (never 0.0.0.0 or a broadcast)."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ValueError(f"{what} must be an IPv4 address, got {value!r}") from exc
    if address.is_unspecified or address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"):
        raise ValueError(f"{what} must be a host address, got {value}")
    return str(address)


class LambdaEvent(_Model):
    """Fields every Lambda event carries."""

    migration_id: MigrationId
    region: str = Field(default="", pattern=r"^([a-z]{2}(-[a-z]+)+-\d)?$", description="empty: the Lambda's region")


class InstancesEvent(LambdaEvent):
    instance_ids: list[InstanceId] = Field(min_length=1, max_length=1000)

    @field_validator("instance_ids")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        return _unique(value, "instance_ids")


class SkippedInstance(_Model):
    """An instance a Lambda did not act on, and why (not found, not SSM managed, not running…)."""

    instance_id: str
    reason: str


# --- inventory --------------------------------------------------------------------------------------------


class InventoryEvent(InstancesEvent):
    """Gather preflight facts for many instances in one call."""


class InventoryResult(_Model):
    facts: list[InstanceFacts]
    not_found: list[str] = Field(default_factory=list)


# --- prepare_network --------------------------------------------------------------------------------------


class RuleSourceKind(StrEnum):
    PRIVATE_IP = "private_ip"  # the source's private IP as a /32
    SECURITY_GROUP = "security_group"  # the source's (first) security group


class RulePurpose(StrEnum):
    REPLICATION = "replication"  # 443 / 9443 from the source to the appliance
    DISCOVERY = "discovery"  # 22 / 5985 from the discovery appliance to the source


def rule_holder_tag(holder: str) -> str:
    """The tag key that says ``holder`` (a wave) needs the shared rules of the tagged source security group.

    Shared rules serve every VM whose first group is that source group, in any wave, so no VM owns them:

    * the appliance's 443/9443 rules from the source group (``rule_source: security_group``), on the appliance
      group; the tag's value names that appliance group, and only holders of the same appliance group hold them;
    * the discovery rules (22 / 5985 from ``discovery_appliance_ip``), on the source group itself, whatever the
      rule source: every holder of the source group holds them.

    Each wave that needs them tags the *source group* (a resource that outlives the rules) with its holder key
    before it adds or adopts the rules. A wave releases at its end: it removes its key and revokes the rules only
    when no holder of them is left (then checks again, and restores them if a holder arrived meanwhile).
    """
    return f"{RULE_HOLDER_TAG_PREFIX}{holder}"


def holders_of(tags: Mapping[str, str], appliance_group_id: str | None = None) -> list[str]:
    """The holders (waves) a source group's tags name: for the shared rules on ``appliance_group_id``, or, with
    None, for any of its shared rules (the holders of its discovery rules)."""
    return sorted(
        key.removeprefix(RULE_HOLDER_TAG_PREFIX)
        for key, value in tags.items()
        if key.startswith(RULE_HOLDER_TAG_PREFIX) and appliance_group_id in (None, value)
    )


class SecurityGroupRuleChange(_Model):
    """One ingress rule prepare_network ensured: a change-ledger entry.

    ``pre_existing`` rules were there before (or were added by someone else): revert never removes them.
    ``holder`` marks a shared rule (a replication rule whose source is a security group, or a discovery rule on the
    source's group): the wave named there holds it for all its VMs, so one VM's revert never removes it; the wave
    releases it at its end (:func:`rule_holder_tag`).
    """

    group_id: SecurityGroupId
    rule_id: str = Field(pattern=r"^sgr-[0-9a-f]{8,17}$")
    protocol: str = "tcp"
    port: int = Field(ge=0, le=65535)
    cidr: str = ""
    source_group_id: str = ""
    instance_id: InstanceId
    purpose: RulePurpose
    pre_existing: bool = False
    holder: RuleHolder | None = None
    #: The migration that made this per-VM rule and left it when it kept replicating; this one took it over.
    adopted_from: str | None = None

    @model_validator(mode="after")
    def _one_scoped_source(self) -> SecurityGroupRuleChange:
        if bool(self.cidr) == bool(self.source_group_id):
            raise ValueError("a rule has exactly one source: cidr or source_group_id")
        if self.cidr:
            network = ipaddress.IPv4Network(self.cidr, strict=True)
            if network.prefixlen != 32:
                raise ValueError(f"rule source must be a /32, got {self.cidr}")
        return self


class PrepareNetworkEvent(InstancesEvent):
    appliance_security_group_id: SecurityGroupId
    source_kind: RuleSourceKind = RuleSourceKind.PRIVATE_IP
    discovery_appliance_ip: str | None = None
    holder: RuleHolder | None = Field(
        default=None,
        description="security_group sources or a discovery appliance: the wave that holds the shared rules (its id)",
    )

    @model_validator(mode="after")
    def _shared_rules_have_a_holder(self) -> PrepareNetworkEvent:
        if self.source_kind is RuleSourceKind.SECURITY_GROUP and self.holder is None:
            raise ValueError("rules from a security group are shared: name their holder (the wave)")
        if self.discovery_appliance_ip is not None and self.holder is None:
            raise ValueError(
                "discovery rules are on the sources' groups, which VMs share: name their holder (the wave)"
            )
        return self

    @field_validator("discovery_appliance_ip")
    @classmethod
    def _discovery_ip(cls, value: str | None) -> str | None:
        return None if value is None else _host_ip(value, "discovery_appliance_ip")


class PrepareNetworkResult(_Model):
    created: list[SecurityGroupRuleChange] = Field(default_factory=list)
    pre_existing: list[SecurityGroupRuleChange] = Field(default_factory=list)
    skipped: list[SkippedInstance] = Field(default_factory=list)


# --- SSM commands (prepare_guest, install_agent, revert guest) ---------------------------------------------


class CommandRef(_Model):
    """One SSM command sent to a batch of at most 50 instances."""

    command_id: str
    document_name: str
    platform: Platform
    instance_ids: list[str] = Field(min_length=1, max_length=SSM_MAX_TARGETS_PER_COMMAND)


class GuestCommandResult(_Model):
    """What a Lambda that runs a guest script returns: the commands to poll with command_status."""

    commands: list[CommandRef] = Field(default_factory=list)
    skipped: list[SkippedInstance] = Field(default_factory=list)


class GuestDisk(_Model):
    """One disk as the guest's own OS reports it (read during guest preparation).

    ``serial`` is the disk's serial number: on Nitro instances an EBS volume's NVMe serial is its volume id
    without the hyphen (``vol0123456789abcdef0``); Windows reports the same serial, possibly with a suffix.
    """

    device: str
    serial: str = ""
    size_bytes: int = Field(ge=0)
    is_os_disk: bool = False


class GuestIdentity(_Model):
    """What the guest says about itself: the keys Azure Migrate's discovery reports for the same machine.

    ``bios_id`` is the SMBIOS system UUID (Linux ``/sys/class/dmi/id/product_uuid``, Windows
    ``Win32_ComputerSystemProduct.UUID``); compare it case-insensitively. The prepare-guest script prints this
    object under ``"identity"`` in its final JSON line (``InvocationStatus.result``).
    """

    bios_id: str
    hostname: str
    ip_addresses: list[str] = Field(default_factory=list)
    disks: list[GuestDisk] = Field(default_factory=list)


class PrepareGuestEvent(InstancesEvent):
    discovery: bool = False
    attempt: int = Field(
        default=0, ge=0, le=9, description="a re-send after SSM could not deliver the command (new idempotency key)"
    )


class InstallAgentEvent(InstancesEvent):
    """Install the Mobility agent and register it with the modernized appliance (CSPrime + configuration file).

    ``provider`` is InMageRcm, the only provider left (the retired classic one is refused with its reason); it
    names the installer's S3 folder. The appliance is named by the configuration file, never by an IP here.
    """

    provider: ProviderField = Provider.INMAGE_RCM
    attempt: int = Field(
        default=0, ge=0, le=9, description="a re-send after SSM could not deliver the command (new idempotency key)"
    )


# --- command_status ---------------------------------------------------------------------------------------


class CommandState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    UNDELIVERABLE = "undeliverable"  # never reached the guest: worth retrying the command


class CommandStatusEvent(InstancesEvent):
    command_id: CommandId


class InvocationStatus(_Model):
    instance_id: str
    state: CommandState
    ssm_status: str = ""
    status_details: str = ""
    exit_code: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    result: dict[str, Any] | None = Field(default=None, description="the script's final JSON line, when parseable")


class GuestIdentityError(PermanentError):
    """A prepare-guest command did not report the guest's identity (failed, still running, or an old script)."""


def guest_identity_of(invocation: InvocationStatus) -> GuestIdentity:
    """The :class:`GuestIdentity` a finished prepare-guest command printed under ``"identity"`` in its final JSON
    line; :class:`GuestIdentityError` naming the instance and what is wrong when there is none."""
    where = invocation.instance_id
    if invocation.state is not CommandState.SUCCEEDED:
        raise GuestIdentityError(
            f"guest preparation on {where} is {invocation.state.value}, so it reported no identity",
            code="GuestIdentityMissing",
            resource=where,
        )
    raw = (invocation.result or {}).get("identity")
    if not isinstance(raw, dict):
        raise GuestIdentityError(
            f"guest preparation on {where} succeeded but printed no identity (is the prepare-guest document current?)",
            code="GuestIdentityMissing",
            resource=where,
        )
    try:
        return GuestIdentity.model_validate(raw)
    except ValueError as exc:
        first = str(exc).splitlines()[1:3]
        raise GuestIdentityError(
            f"guest preparation on {where} printed a malformed identity: {' '.join(line.strip() for line in first)}",
            code="GuestIdentityMalformed",
            resource=where,
        ) from None


class CommandStatusResult(_Model):
    command_id: str
    invocations: list[InvocationStatus]

    @property
    def finished(self) -> bool:
        return all(i.state is not CommandState.RUNNING for i in self.invocations)


# --- command_watch ----------------------------------------------------------------------------------------


class WatchedCommand(_Model):
    """A guest command a VM waits for: the command and the one instance it was sent to."""

    command_id: CommandId
    instance_id: InstanceId


class CommandWatchEvent(LambdaEvent):
    """Which of ``commands`` ended, all sent at or after ``invoked_after``: the replication watch's one call per
    Region and tick for every VM waiting on a guest command (``migration_id`` names the watch)."""

    invoked_after: AwareDatetime
    commands: list[WatchedCommand] = Field(min_length=1, max_length=1000)


class CommandWatchResult(_Model):
    """The commands of the event that ended, each with its instance's invocation; ``pages`` of ListCommands read."""

    ended: list[CommandStatusResult] = Field(default_factory=list)
    pages: int = 0


# --- stop_source / start_source ---------------------------------------------------------------------------


class StopSourceEvent(InstancesEvent):
    pass


class StartSourceEvent(InstancesEvent):
    pass


class InstanceStateChange(_Model):
    instance_id: str
    previous_state: str
    state: str


class PowerResult(_Model):
    instances: list[InstanceStateChange]


# --- revert_changes ---------------------------------------------------------------------------------------


GuestRevertScope = Literal["all", "access"]


class RevertChangesEvent(LambdaEvent):
    """Undo what prepare_network and prepare_guest did for one migration, then tag the instances.

    ``release_holder``: a wave at its end releases the shared rules it holds in this region
    (:func:`rule_holder_tag`); the ledger's shared rules (those with a holder) are never removed one VM at a time.
    """

    rules: list[SecurityGroupRuleChange] = Field(default_factory=list)
    instance_ids: list[InstanceId] = Field(default_factory=list, max_length=1000)
    revert_guest: bool = True
    guest_scope: GuestRevertScope = Field(
        default="all", description="access: only sshd / WinRM opened for discovery (before cutover); all: everything"
    )
    attempt: int = Field(
        default=0, ge=0, le=9, description="a re-send after SSM could not deliver the command (new idempotency key)"
    )
    outcome: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="tag value, e.g. completed, failed")
    release_holder: RuleHolder | None = None

    @field_validator("instance_ids")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        return _unique(value, "instance_ids")


class RevertChangesResult(_Model):
    rules_removed: list[str] = Field(default_factory=list)
    rules_already_absent: list[str] = Field(default_factory=list)
    rules_kept: list[str] = Field(default_factory=list, description="pre-existing or foreign rules, left alone")
    rules_held: list[str] = Field(
        default_factory=list, description="shared rules left in place: another holder (wave) still needs them"
    )
    guest: GuestCommandResult = Field(default_factory=GuestCommandResult)
    tagged: list[str] = Field(default_factory=list)


# --- errors the AWS gateways raise (named here so both sides can rebuild them) ------------------------------


class InstanceNotFoundError(NotFoundError):
    """An EC2 instance does not exist (InvalidInstanceID.NotFound)."""


class SecurityGroupNotFoundError(NotFoundError):
    """A security group does not exist or its id is malformed."""


class SecretNotFoundError(NotFoundError):
    """The Secrets Manager secret the agent registration needs does not exist."""


class DocumentNotFoundError(NotFoundError):
    """The SSM document (guest script) is not deployed."""


class InstanceNotManagedError(PermanentError):
    """SSM refused the instance: not managed, not online, or the wrong platform for the document."""


class ThrottlingError(TransientError):
    """AWS throttled the call even after the SDK's own retries."""


_AWS_ERRORS: dict[str, type[MigrationError]] = {
    cls.__name__: cls
    for cls in (
        InstanceNotFoundError,
        SecurityGroupNotFoundError,
        SecretNotFoundError,
        DocumentNotFoundError,
        InstanceNotManagedError,
        ThrottlingError,
        AccessDeniedError,
        InvalidRequestError,
    )
}


def error_from_lambda_payload(payload: Mapping[str, Any]) -> MigrationError:
    """Rebuild the typed error from a failed Lambda's payload (``errorType`` / ``errorMessage``).

    An ``errorType`` the pipeline does not know (a bug, a runtime error such as ``Sandbox.Timedout``) becomes a
    :class:`TransientError` only when the runtime says so (timeouts), else a :class:`PermanentError`.
    """
    error_type = str(payload.get("errorType", ""))
    message = str(payload.get("errorMessage", ""))
    try:
        data = json.loads(message)
    except ValueError:
        data = None
    if isinstance(data, dict) and "type" in data:
        cls = _AWS_ERRORS.get(str(data["type"]))
        if cls is None:
            return error_from_dict(data)
        return cls(str(data.get("message", "")), code=str(data.get("code", "")), resource=str(data.get("resource", "")))
    timed_out = "Timedout" in error_type or "Task timed out" in message
    fallback: type[MigrationError] = TransientError if timed_out else PermanentError
    return fallback(message or error_type, code=error_type or "LambdaError")
