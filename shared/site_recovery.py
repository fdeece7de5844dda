"""The Site Recovery port: what the pipeline asks of Azure Site Recovery, as typed models and one protocol.

Pure: no Azure SDK here. The adapter (:mod:`functions.gateways.site_recovery`) maps these models to
``azure-mgmt-recoveryservicessiterecovery`` calls and Azure Migrate reads; the emulator (:mod:`local.site_recovery`)
answers those calls locally. One provider: ``InMageRcm`` (the classic ``InMageAzureV2`` stack is retired by
Microsoft). Every action is non-blocking: it starts the Site Recovery operation and returns the job's name
(:class:`OperationStarted`); the orchestration polls :meth:`SiteRecoveryGateway.get_job` with durable timers.
Decide what may happen next from ``allowed_operations`` and ``current_scenario`` (:func:`can_test_failover` and
friends), never from the free-text ``protection_state``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.azure_migrate import (
    ApplianceIdentity,
    DiscoveredMachine,
    HealthIssue,
    MachineMatch,
    MachineQuery,
    ProcessServer,
    ProtectionHealth,
)
from shared.errors import JobFailedError
from shared.licensing import LinuxLicense, SqlServerLicense
from shared.provider import Provider
from shared.request import Appliance, DiskType, MigrationRequest, OsType, VmSpec

if TYPE_CHECKING:
    from shared.site_recovery_gaps import ReadinessSpec, SiteRecoveryReadiness
    from shared.watch import JobsPage, JobsPageRequest

__all__ = [
    "AllowedOperation",
    "ApplianceIdentity",
    "DiscoverTopologySpec",
    "DiscoveredMachine",
    "DiskSpec",
    "EnableReplicationSpec",
    "FindMachineSpec",
    "HealthIssue",
    "JobRef",
    "JobState",
    "JobStatus",
    "MachineMatch",
    "MachineQuery",
    "MigrateSpec",
    "OperationStarted",
    "ProcessServer",
    "ProtectedItemRef",
    "ProtectedItemSummary",
    "ProtectedItemsPage",
    "ProtectedItemsPageRequest",
    "ProtectionHealth",
    "Provider",
    "RecoveryPointInfo",
    "ReplicationStatus",
    "ReplicationTopology",
    "ScenarioInfo",
    "SiteRecoveryGateway",
    "TargetVmSettings",
    "TestFailoverSpec",
    "VaultRef",
    "appliance_identity",
    "can_cleanup_test_failover",
    "can_commit",
    "can_migrate",
    "can_stop_replication",
    "can_test_failover",
    "known_or_unknown",
    "latest_recovery_point_after",
    "vault_of",
    "vaults_of",
]

#: What an undocumented value is reported as: never as healthy.
UNKNOWN = "unknown"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllowedOperation(StrEnum):
    """Values of ``allowedOperations`` on a replication protected item (``ReplicationProtectedItemOperation``)."""

    TEST_FAILOVER = "TestFailover"
    TEST_FAILOVER_CLEANUP = "TestFailoverCleanup"
    PLANNED_FAILOVER = "PlannedFailover"
    UNPLANNED_FAILOVER = "UnplannedFailover"
    COMMIT = "Commit"
    CANCEL_FAILOVER = "CancelFailover"
    DISABLE_PROTECTION = "DisableProtection"
    CHANGE_PIT = "ChangePit"
    REVERSE_REPLICATE = "ReverseReplicate"


class JobState(StrEnum):
    """Job states the guide documents (plus Suspended, which the SDK's jobs also report)."""

    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SUSPENDED = "Suspended"


class ReplicationProgressHealth(StrEnum):
    """``VmReplicationProgressHealth`` (initial replication and resync progress health)."""

    NONE = "None"
    IN_PROGRESS = "InProgress"
    SLOW_PROGRESS = "SlowProgress"
    NO_PROGRESS = "NoProgress"
    QUEUED = "Queued"


class ResyncState(StrEnum):
    NONE = "None"
    PREPARED_FOR_RESYNCHRONIZATION = "PreparedForResynchronization"
    STARTED_RESYNCHRONIZATION = "StartedResynchronization"


def known_or_unknown(value: str | None, documented: type[StrEnum]) -> tuple[str, str | None]:
    """``(value, None)`` for a documented value (matched case-insensitively, returned as documented), ``("", None)``
    when absent, ``("unknown", "<value>")`` otherwise: the caller reports the second element."""
    if value is None or str(value) == "":
        return "", None
    for member in documented:
        if member.value.lower() == str(value).lower():
            return member.value, None
    return UNKNOWN, str(value)


NoneScenario = "None"


class VaultRef(_Model):
    """A Recovery Services vault."""

    subscription_id: Annotated[str, Field(min_length=1)]
    resource_group: Annotated[str, Field(min_length=1)]
    vault_name: Annotated[str, Field(min_length=1)]

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.RecoveryServices/vaults/{self.vault_name}"
        )


def vault_of(request: MigrationRequest, vm: VmSpec) -> VaultRef:
    """The vault a VM of the request replicates into."""
    target = request.target_for(vm)
    return VaultRef(
        subscription_id=target.subscription_id, resource_group=target.vault.resource_group, vault_name=target.vault.name
    )


def vaults_of(request: MigrationRequest, instance_ids: Collection[str] | None = None) -> list[VaultRef]:
    """The request's vaults, each once, in the order of its VMs (only those of ``instance_ids`` when given)."""
    vaults: list[VaultRef] = []
    for vm in request.vms:
        if instance_ids is not None and vm.instance_id not in instance_ids:
            continue
        vault = vault_of(request, vm)
        if vault not in vaults:
            vaults.append(vault)
    return vaults


def appliance_identity(appliance: Appliance) -> ApplianceIdentity:
    """How the request's appliance is found among the fabric's process servers: by its private IP (the request
    names the EC2 instance, whose name and BIOS id Azure does not know)."""
    return ApplianceIdentity(ip_address=str(appliance.private_ip))


class DiscoverTopologySpec(_Model):
    """Which vault, and which appliance (its process server) replicates this wave."""

    vault: VaultRef
    appliance: ApplianceIdentity


class ReplicationTopology(_Model):
    """The vault's InMageRcm setup: fabric, container, mapping, policy, the appliance's process server and the
    Azure Migrate site its machines are discovered on."""

    vault: VaultRef
    provider: Provider = Provider.INMAGE_RCM
    fabric_name: str
    fabric_id: str
    container_name: str
    container_id: str
    mapping_name: str
    policy_id: str
    policy_name: str
    process_server_id: str
    process_server_name: str = ""
    #: the machines the appliance's process server protected when the topology was read (None: not reported)
    process_server_protected_items: int | None = None
    physical_site_id: Annotated[str, Field(min_length=1)]


class FindMachineSpec(_Model):
    """Look the source up among the machines Azure Migrate discovered on the topology's site."""

    topology: ReplicationTopology
    query: MachineQuery


class DiskSpec(_Model):
    """One disk to replicate and the managed disk type it lands on. Excluded disks are simply not listed."""

    disk_id: Annotated[str, Field(min_length=1)]
    disk_type: DiskType = DiskType.PREMIUM_LRS


class TargetVmSettings(_Model):
    """Every tutorial target setting, in Azure terms."""

    resource_group_id: Annotated[str, Field(min_length=1)]
    network_id: Annotated[str, Field(min_length=1)]
    subnet_name: Annotated[str, Field(min_length=1)]
    test_network_id: str | None = None
    test_subnet_name: str | None = None
    vm_name: Annotated[str, Field(min_length=1)]
    vm_size: str | None = None
    cache_storage_account_id: Annotated[str, Field(min_length=1)]
    availability_zone: Annotated[int, Field(ge=1, le=3)] | None = None
    availability_set_id: str | None = None
    disk_encryption_set_id: str | None = Field(
        default=None, description="customer or double encryption: the DES id; platform-managed keys: None"
    )
    hybrid_benefit: bool = Field(default=False, description="Windows: Azure Hybrid Benefit (licenseType WindowsServer)")
    linux_license_type: LinuxLicense | None = Field(
        default=None, description="linuxLicenseType (Linux BYOS: RHEL_BYOS / SLES_BYOS); None: not sent"
    )
    sql_server_license_type: SqlServerLicense | None = Field(
        default=None, description="sqlServerLicenseType (AHUB / PAYG / NoLicenseType); None: not sent"
    )
    os_type: OsType | None = None
    default_disk_type: DiskType = DiskType.PREMIUM_LRS
    disks: Annotated[tuple[DiskSpec, ...], Field(min_length=1)]
    vm_tags: dict[str, str] = Field(default_factory=dict)
    nic_tags: dict[str, str] = Field(default_factory=dict)
    disk_tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.availability_zone is not None and self.availability_set_id:
            raise ValueError("an availability zone and an availability set exclude each other: give one")
        ids = [disk.disk_id for disk in self.disks]
        if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"disks: listed twice: {', '.join(duplicates)}")
        if self.hybrid_benefit and self.os_type is OsType.LINUX:
            raise ValueError("hybrid_benefit (licenseType WindowsServer) is for Windows; Linux uses linux_license_type")
        if self.linux_license_type is not None and self.os_type is OsType.WINDOWS:
            raise ValueError("linux_license_type is for Linux machines")
        return self

    @property
    def license_type(self) -> str:
        """Site Recovery ``licenseType``: Windows hybrid benefit means ``WindowsServer``."""
        return "WindowsServer" if self.hybrid_benefit else "NoLicenseType"


class EnableReplicationSpec(_Model):
    """Enable replication of the machine Azure Migrate discovered, with its target settings."""

    topology: ReplicationTopology
    protected_item_name: Annotated[str, Field(min_length=1)]
    machine: DiscoveredMachine
    target: TargetVmSettings

    @model_validator(mode="after")
    def _machine_on_site(self) -> Self:
        if not self.machine.id.lower().startswith(self.topology.physical_site_id.lower() + "/machines/"):
            raise ValueError(
                f"machine {self.machine.id} is not on the appliance's discovery site {self.topology.physical_site_id}"
            )
        return self


class ProtectedItemRef(_Model):
    """A replication protected item."""

    vault: VaultRef
    fabric_name: str
    container_name: str
    item_name: str
    provider: Provider = Provider.INMAGE_RCM


class TestFailoverSpec(_Model):
    __test__ = False  # not a pytest test class

    item: ProtectedItemRef
    test_network_id: Annotated[str, Field(min_length=1)]
    recovery_point_id: str | None = None


class MigrateSpec(_Model):
    """Unplanned failover for migration: the source is already stopped, so no source-side operations."""

    item: ProtectedItemRef
    recovery_point_id: str | None = Field(default=None, description="None: the latest processed point")
    perform_shutdown: bool = False


class JobRef(_Model):
    vault: VaultRef
    job_name: Annotated[str, Field(min_length=1)]


class OperationStarted(_Model):
    """An action was accepted: poll ``job`` until it ends."""

    operation: str
    job: JobRef
    item: ProtectedItemRef | None = None


class ScenarioInfo(_Model):
    name: str
    job_name: str | None = None
    start_time: datetime | None = None


class _ItemHealth(_Model):
    item: ProtectedItemRef
    friendly_name: str = ""
    protection_state: str = ""
    replication_health: str = ""
    health_errors: tuple[HealthIssue, ...] = ()
    initial_replication_percent: int | None = None
    initial_replication_health: str = Field(default="", description="VmReplicationProgressHealth, or 'unknown'")
    resync_percent: int | None = None
    resync_required: bool = False
    resync_state: str = ""
    rpo_seconds: int | None = None
    last_rpo_time: datetime | None = None
    last_recovery_point_time: datetime | None = None
    last_recovery_point_id: str | None = None
    allowed_operations: tuple[str, ...] = ()
    current_scenario: ScenarioInfo | None = None
    unknown_values: tuple[str, ...] = Field(
        default=(), description="undocumented values read from the item, as 'field=value': reported, never trusted"
    )

    @property
    def operation_in_progress(self) -> bool:
        """A scenario is recorded on the item; check its job to know whether it is still running."""
        return self.current_scenario is not None and self.current_scenario.name != NoneScenario


class ReplicationStatus(_ItemHealth):
    """Everything the orchestration reads about one protected item."""

    protection_state_description: str = ""
    active_location: str = ""
    test_failover_state: str = ""
    test_failover_state_description: str = ""
    failover_recovery_point_id: str | None = None
    target_vm_name: str | None = None

    @property
    def initial_replication_complete(self) -> bool:
        """Initial replication reached 100 %, or the service already allows a test failover (a healthy item in
        differential sync may report a resync progress of 0: that is not read as "not replicated")."""
        return self.initial_replication_percent == 100 or AllowedOperation.TEST_FAILOVER in self.allowed_operations


class ProtectedItemSummary(_ItemHealth):
    """One row of a health sweep."""


class ProtectedItemsPageRequest(_Model):
    """One page of the vault's protected items; ``continuation_token`` None means the first page."""

    vault: VaultRef
    continuation_token: str | None = None


class ProtectedItemsPage(_Model):
    items: tuple[ProtectedItemSummary, ...]
    continuation_token: str | None = None


class JobStatus(_Model):
    name: str
    state: str
    scenario_name: str = ""
    friendly_name: str = ""
    target_object_name: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    error_code: str = ""
    error_message: str = ""
    test_vm_names: tuple[str, ...] = ()
    """A test failover job's ``customDetails.protectedItemDetails[].testVmName`` (``TestFailoverJobDetails``)."""

    @property
    def is_terminal(self) -> bool:
        return self.state in {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}

    @property
    def succeeded(self) -> bool:
        return self.state == JobState.SUCCEEDED

    def raise_for_failure(self) -> None:
        """Raise :class:`JobFailedError` with the job's own code and message if it failed or was cancelled."""
        if self.state in {JobState.FAILED, JobState.CANCELLED}:
            raise JobFailedError(
                self.error_message or f"Site Recovery job {self.friendly_name or self.scenario_name} {self.state}",
                code=self.error_code or f"Job{self.state}",
                resource=f"replicationJobs/{self.name}",
            )


class RecoveryPointInfo(_Model):
    name: str
    id: str
    time: datetime
    type: str = ""


def latest_recovery_point_after(points: list[RecoveryPointInfo], when: datetime) -> RecoveryPointInfo | None:
    """Final sync: the newest recovery point strictly newer than ``when`` (the source's stop), or None."""
    newer = [p for p in points if p.time > when]
    return max(newer, key=lambda p: p.time) if newer else None


def _allowed(status: _ItemHealth, operation: AllowedOperation) -> bool:
    return operation.value in status.allowed_operations


def can_test_failover(status: _ItemHealth) -> bool:
    return _allowed(status, AllowedOperation.TEST_FAILOVER)


def can_cleanup_test_failover(status: _ItemHealth) -> bool:
    return _allowed(status, AllowedOperation.TEST_FAILOVER_CLEANUP)


def can_migrate(status: _ItemHealth) -> bool:
    return _allowed(status, AllowedOperation.UNPLANNED_FAILOVER)


def can_commit(status: _ItemHealth) -> bool:
    return _allowed(status, AllowedOperation.COMMIT)


def can_cancel_failover(status: _ItemHealth) -> bool:
    return _allowed(status, AllowedOperation.CANCEL_FAILOVER)


def can_stop_replication(status: _ItemHealth) -> bool:
    return _allowed(status, AllowedOperation.DISABLE_PROTECTION)


class SiteRecoveryGateway(Protocol):
    """Everything the pipeline does in Site Recovery. Actions return at once with the job to poll."""

    def discover_topology(self, spec: DiscoverTopologySpec) -> ReplicationTopology:
        """The InMageRcm fabric, its paired container and mapping, the policy and the appliance's process server
        (absent or unhealthy: a permanent error with the reason)."""
        ...

    def find_machine(self, spec: FindMachineSpec) -> MachineMatch:
        """The source among the machines Azure Migrate discovered on the site, with its agent's registration."""
        ...

    def match_machines(self, topology: ReplicationTopology, queries: Sequence[MachineQuery]) -> list[MachineMatch]:
        """Each query's match, from one read of the fabric's agents and of the site's machines (the discovery watch,
        for every VM waiting on that site at once)."""
        ...

    def check_readiness(self, spec: ReadinessSpec) -> SiteRecoveryReadiness:
        """Read (never change) what a wave needs from Site Recovery: facts, judged by
        :func:`shared.site_recovery_gaps.site_recovery_findings`."""
        ...

    def enable_replication(self, spec: EnableReplicationSpec) -> OperationStarted: ...

    def get_replication_status(self, item: ProtectedItemRef) -> ReplicationStatus: ...

    def start_test_failover(self, spec: TestFailoverSpec) -> OperationStarted: ...

    def cleanup_test_failover(self, item: ProtectedItemRef) -> OperationStarted: ...

    def start_migration(self, spec: MigrateSpec) -> OperationStarted:
        """Unplanned failover (``sourceSiteOperations=NotRequired``)."""
        ...

    def commit_migration(self, item: ProtectedItemRef) -> OperationStarted: ...

    def cancel_failover(self, item: ProtectedItemRef) -> OperationStarted:
        """Before commit: undo the failover (``failoverCancel``)."""
        ...

    def stop_replication(self, item: ProtectedItemRef) -> OperationStarted:
        """Stop migration: disable protection with reason ``MigrationComplete`` (not a purge)."""
        ...

    def get_job(self, job: JobRef) -> JobStatus:
        """The job's state; raises :class:`~shared.errors.JobFailedError` if it failed or was cancelled."""
        ...

    def list_recovery_points(self, item: ProtectedItemRef) -> list[RecoveryPointInfo]: ...

    def list_protected_items_page(self, request: ProtectedItemsPageRequest) -> ProtectedItemsPage:
        """One page of the vault's protected items: one request per call."""
        ...

    def list_jobs_page(self, request: JobsPageRequest) -> JobsPage:
        """One page of the vault's jobs that started from ``request.started_from``: one request per call."""
        ...
