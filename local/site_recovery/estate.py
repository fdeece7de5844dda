"""Configuration of the emulated Site Recovery estate: vault, fabrics, timings, machine behaviour and faults.

Everything is a pydantic model so scenario files (YAML/JSON) can seed it with a plain dict:
``EmulatorEstate.model_validate({"vault_name": "mig-vault", "timings": {"initial_replication_seconds": 7200}})``.
"""

from __future__ import annotations

import random
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "2025-08-01"
MIGRATE_API_VERSION = "2023-06-06"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthErrorConfig(_Config):
    code: str
    message: str
    level: str = "Error"


class ApplianceHealth(_Config):
    """The appliance's process server health as the fabric reports it (``ProcessServerDetails.health`` and
    ``healthErrors``). A scenario sets it (``appliance_health``) to plant an unhealthy appliance; any other value
    than the documented ones is served as given, so the pipeline's handling of unknown values can be seen."""

    health: str = Field(default="Normal", description="ProtectionHealth: None | Normal | Warning | Critical")
    health_errors: list[HealthErrorConfig] = Field(default_factory=list)


class ProcessServerConfig(ApplianceHealth):
    """The replication appliance as the InMageRcm fabric lists it (``processServers[]``)."""

    id: str = "8b5c1f9e-3c1a-4f6e-9d3e-2a7d4b6c0e11"
    name: str = "aws-replication-appliance"
    ip_address: str = "10.0.0.10"
    bios_id: str = ""
    #: Microsoft, "Support matrix for deploying the replication appliance with Azure Site Recovery - modernized"
    #: (MicrosoftDocs/azure-docs articles/site-recovery/replication-appliance-support-matrix.md, "Sizing and
    #: capacity"): "An appliance that uses an in-built process server to protect the workload can handle up to 200
    #: VMs". Tests plant a smaller one.
    max_protected_items: int = Field(default=200, ge=1)


class FabricConfig(_Config):
    """The InMageRcm fabric of the appliance: its container, mapping, replication policy and discovery site."""

    name: str
    container_name: str
    mapping_name: str
    policy_name: str
    process_server: ProcessServerConfig = Field(default_factory=ProcessServerConfig)
    physical_site_id: str | None = None
    run_as_account_name: str = Field(default="aws-migration-account", description="the site's run-as account")
    policy_exists: bool = Field(default=True, description="False: no first replication from the portal yet")
    mapping_exists: bool = True


def _default_fabrics() -> list[FabricConfig]:
    return [
        FabricConfig(
            name="aws-appliance-rcm-fabric",
            container_name="aws-appliance-rcm-container",
            mapping_name="aws-appliance-rcm-mapping",
            policy_name="migration-policy-rcm",
            process_server=ProcessServerConfig(),
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
            "CancelFailover": 120.0,
            "DisableDr": 60.0,
        }
    )
    discovery_seconds: float = Field(
        default=60.0, description="from the agent's registration to its entry in the fabric's agentDetails"
    )
    initial_replication_seconds: float = 3600.0
    recovery_point_interval_seconds: float = 300.0
    recovery_point_retention: int = Field(default=288, description="newest points kept per item")
    rpo_seconds: int = 60
    rpo_warning_seconds: int = 15 * 60
    rpo_critical_seconds: int = 30 * 60
    final_sync_delay_seconds: float = 120.0
    retry_after_seconds: int = 30
    duration_spread: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="each job's duration and each final sync's delay is the configured figure times a factor drawn "
        "from a lognormal distribution with this sigma (median 1), so no wait can be tuned to another's length; "
        "0 makes every duration exactly the configured one",
    )
    duration_seed: str = Field(default="site-recovery", description="seeds the draws: same seed, same durations")

    def drawn(self, seconds: float, *key: str) -> float:
        """``seconds`` times this run's factor for ``key`` (a job's or a final sync's identity): repeatable, and
        independent of every other draw."""
        if not self.duration_spread:
            return seconds
        factor = random.Random(":".join((self.duration_seed, *key))).lognormvariate(0.0, self.duration_spread)
        return float(max(1, round(seconds * factor)))  # whole seconds, as the service's timestamps are read


class HealthLevel(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"
    CRITICAL = "Critical"


class TestVmBoot(StrEnum):
    """How the test VM a test failover creates comes up (the emulator's scenario faults)."""

    __test__ = False

    OK = "ok"
    PROVISIONING_FAILED = "provisioning_failed"  # ProvisioningState/failed/OSProvisioningTimedOut, VM stopped
    NOT_RUNNING = "not_running"  # provisioned, PowerState/stopped: the OS never came up
    AGENT_NOT_READY = "agent_not_ready"  # running, but the VM agent never reports Ready


class TestVmBehaviour(_Config):
    """The test VM's boot and what its guest answers to the validation's Run Command."""

    __test__ = False

    boot: TestVmBoot = TestVmBoot.OK
    boot_seconds: float = Field(default=90, ge=0, description="from the test failover's end to the agent's Ready")
    smoke_exit_code: int = 0
    smoke_stdout: str = "smoke test passed"
    smoke_stderr: str = ""
    open_ports: list[int] | None = Field(default=None, description="None: every port asked about answers")
    run_seconds: float = Field(default=40, gt=0, description="how long a Run Command takes")


class MachineBehaviour(_Config):
    """How one machine replicates; change it at runtime through the emulator's methods."""

    initial_replication_seconds: float | None = None
    stuck_at_percent: Annotated[int, Field(ge=0, le=99)] | None = None
    health: HealthLevel = HealthLevel.NORMAL
    health_error_code: str = "SourceMachineDiskChurnHigh"
    health_error_message: str = "The data change rate on the source machine is above the supported limit."
    test_vm: TestVmBehaviour = Field(default_factory=TestVmBehaviour)


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
    LIST_MACHINES = "list_machines"
    GET_MACHINE = "get_machine"
    ENABLE = "enable"
    UPDATE = "update"
    GET_ITEM = "get_item"
    LIST_ITEMS = "list_items"
    LIST_VAULT_ITEMS = "list_vault_items"
    TEST_FAILOVER = "test_failover"
    TEST_FAILOVER_CLEANUP = "test_failover_cleanup"
    FAILOVER = "failover"
    COMMIT = "commit"
    CANCEL_FAILOVER = "cancel_failover"
    REMOVE = "remove"
    RECOVERY_POINTS = "recovery_points"
    OPERATION_RESULT = "operation_result"
    GET_JOB = "get_job"
    GET_OPERATION_STATUS = "get_operation_status"
    LIST_JOBS = "list_jobs"
    VM_INSTANCE_VIEW = "vm_instance_view"  # Microsoft.Compute: the test VM's instance view
    RUN_COMMAND = "run_command"  # Microsoft.Compute: action Run Command on the test VM
    RUN_COMMAND_RESULT = "run_command_result"  # its Location / Azure-AsyncOperation
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
    machines_page_size: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=100, description="Azure Migrate's machines per page (the listing is paged with nextLink)"
    )
    migrate_api_version: str = MIGRATE_API_VERSION
    async_operation_style: Literal["job", "operation_status"] = Field(
        default="job",
        description="what Azure-AsyncOperation points at: replicationJobs/{job} or replicationOperationStatus/{id} "
        "(both are seen live)",
    )
    faults: list[RequestFault] = Field(default_factory=list)
    require_authorization: bool = True
