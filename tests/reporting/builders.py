"""Realistic wave reports built by hand: progress records walk the real lifecycle table (illegal moves raise)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reporting import WaveReport
from shared.lifecycle import StepError, VmProgress, VmState
from shared.pipeline import EventType, Landing, MigrationEvent, VmResult, WaveSummary

S = VmState
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
REQUEST_ID = "wave-2026-01-finance"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"

PREPARATION: list[tuple[VmState, timedelta]] = [
    (S.PREFLIGHT, timedelta(minutes=2)),
    (S.PREPARING_NETWORK, timedelta(minutes=3)),
    (S.PREPARING_GUEST, timedelta(minutes=9)),
    (S.INSTALLING_AGENT, timedelta(minutes=7)),
    (S.REGISTERING_AGENT, timedelta(minutes=4)),
    (S.ENABLING_REPLICATION, timedelta(minutes=6)),
]
TEST_MIGRATION: list[tuple[VmState, timedelta]] = [
    (S.TEST_MIGRATING, timedelta(minutes=22)),
    (S.VALIDATING_TEST, timedelta(minutes=12)),
    (S.CLEANING_UP_TEST, timedelta(minutes=9)),
]
CUTOVER: list[tuple[VmState, timedelta]] = [
    (S.STOPPING_SOURCE, timedelta(minutes=4)),
    (S.MIGRATING, timedelta(minutes=26)),
    (S.COMMITTING, timedelta(minutes=5)),
    (S.COMPLETING, timedelta(minutes=2)),
]


@dataclass
class VmStory:
    """One VM walked through the lifecycle; ``result`` builds its :class:`VmResult`."""

    index: int
    name: str
    progress: VmProgress | None
    state: VmState
    started_at: datetime
    finished_at: datetime
    target_vm_name: str = ""
    error: StepError | None = None
    reasons: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()
    events: list[MigrationEvent] = field(default_factory=list)

    @property
    def instance_id(self) -> str:
        return f"i-0a{self.index:015x}"

    def result(self) -> VmResult:
        return VmResult(
            instance_id=self.instance_id,
            orchestration_id=f"{REQUEST_ID}-{self.instance_id}",
            name=self.name,
            state=self.state,
            target_vm_name=self.target_vm_name,
            error=self.error,
            reasons=self.reasons,
            rolled_back=self.rolled_back,
            started_at=self.started_at,
            finished_at=self.finished_at,
            landing=None if self.state is S.REJECTED else self.landing(),
        )

    def landing(self) -> Landing:
        """Where the VM lands, as the pipeline records it (``functions/workflows/vm.py`` ``Landing.of``)."""
        return Landing(
            subscription_id=SUBSCRIPTION,
            resource_group="rg-finance",
            region="westeurope",
            vm_name=self.target_vm_name or self.name,
            vm_size="Standard_D4s_v5" if self.index % 2 else "",
            network_id=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-prod",
            subnet="apps",
            availability="zone 1",
            disks=(f"disk-{self.index}-os: Premium_LRS", f"disk-{self.index}-data: StandardSSD_LRS"),
            source_ip=f"10.0.1.{10 + self.index % 200}",
        )


def _walk(progress: VmProgress, at: datetime, steps: list[tuple[VmState, timedelta]]) -> tuple[VmProgress, datetime]:
    for state, duration in steps:
        progress = progress.advance(state, at)
        at += duration
    return progress, at


def _rejected(index: int, name: str, progress: VmProgress, begin: datetime, *, started: bool) -> VmStory:
    reasons = (
        "UnsupportedOs: Amazon Linux 2 is not supported by Azure Site Recovery",
        "NotSsmManaged: the instance is not managed by SSM (no agent ping in 24 h)",
        "warning: root volume is gp3 at 95 % used",
    )
    if not started:
        return VmStory(index, name, None, S.REJECTED, begin, begin, reasons=reasons)
    at = begin + timedelta(minutes=1)
    progress = progress.advance(S.PREFLIGHT, at)
    at += timedelta(seconds=40)
    progress = progress.advance(S.REJECTED, at, reasons=reasons)
    return VmStory(index, name, progress, S.REJECTED, begin, at, reasons=reasons)


def story(
    index: int,
    outcome: str,
    name: str = "",
    *,
    offset: timedelta | None = None,
    replication: timedelta = timedelta(hours=14),
) -> VmStory:
    """A VM that ends as ``outcome``: completed, test_completed, failed_test, failed_agent, rejected,
    rejected_unstarted or cancelled."""
    name = name or f"fin-app-{index:02d}"
    begin = START + (offset if offset is not None else timedelta(minutes=3 * index))
    instance_id = f"i-0a{index:015x}"
    progress = VmProgress.start(REQUEST_ID, instance_id, begin, name=name)
    at = begin + timedelta(minutes=1)
    target = f"az-{name}"[:64]
    if outcome in {"rejected", "rejected_unstarted"}:
        return _rejected(index, name, progress, begin, started=outcome == "rejected")
    if outcome == "failed_agent":
        progress, at = _walk(progress, at, PREPARATION[:4])
        error = StepError(
            step=S.INSTALLING_AGENT, code="CommandFailed", message="Mobility agent installer exited with code 1603"
        )
        rolled = ("security group rule for the process server removed", "guest preparation reverted")
        progress = progress.fail(error, at, rolled_back=rolled)
        return VmStory(index, name, progress, S.FAILED, begin, at, error=error, rolled_back=rolled)
    progress, at = _walk(progress, at, PREPARATION)
    progress = progress.advance(S.INITIAL_REPLICATION, at, protected_item=f"pi-{instance_id}")
    if outcome == "cancelled":
        at += replication / 2
        rolled = ("replication disabled", "security group rule for the process server removed")
        progress = progress.advance(S.CANCELLED, at, rolled_back=rolled)
        return VmStory(index, name, progress, S.CANCELLED, begin, at, rolled_back=rolled)
    at += replication
    progress = progress.advance(S.REPLICATING, at, health="healthy")
    at += timedelta(hours=1)
    if outcome == "failed_test":
        progress = progress.advance(S.TEST_MIGRATING, at)
        at += timedelta(minutes=35)
        progress = progress.advance(S.CLEANING_UP_TEST, at)
        at += timedelta(minutes=8)
        error = StepError(
            step=S.TEST_MIGRATING,
            code="TestFailoverJobFailed",
            message="Test failover job 'tfo-7731' failed: the target subnet 'snet-test' has no free IP address",
        )
        rolled = ("test failover cleaned up (test VM az-test deleted)",)
        progress = progress.fail(error, at, rolled_back=rolled)
        return VmStory(index, name, progress, S.FAILED, begin, at, error=error, rolled_back=rolled)
    progress, at = _walk(progress, at, TEST_MIGRATION)
    if outcome == "test_completed":
        progress = progress.advance(S.COMPLETING, at)
        at += timedelta(minutes=1)
        rolled = ("test VM removed after the rehearsal",)
        progress = progress.advance(S.TEST_COMPLETED, at, rolled_back=rolled)
        return VmStory(index, name, progress, S.TEST_COMPLETED, begin, at, target_vm_name=target, rolled_back=rolled)
    assert outcome == "completed", outcome
    progress = progress.advance(S.AWAITING_APPROVAL, at)
    at += timedelta(hours=2, minutes=index)
    progress = progress.model_copy(update={"approved_by": "alice@contoso.com"})
    progress, at = _walk(progress, at, CUTOVER)
    progress = progress.advance(S.COMPLETED, at)
    return VmStory(index, name, progress, S.COMPLETED, begin, at, target_vm_name=target)


OUTCOMES_12 = [
    "completed",
    "completed",
    "completed",
    "completed",
    "completed",
    "failed_test",
    "failed_agent",
    "rejected",
    "rejected_unstarted",
    "cancelled",
    "test_completed",
    "test_completed",
]


def events_for(stories: list[VmStory]) -> list[MigrationEvent]:
    """Wave start/end, a state change per stage, and two health degradations."""
    events = [
        MigrationEvent(
            event_id="wave:start",
            type=EventType.WAVE_STARTED,
            request_id=REQUEST_ID,
            orchestration_id=REQUEST_ID,
            at=START,
        )
    ]
    for vm in stories:
        if vm.progress is None:
            continue
        for seq, (before, after) in enumerate(zip(vm.progress.stages, vm.progress.stages[1:], strict=False)):
            events.append(
                MigrationEvent(
                    event_id=f"{vm.instance_id}:{seq}",
                    type=EventType.VM_STATE_CHANGED,
                    request_id=REQUEST_ID,
                    orchestration_id=f"{REQUEST_ID}-{vm.instance_id}",
                    instance_id=vm.instance_id,
                    state=after.state.value,
                    previous_state=before.state.value,
                    at=after.at,
                )
            )
    degraded = [vm for vm in stories if vm.state is S.COMPLETED][:2]
    for level, vm in zip(("warning", "critical"), degraded, strict=True):
        events.append(
            MigrationEvent(
                event_id=f"{vm.instance_id}:health",
                type=EventType.VM_HEALTH_DEGRADED,
                request_id=REQUEST_ID,
                orchestration_id=f"{REQUEST_ID}-{vm.instance_id}",
                instance_id=vm.instance_id,
                state=level,
                previous_state="healthy",
                detail=f"RPO {1200 if level == 'warning' else 4000} s is above the {level} threshold",
                at=START + timedelta(hours=9),
                data={"rpo_seconds": 1200 if level == "warning" else 4000},
            )
        )
    end = max(vm.finished_at for vm in stories)
    events.append(
        MigrationEvent(
            event_id="wave:end",
            type=EventType.WAVE_COMPLETED,
            request_id=REQUEST_ID,
            orchestration_id=REQUEST_ID,
            at=end,
        )
    )
    return events


def build_report(
    stories: list[VmStory], *, environment: str = "test", title: str = "", request_environment: str = ""
) -> WaveReport:
    results = [vm.result() for vm in stories]
    counts = Counter(result.state.value for result in results)
    finished = max(vm.finished_at for vm in stories)
    progress = [vm.progress for vm in stories if vm.progress is not None]
    degraded = {
        vm.instance_id: level
        for vm, level in zip([v for v in stories if v.state is S.COMPLETED][:2], ("warning", "critical"), strict=False)
    }
    progress = [
        record.model_copy(
            update={
                "health": degraded[record.instance_id],
                "health_reasons": (f"RPO above the {degraded[record.instance_id]} threshold",),
            }
        )
        if record.instance_id in degraded
        else record
        for record in progress
    ]
    summary = WaveSummary(
        request_id=REQUEST_ID,
        environment=request_environment,
        counts=dict(counts),
        vms=results,
        started_at=START,
        finished_at=finished,
    )
    return WaveReport(
        summary=summary,
        progress=progress,
        events=events_for(stories),
        generated_at=finished + timedelta(minutes=1),
        environment=environment,
        clock="virtual",
        title=title,
    )


def twelve_vm_stories(special_name: str = "") -> list[VmStory]:
    stories = [story(index + 1, outcome) for index, outcome in enumerate(OUTCOMES_12)]
    if special_name:
        stories[2] = story(3, "completed", name=special_name)
    return stories


def twelve_vm_report(special_name: str = "") -> WaveReport:
    return build_report(twelve_vm_stories(special_name))


def big_report(count: int) -> WaveReport:
    outcomes = ["completed"] * 7 + ["failed_test", "rejected", "cancelled", "test_completed", "failed_agent"]
    stories = [
        story(
            index + 1,
            outcomes[index % len(outcomes)],
            offset=timedelta(seconds=20 * index),
            replication=timedelta(hours=8 + (index % 17)),
        )
        for index in range(count)
    ]
    return build_report(stories, environment="prod")
