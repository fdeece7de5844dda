"""The Site Recovery port: what the pipeline asks of Azure Site Recovery, as typed models and one protocol.

Pure: no Azure SDK here. The adapter (:mod:`functions.gateways.site_recovery`) maps these models to
``azure-mgmt-recoveryservicessiterecovery`` calls; the emulator (:mod:`local.site_recovery`) answers those calls
locally. Every action is non-blocking: it starts the Site Recovery operation and returns the job's name
(:class:`OperationStarted`); the orchestration polls :meth:`SiteRecoveryGateway.get_job` with durable timers.
Decide what may happen next from ``allowed_operations`` and ``current_scenario`` (:func:`can_test_failover` and
friends), never from the free-text ``protection_state``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.errors import JobFailedError
from shared.request import DiskType, OsType, Provider

__all__ = [
    "AllowedOperation",
    "DiscoverTopologySpec",
    "DiskSpec",
    "EnableReplicationSpec",
    "FindProtectableItemSpec",
    "HealthIssue",
    "JobRef",
    "JobState",
    "JobStatus",
    "MigrateSpec",
    "OperationStarted",
    "ProtectableDisk",
    "ProtectableItem",
    "ProtectedItemRef",
    "ProtectedItemSummary",
    "ProtectedItemsPage",
    "ProtectedItemsPageRequest",
    "Provider",
    "RecoveryPointInfo",
    "ReplicationHealth",
    "ReplicationStatus",
    "ReplicationTopology",
    "ScenarioInfo",
    "SiteRecoveryGateway",
    "TargetVmSettings",
    "TestFailoverSpec",
    "VaultRef",
    "can_cleanup_test_failover",
    "can_commit",
    "can_migrate",
    "can_stop_replication",
    "can_test_failover",
    "latest_recovery_point_after",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllowedOperation(StrEnum):
    """Values of ``allowedOperations`` on a replication protected item (``ReplicationProtectedItemOperation``)."""

    TEST_FAILOVER = "TestFailover"
    TEST_FAILOVER_CLEANUP = "TestFailoverCleanup"
    PLANNED_FAILOVER = "PlannedFailover"
    UNPLANNED_FAILOVER = "UnplannedFailover"
    COMMIT = "Commit"
    DISABLE_PROTECTION = "DisableProtection"
    CHANGE_PIT = "ChangePit"
    REVERSE_REPLICATE = "ReverseReplicate"


class JobState(StrEnum):
    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SUSPENDED = "Suspended"


class ReplicationHealth(StrEnum):
    NONE = "None"
    NORMAL = "Normal"
    WARNING = "Warning"
    CRITICAL = "Critical"


NoneScenario = "None"


class VaultRef(_Model):
    """A Recovery Services vault."""

    subscription_id: Annotated[str, Field(min_length=1)]
    resource_group: Annotated[str, Field(min_length=1)]
    vault_name: Annotated[str, Field(min_length=1)]


class DiscoverTopologySpec(_Model):
    """Which vault and provider to discover; optionally pick a process server / run-as account by name."""

    vault: VaultRef
    provider: Provider = Provider.INMAGE_RCM
    process_server_name: str | None = None
    run_as_account_name: str | None = None


class ReplicationTopology(_Model):
    """The vault's replication setup for one provider: where protected items live and what they replicate with."""

    vault: VaultRef
    provider: Provider
    fabric_name: str
    fabric_id: str
    container_name: str
    container_id: str
    mapping_name: str
    policy_id: str
    policy_name: str
    process_server_id: str
    process_server_name: str = ""
    run_as_account_id: str | None = None
    master_target_id: str | None = Field(default=None, description="classic appliance: the master target server")
    physical_site_id: str | None = Field(default=None, description="modernized appliance: the discovery site")


class FindProtectableItemSpec(_Model):
    """Find the protectable item of one source machine, by any of name, IP address or BIOS id."""

    topology: ReplicationTopology
    machine_name: str | None = None
    ip_address: str | None = None
    bios_id: str | None = None

    @model_validator(mode="after")
    def _something_to_match(self) -> Self:
        if not (self.machine_name or self.ip_address or self.bios_id):
            raise ValueError("give at least one of machine_name, ip_address or bios_id")
        return self


class ProtectableDisk(_Model):
    disk_id: str
    disk_name: str
    size_bytes: int | None = None
    is_os_disk: bool = False


class ProtectableItem(_Model):
    """A discovered machine whose agent registered with the appliance."""

    name: str
    id: str
    friendly_name: str
    protection_status: str
    ip_address: str | None = None
    os_type: str | None = None
    agent_installed: bool = False
    agent_id: str | None = None
    fabric_discovery_machine_id: str | None = None
    replication_protected_item_id: str | None = None
    disks: tuple[ProtectableDisk, ...] = ()

    @property
    def is_protected(self) -> bool:
        return self.protection_status.lower() == "protected"


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
    hybrid_benefit: bool = False
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
        return self

    @property
    def license_type(self) -> str:
        """Site Recovery ``licenseType``: hybrid benefit means ``WindowsServer``."""
        return "WindowsServer" if self.hybrid_benefit else "NoLicenseType"


class EnableReplicationSpec(_Model):
    """Enable replication of one machine with its target settings."""

    topology: ReplicationTopology
    protected_item_name: Annotated[str, Field(min_length=1)]
    protectable_item_id: Annotated[str, Field(min_length=1)]
    fabric_discovery_machine_id: str | None = Field(
        default=None, description="InMageRcm: the discovered machine; derived from the topology's site if absent"
    )
    target: TargetVmSettings

    @property
    def provider(self) -> Provider:
        return self.topology.provider


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


class HealthIssue(_Model):
    code: str
    message: str
    level: str = ""
    possible_causes: str = ""
    recommended_action: str = ""


class _ItemHealth(_Model):
    item: ProtectedItemRef
    friendly_name: str = ""
    protection_state: str = ""
    replication_health: str = ""
    health_errors: tuple[HealthIssue, ...] = ()
    initial_replication_percent: int | None = None
    rpo_seconds: int | None = None
    last_rpo_time: datetime | None = None
    last_recovery_point_time: datetime | None = None
    allowed_operations: tuple[str, ...] = ()
    current_scenario: ScenarioInfo | None = None

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


def can_stop_replication(status: _ItemHealth) -> bool:
    return _allowed(status, AllowedOperation.DISABLE_PROTECTION)


class SiteRecoveryGateway(Protocol):
    """Everything the pipeline does in Site Recovery. Actions return at once with the job to poll."""

    def discover_topology(self, spec: DiscoverTopologySpec) -> ReplicationTopology:
        """Fabric (process server, run-as account), protection container, container mapping and policy."""
        ...

    def find_protectable_item(self, spec: FindProtectableItemSpec) -> ProtectableItem:
        """The machine's protectable item; :class:`~shared.errors.NotFoundError` until its agent registered."""
        ...

    def enable_replication(self, spec: EnableReplicationSpec) -> OperationStarted: ...

    def get_replication_status(self, item: ProtectedItemRef) -> ReplicationStatus: ...

    def start_test_failover(self, spec: TestFailoverSpec) -> OperationStarted: ...

    def cleanup_test_failover(self, item: ProtectedItemRef) -> OperationStarted: ...

    def start_migration(self, spec: MigrateSpec) -> OperationStarted:
        """Unplanned failover (``sourceSiteOperations=NotRequired``)."""
        ...

    def commit_migration(self, item: ProtectedItemRef) -> OperationStarted: ...

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
