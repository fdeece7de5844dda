"""Inputs and results of the orchestrations, and the events they publish.

Orchestration inputs carry no secret: the Mobility agent's configuration file stays in AWS Secrets Manager and
is read on the guest. Every wait is configured here (:class:`Timings`), so the same orchestrator runs hours of
replication in the cloud and seconds on the local host's virtual clock.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.aws_contracts import SecurityGroupRuleChange
from shared.facts import InstanceFacts
from shared.lifecycle import Cutover, StepError, VmProgress, VmState
from shared.pacing import START_INTERVAL_SECONDS
from shared.preflight import PreflightVerdict
from shared.request import Appliance, ApprovalMode, MigrationRequest, Mode, NoCutover, TargetSettings, VmSpec
from shared.site_recovery import ProtectedItemRef, RecoveryPointInfo, TargetVmSettings

#: External events the orchestrations wait for.
APPROVAL_EVENT = "approval"
CANCEL_EVENT = "cancel"
HEALTH_EVENT = "replication_health"
#: A Site Recovery job the VM waits for ended (raised by the replication watch, see :mod:`shared.watch`).
JOB_EVENT = "job_completed"
#: The VM's protected item reports a recovery point newer than the source's stop (see :mod:`shared.watch`).
FINAL_SYNC_EVENT = "final_sync"
#: Azure Migrate discovered the VM's machine and its agent registered (see :mod:`shared.watch`).
DISCOVERY_EVENT = "machine_discovered"
#: A guest command the VM waits for ended (raised by the replication watch from the command_watch Lambda's answer).
COMMAND_EVENT = "command_ended"
#: The time a waiting VM asked to read for itself came (``WaitingFor.look_at``; raised by the replication watch).
LOOK_EVENT = "look"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timings(_Model):
    """Every poll interval and timeout of the lifecycle, in seconds (hours where named so)."""

    command_first_poll: float = Field(
        default=30, gt=0, description="the wait before sending again a command SSM could not deliver"
    )
    command_max_poll: float = Field(
        default=300, gt=0, description="the safety net of a guest command's wait (its end comes as an event)"
    )
    command_timeout: float = Field(default=2 * 3600, gt=0)
    registration_first_poll: float = Field(
        default=60,
        gt=0,
        description="discovery is awaited on the replication watch's event; the VM reads the site itself this long "
        "after it began waiting (the safety net; kept short enough not to hold the VM's events back), then every "
        "registration_max_poll",
    )
    registration_max_poll: float = Field(default=600, gt=0)
    registration_timeout: float = Field(default=3600, gt=0)
    job_first_poll: float = Field(default=60, gt=0, description="unused: jobs are awaited on events (job_safety_poll)")
    job_max_poll: float = Field(default=900, gt=0, description="unused: jobs are awaited on events (job_safety_poll)")
    job_timeout: float = Field(default=6 * 3600, gt=0)
    initial_replication_timeout_hours: float = Field(default=7 * 24, gt=0)
    source_stop_first_poll: float = Field(default=10, gt=0)
    source_stop_timeout: float = Field(default=1800, gt=0)
    cutover_poll: float = Field(
        default=15, gt=0, description="unused: the cutover's waits are woken by events (cutover_safety_poll)"
    )
    cutover_max_poll: float = Field(default=30, gt=0, description="unused, as cutover_poll")
    final_sync_timeout: float = Field(default=3600, gt=0)
    job_safety_poll: float = Field(
        default=900,
        gt=0,
        description="a job is awaited on the replication watch's event; read directly only this long after the "
        "last look (the safety net should the watch miss it)",
    )
    cutover_safety_poll: float = Field(
        default=120,
        gt=0,
        description="the same safety net during the cutover (final sync, migration and commit: the source is down)",
    )
    backoff: float = Field(default=2.0, ge=1.0)
    test_vm_first_poll: float = Field(default=30, gt=0, description="first look at the test VM and its Run Command")
    test_vm_max_poll: float = Field(default=120, gt=0)


class Approval(BaseModel):
    """The data of an approval event, as :mod:`functions.operations` sends it.

    ``by`` is the display name the operator typed; ``principal_id`` / ``principal_name`` are who the platform
    authenticated (Easy Auth's ``X-MS-CLIENT-PRINCIPAL-ID`` / ``-NAME``; locally, the OS user). ``awaiting_since``
    is when the VM entered ``awaiting_approval`` as its status said when the approval was given: an approval that
    does not carry the orchestration's own time was not given while the VM awaited it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    approved: bool = True
    by: str = ""
    principal_id: str = ""
    principal_name: str = ""
    awaiting_since: datetime | None = None

    @classmethod
    def of(cls, data: Any) -> Approval:
        """The approval in an event's data; anything unreadable is an approval of nobody, for no wait."""
        try:
            return cls.model_validate(data if isinstance(data, dict) else {})
        except ValueError:
            return cls(approved=False)

    @property
    def who(self) -> str:
        name = self.principal_name or self.principal_id or "an unauthenticated caller"
        return f"{name} ({self.by})" if self.by and self.by != name else name


class EventType(StrEnum):
    WAVE_STARTED = "wave.started"
    WAVE_COMPLETED = "wave.completed"
    VM_STATE_CHANGED = "vm.state_changed"
    VM_HEALTH_DEGRADED = "vm.health_degraded"
    STEP_RETRIED = "step.retried"
    VM_APPROVED = "vm.approved"
    REQUEST_REJECTED = "request.rejected"
    #: the wave runs fewer VMs at once than its max_parallel: the appliance has room for no more
    WAVE_PARALLELISM_CAPPED = "wave.parallelism_capped"


class MigrationEvent(_Model):
    """One fact published for notifications and audit (Service Bus topic ``migration-events``; locally a log).

    ``event_id`` is deterministic (orchestration id + sequence), so a re-run activity publishes nothing twice.
    """

    event_id: str
    type: EventType
    request_id: str
    orchestration_id: str
    instance_id: str = ""
    state: str = ""
    previous_state: str = ""
    detail: str = ""
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class VmStage(StrEnum):
    """Where an execution of ``migrate_vm`` starts. Each later stage begins with a fresh history (continue-as-new),
    so no replay grows with the whole lifecycle. The boundaries sit where no operator event can be pending: once
    replication is enabled (before initial replication: an approval then is refused anyway), after the approval was
    consumed, and inside the cutover (a cancel is checked at each boundary). The first boundary also leaves behind
    the durable timers of the preparation's waits (each wait's deadline backstop, :mod:`shared.watch`): they belong
    to the ended execution and never wake the VM during its initial replication."""

    PREPARE = "prepare"  # preflight, network, guest, agent, discovery, enable replication
    REPLICATE = "replicate"  # initial replication, test migration, approval
    FINAL_SYNC = "final_sync"  # source stopped, waiting for a recovery point newer than the stop
    MIGRATE = "migrate"  # migration, commit, clean-up


class Landing(_Model):
    """Where a VM lands in Azure: the request's effective target and what enable replication was given.

    The Azure IP is not recorded (Site Recovery assigns it from ``subnet`` unless a static IP is set, and the
    pipeline sets none); ``source_ip`` is the EC2 instance's private IP.
    """

    subscription_id: str
    resource_group: str
    region: str
    vm_name: str
    vm_size: str = Field(default="", description="empty: Site Recovery picks the size matching the source")
    network_id: str = ""
    subnet: str = ""
    availability: str = ""
    disks: tuple[str, ...] = Field(default=(), description="'disk id: disk type', as replication was enabled")
    source_ip: str = ""

    @classmethod
    def of(
        cls,
        target: TargetSettings,
        vm: VmSpec,
        vm_name: str,
        enabled: TargetVmSettings | None,
        facts: InstanceFacts | None,
    ) -> Landing:
        zone, avset = target.availability.zone, target.availability.set_id
        return cls(
            subscription_id=target.subscription_id,
            resource_group=target.resource_group,
            region=target.region,
            vm_name=enabled.vm_name if enabled else vm_name,
            vm_size=(enabled.vm_size if enabled else vm.vm_size) or "",
            network_id=target.virtual_network_id,
            subnet=target.subnet,
            availability=f"zone {zone}" if zone else (f"set {avset.rsplit('/', 1)[-1]}" if avset else "none"),
            disks=tuple(f"{d.disk_id}: {d.disk_type.value}" for d in enabled.disks) if enabled else (),
            source_ip=facts.private_ip if facts else "",
        )


class VmCheckpoint(_Model):
    """What one execution of ``migrate_vm`` hands to the next when it continues as new at a stage boundary."""

    stage: VmStage
    progress: VmProgress
    event_seq: int
    pending_events: list[MigrationEvent] = Field(default_factory=list)
    rules: list[SecurityGroupRuleChange] = Field(default_factory=list)
    guest_touched: bool = False
    item: ProtectedItemRef | None = None
    source_stopped_at: datetime | None = None
    access_closed: bool = False
    expected_failover_seconds: float = 0.0
    final_point: RecoveryPointInfo | None = None
    landing: Landing | None = None
    adopted: bool = Field(default=False, description="enable replication found the item replicating already")


class VmInput(_Model):
    """What one ``migrate_vm`` orchestration needs: the VM, its resolved target and the wave's settings."""

    request_id: str
    wave_instance_id: str
    vm: VmSpec
    region: str
    mode: Mode
    approval: ApprovalMode
    approval_timeout_hours: float
    on_no_approval: NoCutover = NoCutover.KEEP_REPLICATING
    on_test_failure: NoCutover = NoCutover.KEEP_REPLICATING
    appliance: Appliance
    target: TargetSettings
    verdict: PreflightVerdict
    facts: InstanceFacts | None = None
    topology: dict[str, Any] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    migration_tags: dict[str, str] = Field(default_factory=dict)
    #: Set when an execution continues as new: the stage to start at and the state carried over.
    checkpoint: VmCheckpoint | None = None
    #: When the wave paces its starts (:mod:`shared.pacing`): the VM waits until then before its first change.
    not_before: datetime | None = None


class VmResult(_Model):
    """How one VM's migration ended."""

    instance_id: str
    orchestration_id: str
    name: str = ""
    state: VmState
    target_vm_name: str = ""
    error: StepError | None = None
    reasons: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()
    cutover: Cutover = Field(
        default=Cutover.NOT_STARTED, description="committed: the Azure VM is authoritative, whatever the state says"
    )
    started_at: datetime
    finished_at: datetime
    landing: Landing | None = None


class BatchInput(_Model):
    """A slice of a wave run as one sub-orchestration, so no orchestrator's history grows with the wave."""

    request_id: str
    batch_index: int
    vms: list[VmInput]


class WaveInput(_Model):
    """The ``migrate_wave`` orchestration's input: the validated request and how to pace it."""

    request: MigrationRequest
    timings: Timings = Field(default_factory=Timings)
    batch_size: int = Field(default=50, ge=1, le=500)
    start_interval_seconds: float = Field(
        default=START_INTERVAL_SECONDS, ge=0, le=3600, description="seconds between two VM starts (shared.pacing)"
    )


class WaveSummary(_Model):
    """The fan-in of a wave: counts per terminal state and every VM's result."""

    request_id: str
    environment: str = Field(default="", description="the request's environment (dev, test, prod)")
    counts: dict[str, int]
    vms: list[VmResult]
    started_at: datetime
    finished_at: datetime
    shared_rules: list[str] = Field(
        default_factory=list,
        description=(
            "rule_source security_group or a discovery appliance: what releasing the wave's shared security group "
            "rules did, per region"
        ),
    )
