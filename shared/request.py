"""The migration request: the queue message an operator submits for one wave of EC2 instances.

Parse untrusted input with :func:`parse_request` (JSON text, YAML text, bytes or a dict). Every problem is
reported at once as ``path: what was expected`` (``vms[3].instance_id: expected an EC2 instance id like
i-0123456789abcdef0``) in an :class:`~shared.errors.InvalidRequestError`. Unknown fields are rejected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.errors import InvalidRequestError
from shared.fields import did_you_mean
from shared.licensing import LinuxLicense, SqlServerLicense
from shared.provider import Provider as Provider  # noqa: PLC0414 (explicit re-export; defined in shared.provider)
from shared.provider import ProviderField

MAX_VMS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 4 * 1024 * 1024


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class Mode(StrEnum):
    FULL = "full"
    TEST_ONLY = "test_only"
    REPLICATE_ONLY = "replicate_only"


class ApprovalMode(StrEnum):
    MANUAL = "manual"
    AUTO = "auto"


class NoCutover(StrEnum):
    """What a VM that will not cut over (no approval in time, or a failed test migration) leaves behind."""

    #: revert the temporary access (security group rules, guest settings), keep the replication: the VM ends
    #: ``kept_replicating`` and a later request for the instance adopts the replication instead of starting over.
    KEEP_REPLICATING = "keep_replicating"
    #: roll everything back, replication included (a later request replicates from scratch).
    ROLL_BACK = "roll_back"


class DiskType(StrEnum):
    STANDARD_LRS = "Standard_LRS"
    STANDARD_SSD_LRS = "StandardSSD_LRS"
    PREMIUM_LRS = "Premium_LRS"


class OsType(StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"


def anchored(pattern: str) -> str:
    """``pattern`` as a JSON Schema pattern matching what the model accepts: whole strings, whitespace stripped."""
    return f"^\\s*(?:{pattern})\\s*$"


@dataclass(frozen=True)
class _Matching(AfterValidator):
    """A full-match check of a string; the JSON Schema gets the same pattern, anchored (``shared.request_schema``)."""

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        answer: dict[str, Any] = handler(schema)
        answer["pattern"] = anchored(self.pattern)
        return answer

    pattern: str = ""


def _matching(pattern: str, expected: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected {expected}, got {value[:80]!r}")
        return value

    return _Matching(check, pattern=pattern)


_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ARM_NAME = r"[A-Za-z0-9][A-Za-z0-9._()-]{0,89}"


def _arm_id(provider_type: str) -> str:
    name = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
    return rf"/subscriptions/{_GUID}/resourceGroups/{_ARM_NAME}/providers/{provider_type}/{name}"


RequestId = Annotated[str, _matching(r"[a-z0-9][a-z0-9-]{2,62}", "3-63 lowercase letters, digits or '-'")]
InstanceId = Annotated[str, _matching(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})", "an EC2 instance id like i-0123456789abcdef0")]
SecurityGroupId = Annotated[str, _matching(r"sg-(?:[0-9a-f]{8}|[0-9a-f]{17})", "a security group id like sg-0123abcd")]
AwsRegion = Annotated[str, _matching(r"[a-z]{2}(?:-gov)?-[a-z]+-\d", "an AWS region like eu-west-1")]
AzureRegion = Annotated[str, _matching(r"[a-z][a-z0-9]{2,30}", "an Azure region name like westeurope")]
SubscriptionId = Annotated[str, _matching(_GUID, "a subscription id (GUID)")]
ResourceGroupName = Annotated[str, _matching(_ARM_NAME, "a resource group name (1-90 letters, digits, ._()-)")]
VaultName = Annotated[str, _matching(r"[A-Za-z][A-Za-z0-9-]{1,49}", "a Recovery Services vault name")]
VirtualNetworkId = Annotated[
    str, _matching(_arm_id("Microsoft.Network/virtualNetworks"), "a virtual network resource id")
]
SubnetName = Annotated[str, _matching(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", "a subnet name (1-80 characters)")]
StorageAccountId = Annotated[
    str, _matching(_arm_id("Microsoft.Storage/storageAccounts"), "a storage account resource id")
]
AvailabilitySetId = Annotated[
    str, _matching(_arm_id("Microsoft.Compute/availabilitySets"), "an availability set resource id")
]
DiskEncryptionSetId = Annotated[
    str, _matching(_arm_id("Microsoft.Compute/diskEncryptionSets"), "a disk encryption set resource id")
]
VmSize = Annotated[str, _matching(r"(?:Standard|Basic)_[A-Za-z0-9_]{2,40}", "an Azure VM size like Standard_D4s_v5")]
DeviceName = Annotated[
    str, _matching(r"/dev/[a-z0-9]{3,12}|xvd[a-z]{1,2}|[a-z]{1,4}\d{0,2}", "a device name like /dev/sdf")
]
TagKey = Annotated[str, _matching(r"[^<>%&\\?/\x00-\x1f]{1,512}", "a tag name without <>%&\\?/ or control characters")]
TagValue = Annotated[str, _matching(r"[^\x00-\x1f]{0,256}", "a tag value of at most 256 printable characters")]
Tags = Annotated[dict[TagKey, TagValue], Field(max_length=50)]

_WINDOWS_VM_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?")
_LINUX_VM_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9_])?")


def vm_name_problem(name: str, os_type: OsType | None) -> str | None:
    """Why ``name`` is not a valid Azure VM name for ``os_type`` (None: check the Linux rules), or None."""
    if os_type is OsType.WINDOWS:
        if not _WINDOWS_VM_NAME.fullmatch(name) or name.isdigit():
            return (
                f"expected a Windows VM name of 1-15 letters, digits or '-' (not all digits, not ending in '-'), "
                f"got {name[:80]!r}"
            )
    elif not _LINUX_VM_NAME.fullmatch(name):
        return (
            f"expected a VM name of 1-64 letters, digits, '.', '_' or '-' (not ending in '.' or '-'), got {name[:80]!r}"
        )
    return None


def suggest_vm_name(name: str, instance_id: str, os_type: OsType | None) -> str:
    """A valid Azure VM name from the instance's Name tag (or its id) for ``os_type``."""
    limit = 15 if os_type is OsType.WINDOWS else 64
    allowed = "-" if os_type is OsType.WINDOWS else "-._"
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in allowed) else "-" for ch in name.strip())
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-._")[:limit].rstrip("-.")
    if not cleaned or cleaned.isdigit() or vm_name_problem(cleaned, os_type):
        cleaned = instance_id.replace("i-", "vm-", 1)[:limit]
    return cleaned


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Availability(_Strict):
    """Where the Azure VM lands: no redundancy, a zone, or an availability set. Zone and set exclude each other."""

    zone: Annotated[int, Field(ge=1, le=3, strict=True)] | None = None
    set_id: AvailabilitySetId | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        kind, _, arg = value.partition(":")
        if kind == "none" and not arg:
            return {}
        if kind == "zone" and arg.isdigit():
            return {"zone": int(arg)}
        if kind == "set" and arg:
            return {"set_id": arg}
        raise ValueError(f"expected 'none', 'zone:N' or 'set:<availability set id>', got {value[:80]!r}")

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        if self.zone is not None and self.set_id is not None:
            raise ValueError("an availability zone and an availability set exclude each other: give one")
        return self


class EncryptionType(StrEnum):
    PLATFORM = "platform"
    CUSTOMER = "customer"
    DOUBLE = "double"


class DiskEncryption(_Strict):
    """Encryption at rest: platform key, customer key, or both (customer and double need a disk encryption set)."""

    type: EncryptionType = EncryptionType.PLATFORM
    disk_encryption_set_id: DiskEncryptionSetId | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        kind, _, arg = value.partition(":")
        if kind not in {t.value for t in EncryptionType}:
            raise ValueError(f"expected 'platform', 'customer:<DES id>' or 'double:<DES id>', got {value[:80]!r}")
        return {"type": kind, "disk_encryption_set_id": arg or None}

    @model_validator(mode="after")
    def _needs_set(self) -> Self:
        if self.type is EncryptionType.PLATFORM and self.disk_encryption_set_id:
            raise ValueError("platform-managed encryption takes no disk encryption set id")
        if self.type is not EncryptionType.PLATFORM and not self.disk_encryption_set_id:
            raise ValueError(f"{self.type.value} encryption needs a disk encryption set id ('{self.type.value}:<id>')")
        return self


class VaultRef(_Strict):
    name: VaultName
    resource_group: ResourceGroupName


class Appliance(_Strict):
    """The replication appliance EC2 instance the sources talk to on 443 and 9443."""

    instance_id: InstanceId
    private_ip: IPv4Address
    security_group_id: SecurityGroupId
    provider: ProviderField = Field(
        default=Provider.INMAGE_RCM,
        description="Site Recovery provider: InMageRcm only (the classic InMageAzureV2 was retired on 30 Sep 2026)",
    )
    discovery_ip: IPv4Address | None = Field(
        default=None, description="Azure Migrate discovery appliance IP; set it to open 22/5985 for discovery"
    )
    rule_source: Literal["private_ip", "security_group"] = Field(
        default="private_ip",
        description=(
            "what the appliance's 443/9443 rules allow: each source's private IP as a /32 (two rules per VM; AWS "
            "allows 60 inbound rules per group by default, so at most ~30 VMs in flight), or each source's security "
            "group (one pair of rules per distinct group: for large waves)"
        ),
    )

    @property
    def holds_shared_rules(self) -> bool:
        """Whether the wave holds security group rules for its VMs (``aws_lambdas/shared_rules.py``): the
        replication rules from a source group (``rule_source: security_group``), and the discovery rules, which are
        on the source's own group whatever the rule source, so VMs sharing that group share them too."""
        return self.rule_source == "security_group" or self.discovery_ip is not None


class TestVmValidation(_Strict):
    """What proves the test VM works: it always has to boot (running, VM agent ready); optionally a smoke command
    run on it through Azure Run Command must exit 0, and listed TCP ports must answer from inside it."""

    __test__ = False  # not a pytest class

    smoke_command: Annotated[str, Field(min_length=1, max_length=4000)] | None = None
    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(max_length=32)] = Field(default_factory=list)
    timeout_minutes: Annotated[int, Field(ge=1, le=90)] = 15


class TargetOverrides(_Strict):
    """Target settings a VM may override; every field optional."""

    subscription_id: SubscriptionId | None = None
    resource_group: ResourceGroupName | None = None
    region: AzureRegion | None = None
    vault: VaultRef | None = None
    virtual_network_id: VirtualNetworkId | None = None
    subnet: SubnetName | None = None
    test_virtual_network_id: VirtualNetworkId | None = None
    test_subnet: SubnetName | None = None
    cache_storage_account_id: StorageAccountId | None = None
    availability: Availability | None = None
    disk_encryption: DiskEncryption | None = None
    hybrid_benefit: Annotated[bool, Field(strict=True)] | None = None
    disk_type: DiskType | None = None
    validation: TestVmValidation | None = None


class TargetSettings(_Strict):
    """Where and how the VMs land in Azure (the tutorial's "Target settings" page)."""

    subscription_id: SubscriptionId
    resource_group: ResourceGroupName
    region: AzureRegion
    vault: VaultRef
    virtual_network_id: VirtualNetworkId
    subnet: SubnetName
    test_virtual_network_id: VirtualNetworkId | None = None
    test_subnet: SubnetName | None = None
    cache_storage_account_id: StorageAccountId
    availability: Availability = Field(default_factory=Availability)
    disk_encryption: DiskEncryption = Field(default_factory=DiskEncryption)
    hybrid_benefit: bool = Field(
        default=False,
        strict=True,
        description="Azure Hybrid Benefit for Windows Server (licenseType WindowsServer); applies to Windows VMs only",
    )
    disk_type: DiskType = DiskType.PREMIUM_LRS
    tags: Tags = Field(default_factory=dict)
    validation: TestVmValidation = Field(default_factory=TestVmValidation)

    def with_overrides(self, overrides: TargetOverrides | None) -> TargetSettings:
        if overrides is None:
            return self
        update = {name: getattr(overrides, name) for name in overrides.model_fields_set}
        return self.model_copy(update={k: v for k, v in update.items() if v is not None})


class VmSpec(_Strict):
    """One EC2 instance of the wave, with optional per-VM target overrides."""

    instance_id: InstanceId
    region: AwsRegion | None = None
    os_type: OsType | None = Field(default=None, description="checked again against the instance at preflight")
    target_vm_name: str | None = None
    vm_size: VmSize | None = None
    exclude_disks: Annotated[list[DeviceName], Field(max_length=64)] = Field(default_factory=list)
    disk_types: Annotated[dict[DeviceName, DiskType], Field(max_length=64)] = Field(default_factory=dict)
    tags: Tags = Field(default_factory=dict)
    target: TargetOverrides | None = None
    linux_license: LinuxLicense | None = Field(
        default=None,
        description=(
            "Linux: bring your own subscription (RHEL_BYOS for Red Hat, SLES_BYOS for SUSE; Azure Hybrid Benefit "
            "for Linux) or NoLicenseType (pay as you go); absent: not specified. Checked against the OS at preflight"
        ),
    )
    sql_server_license: SqlServerLicense | None = Field(
        default=None,
        description="SQL Server on this VM: AHUB (Azure Hybrid Benefit), PAYG or NoLicenseType; absent: not specified",
    )

    @field_validator("target_vm_name")
    @classmethod
    def _valid_name(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is not None and (problem := vm_name_problem(name, info.data.get("os_type"))):
            raise ValueError(problem)
        return name

    @model_validator(mode="after")
    def _disks_consistent(self) -> Self:
        if overlap := sorted(set(self.exclude_disks) & set(self.disk_types)):
            raise ValueError(f"exclude_disks: disks both excluded and given a disk type: {', '.join(overlap)}")
        return self

    @model_validator(mode="after")
    def _licences_match_os(self) -> Self:
        problems = []
        if self.os_type is OsType.WINDOWS and self.linux_license is not None:
            problems.append(
                f"linux_license: {self.linux_license.value} applies to Linux VMs; this VM's os_type is windows "
                "(Windows Server licences: target.hybrid_benefit)"
            )
        if self.os_type is OsType.LINUX and self.target is not None and self.target.hybrid_benefit:
            problems.append(
                "target.hybrid_benefit: Azure Hybrid Benefit for Windows Server applies to Windows VMs; this VM's "
                "os_type is linux (Linux subscriptions: linux_license RHEL_BYOS or SLES_BYOS)"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class MigrationRequest(_Strict):
    """One wave: which EC2 instances, where they land in Azure, and how."""

    request_id: RequestId
    environment: Environment = Environment.DEV
    mode: Mode = Mode.FULL
    approval: ApprovalMode = ApprovalMode.MANUAL
    approval_timeout_hours: Annotated[float, Field(gt=0, le=24 * 30, strict=True)] = 72.0
    on_no_approval: NoCutover = NoCutover.KEEP_REPLICATING
    on_test_failure: NoCutover = NoCutover.KEEP_REPLICATING
    max_parallel: Annotated[int, Field(ge=1, le=200, strict=True)] = 10
    region: AwsRegion = Field(description="AWS region of the sources (a VM may override it)")
    appliance: Appliance
    target: TargetSettings
    vms: Annotated[list[VmSpec], Field(min_length=1, max_length=MAX_VMS_PER_REQUEST)]
    tags: Tags = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        first_at: dict[str, int] = {}
        name_at: dict[str, int] = {}
        for index, vm in enumerate(self.vms):
            if vm.instance_id in first_at:
                first = first_at[vm.instance_id]
                problems.append(f"vms[{index}].instance_id: {vm.instance_id} is listed twice (first at vms[{first}])")
            first_at.setdefault(vm.instance_id, index)
            if vm.instance_id == self.appliance.instance_id:
                problems.append(f"vms[{index}].instance_id: {vm.instance_id} is the replication appliance itself")
            if vm.target_vm_name:
                key = vm.target_vm_name.lower()
                if key in name_at:
                    problems.append(
                        f"vms[{index}].target_vm_name: {vm.target_vm_name!r} is already used by vms[{name_at[key]}]"
                    )
                name_at.setdefault(key, index)
        if self.mode is not Mode.REPLICATE_ONLY:
            lacking = [i for i, vm in enumerate(self.vms) if not _has_test_network(self.target_for(vm))]
            if lacking:
                problems.append(
                    f"target.test_virtual_network_id: a test network and test subnet are required for the test "
                    f"migration of mode {self.mode.value} (missing for vms[{lacking[0]}]"
                    f"{f' and {len(lacking) - 1} more' if len(lacking) > 1 else ''}); "
                    "set them or use mode replicate_only"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def target_for(self, vm: VmSpec) -> TargetSettings:
        """The VM's effective target: the wave's defaults with the VM's overrides applied."""
        return self.target.with_overrides(vm.target)

    def region_for(self, vm: VmSpec) -> str:
        return vm.region or self.region

    @property
    def wave_instance_id(self) -> str:
        return wave_instance_id(self.request_id)

    def vm_instance_id(self, vm: VmSpec) -> str:
        return vm_instance_id(self.request_id, vm.instance_id)


def _has_test_network(target: TargetSettings) -> bool:
    return bool(target.test_virtual_network_id and target.test_subnet)


def wave_instance_id(request_id: str) -> str:
    """Deterministic orchestration id of a wave: resubmitting a request starts nothing new."""
    return f"wave-{request_id}"


def vm_instance_id(request_id: str, instance_id: str) -> str:
    """Deterministic orchestration id of one VM's lifecycle."""
    return f"vm-{request_id}-{instance_id}"


def claim_instance_id(instance_id: str) -> str:
    """Orchestration id of the record saying which request last claimed an EC2 instance (one per instance)."""
    return f"claim-{instance_id}"


class InstanceClaim(_Strict):
    """The input (and output) of an EC2 instance's claim record: the request that took it into a wave."""

    request_id: str
    instance_id: str


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-after", "function-before", "function-wrap")) or part in {"str", "int"}:
            continue
        else:
            path += f".{part}" if path else part
    return path


_RELATIVE_PATH = re.compile(r"([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): (.*)", re.DOTALL)


def _describe(error: Any) -> list[str]:
    path = _path(tuple(error["loc"]))
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        return [
            f"{path}: unknown field (not part of the migration request){did_you_mean(MigrationRequest, error['loc'])}"
        ]
    if kind == "missing":
        return [f"{path}: required field is missing"]
    issues = []
    for line in message.removeprefix("Value error, ").splitlines():
        where, text = path, line
        if kind == "value_error" and (relative := _RELATIVE_PATH.fullmatch(line)):
            where = f"{path}.{relative[1]}" if path else relative[1]
            text = relative[2]
        issues.append(f"{where}: {text}" if where else text)
    return issues


def parse_request(
    source: str | bytes | dict[str, Any], *, fmt: Literal["json", "yaml", "auto"] = "auto"
) -> MigrationRequest:
    """Parse and validate a migration request; raise :class:`InvalidRequestError` listing every problem."""
    data: Any = source
    if isinstance(source, bytes):
        if len(source) > MAX_REQUEST_BYTES:
            raise InvalidRequestError(f"request is {len(source)} bytes; at most {MAX_REQUEST_BYTES} are accepted")
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidRequestError(f"request is not UTF-8 text: {error}") from None
    if isinstance(source, str):
        if len(source) > MAX_REQUEST_BYTES:
            raise InvalidRequestError(f"request is {len(source)} characters; at most {MAX_REQUEST_BYTES} are accepted")
        data = _load_text(source, fmt)
    if not isinstance(data, dict):
        raise InvalidRequestError(f"expected a JSON object at the top level, got {type(data).__name__}")
    try:
        return MigrationRequest.model_validate(data)
    except ValidationError as error:
        issues = tuple(issue for e in error.errors(include_url=False) for issue in _describe(e))
        raise InvalidRequestError("invalid migration request: " + "; ".join(issues), issues=issues) from None


def _load_text(text: str, fmt: str) -> Any:
    if fmt == "json" or (fmt == "auto" and text.lstrip().startswith(("{", "["))):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidRequestError(
                f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidRequestError(f"not valid YAML: {error}".splitlines()[0]) from None
