"""Configuration of the emulated Site Recovery estate: vault, fabrics, timings, machine behaviour and faults.

Everything is a pydantic model so scenario files (YAML/JSON) can seed it with a plain dict:
``EmulatorEstate.model_validate({"vault_name": "mig-vault", "timings": {"initial_replication_seconds": 7200}})``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.request import Provider

API_VERSION = "2025-08-01"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProcessServerConfig(_Config):
    id: str = "8b5c1f9e-3c1a-4f6e-9d3e-2a7d4b6c0e11"
    name: str = "aws-replication-appliance"
    ip_address: str = "10.0.0.10"


class RunAsAccountConfig(_Config):
    account_id: str = "1"
    account_name: str = "aws-migration-account"


class FabricConfig(_Config):
    """One appliance registered with the vault: a fabric, its container, mapping and replication policy."""

    provider: Provider
    name: str
    container_name: str
    mapping_name: str
    policy_name: str
    process_server: ProcessServerConfig = Field(default_factory=ProcessServerConfig)
    run_as_account: RunAsAccountConfig = Field(default_factory=RunAsAccountConfig)
    physical_site_id: str | None = None
    master_target_id: str | None = Field(default=None, description="classic: defaults to the process server id")


def _default_fabrics() -> list[FabricConfig]:
    return [
        FabricConfig(
            provider=Provider.INMAGE_RCM,
            name="aws-appliance-rcm-fabric",
            container_name="aws-appliance-rcm-container",
            mapping_name="aws-appliance-rcm-mapping",
            policy_name="migration-policy-rcm",
            process_server=ProcessServerConfig(),
        ),
        FabricConfig(
            provider=Provider.INMAGE_AZURE_V2,
            name="aws-config-server-fabric",
            container_name="cloud_7f1c2b3a-5d4e-4f60-8a9b-0c1d2e3f4a5b",
            mapping_name="aws-config-server-mapping",
            policy_name="migration-policy-v2",
            process_server=ProcessServerConfig(
                id="3f2e1d0c-9b8a-4765-8432-10fedcba9876", name="aws-config-server", ip_address="10.0.0.11"
            ),
        ),
    ]


class Timings(_Config):
    """Durations in seconds of virtual (or wall) time."""

    job_queue_seconds: float = 5.0
    job_seconds: dict[str, float] = Field(
        default_factory=lambda: {
            "EnableDr": 120.0,
            "UpdateDr": 30.0,
            "TestFailover": 300.0,
            "TestFailoverCleanup": 120.0,
            "UnplannedFailover": 300.0,
            "FailoverCommit": 60.0,
            "DisableDr": 60.0,
        }
    )
    discovery_seconds: float = Field(default=60.0, description="from agent registration to protectable item")
    initial_replication_seconds: float = 3600.0
    recovery_point_interval_seconds: float = 300.0
    recovery_point_retention: int = Field(default=288, description="newest points kept per item")
    rpo_seconds: int = 60
    rpo_warning_seconds: int = 15 * 60
    rpo_critical_seconds: int = 30 * 60
    final_sync_delay_seconds: float = 120.0
    retry_after_seconds: int = 30


class HealthLevel(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"
    CRITICAL = "Critical"


class MachineBehaviour(_Config):
    """How one machine replicates; change it at runtime through the emulator's methods."""

    initial_replication_seconds: float | None = None
    stuck_at_percent: Annotated[int, Field(ge=0, le=99)] | None = None
    health: HealthLevel = HealthLevel.NORMAL
    health_error_code: str = "SourceMachineDiskChurnHigh"
    health_error_message: str = "The data change rate on the source machine is above the supported limit."


class FaultKind(StrEnum):
    THROTTLE = "throttle"  # 429 with Retry-After
    THROTTLE_NO_RETRY_AFTER = "throttle_no_retry_after"  # 429 without Retry-After
    UNAVAILABLE = "unavailable"  # 503
    CONFLICT = "conflict"  # 409, as while another job runs
    TIMEOUT = "timeout"  # the transport times out
    JOB_FAILURE = "job_failure"  # the request is accepted; its job ends Failed


class Operation(StrEnum):
    """What a request does, as the emulator classifies it (also used to target faults)."""

    LIST_FABRICS = "list_fabrics"
    GET_FABRIC = "get_fabric"
    LIST_CONTAINERS = "list_containers"
    GET_CONTAINER = "get_container"
    LIST_MAPPINGS = "list_mappings"
    LIST_POLICIES = "list_policies"
    GET_POLICY = "get_policy"
    LIST_PROTECTABLE_ITEMS = "list_protectable_items"
    GET_PROTECTABLE_ITEM = "get_protectable_item"
    ENABLE = "enable"
    UPDATE = "update"
    GET_ITEM = "get_item"
    LIST_ITEMS = "list_items"
    LIST_VAULT_ITEMS = "list_vault_items"
    TEST_FAILOVER = "test_failover"
    TEST_FAILOVER_CLEANUP = "test_failover_cleanup"
    FAILOVER = "failover"
    COMMIT = "commit"
    REMOVE = "remove"
    RECOVERY_POINTS = "recovery_points"
    OPERATION_RESULT = "operation_result"
    GET_JOB = "get_job"
    LIST_JOBS = "list_jobs"
    UNKNOWN = "unknown"


class RequestFault(_Config):
    """Make matching requests fail. ``times`` None: every matching request, until cleared."""

    kind: FaultKind
    operation: Operation | Literal["*"] = "*"
    machine: str | None = Field(default=None, description="machine name or protected item name; None: any")
    times: Annotated[int, Field(ge=1)] | None = 1
    retry_after_seconds: int = 10
    error_code: str = ""
    error_message: str = ""


class EmulatorEstate(_Config):
    """The emulated vault and how it behaves."""

    subscription_id: str = "00000000-0000-0000-0000-000000000001"
    resource_group: str = "rg-migration"
    vault_name: str = "mig-vault"
    location: str = "westeurope"
    base_url: str = "https://management.siterecovery.emulator"
    api_version: str = API_VERSION
    fabrics: list[FabricConfig] = Field(default_factory=_default_fabrics)
    timings: Timings = Field(default_factory=Timings)
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    faults: list[RequestFault] = Field(default_factory=list)
    require_authorization: bool = True
