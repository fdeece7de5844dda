"""A Site Recovery emulator that answers the ARM routes the gateway uses, like the service does.

The emulator is transport-agnostic: :meth:`SiteRecoveryEmulator.handle` takes a method, URL, headers and body and
returns a status, headers and body. :mod:`local.site_recovery.transport` plugs it into azure-core so the real
``SiteRecoveryManagementClient`` talks to it without sockets.

Time comes from one clock (a :class:`local.clock.VirtualClock` in tests and the demo). Nothing runs in the
background: jobs and replication are functions of the time, settled lazily whenever a request or a method looks
at them. Every public method is thread-safe.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from local.clock import Clock, VirtualClock
from local.site_recovery.estate import (
    EmulatorEstate,
    FabricConfig,
    FaultKind,
    HealthLevel,
    MachineBehaviour,
    Operation,
    RequestFault,
)
from shared.request import Provider

_NAMESPACE = uuid.UUID("6c0a3f57-3f7e-4d6b-9a51-2f4f1f0c9e21")
_ITEM_TYPE = "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers"
_NO_SCENARIO_TIME = "1753-01-01T01:01:01Z"

_FRIENDLY_JOB_NAMES = {
    "EnableDr": "Enable replication",
    "UpdateDr": "Update the virtual machine",
    "TestFailover": "Test failover",
    "TestFailoverCleanup": "Cleanup test failover",
    "UnplannedFailover": "Failover",
    "FailoverCommit": "Commit",
    "DisableDr": "Disable replication",
}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=65536)
def _guid(*parts: str) -> str:
    """A stable GUID for a name (cached: every listed item renders several)."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


class EmulatorHttpError(Exception):
    """An ARM error answer: status, error code and message, optional extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class EmulatorTimeoutError(Exception):
    """An injected transport timeout: the transport turns it into azure-core's timeout error."""


@dataclass(frozen=True)
class EmulatorResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator saw (the body parsed as JSON when it is JSON)."""

    method: str
    path: str
    query: dict[str, str]
    api_version: str | None
    body: Any
    operation: Operation
    status: int
    at: datetime


@dataclass
class _Disk:
    disk_id: str
    name: str
    size_bytes: int
    is_os: bool


@dataclass
class _Machine:
    name: str
    ip_address: str
    bios_id: str
    os_type: str
    fabric: FabricConfig
    disks: list[_Disk]
    registered_at: datetime
    item_name: str
    agent_id: str
    behaviour: MachineBehaviour
    source_stopped_at: datetime | None = None
    stalls: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    def visible(self, now: datetime, discovery_seconds: float) -> bool:
        return now >= self.registered_at + timedelta(seconds=discovery_seconds)


@dataclass
class _Job:
    name: str
    scenario: str
    operation: Operation
    item_key: tuple[str, str, str]
    target_object_name: str
    target_object_id: str
    created: datetime
    start: datetime
    end: datetime
    failure: tuple[str, str] | None = None
    settled: bool = False

    def state(self, now: datetime) -> str:
        if now < self.start:
            return "NotStarted"
        if now < self.end:
            return "InProgress"
        return "Failed" if self.failure else "Succeeded"


@dataclass
class _Item:
    name: str
    fabric: FabricConfig
    machine: _Machine
    policy_id: str
    protectable_item_id: str
    details: dict[str, Any]
    created: datetime
    enabled_at: datetime | None = None
    test_failover_state: str = "None"
    failover_state: str = "None"  # None | InProgress | FailedOver | Committing | Committed
    disabling: bool = False
    running_job: _Job | None = None
    scenario: tuple[str, str, datetime] | None = None
    replication_stopped_at: datetime | None = None
    failover_recovery_point_id: str | None = None
    last_test_failover_time: datetime | None = None
    last_failover_time: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.fabric.name.lower(), self.fabric.container_name.lower(), self.name.lower())


class SiteRecoveryEmulator:
    """The emulated vault: routes, jobs, replication state machine, faults and a request log."""

    def __init__(self, estate: EmulatorEstate | dict[str, Any] | None = None, *, clock: Clock | None = None) -> None:
        if isinstance(estate, dict):
            estate = EmulatorEstate.model_validate(estate)
        self.estate = estate or EmulatorEstate()
        self.clock: Clock = clock or VirtualClock()
        self._lock = threading.RLock()
        self._machines: dict[str, _Machine] = {}
        self._items: dict[tuple[str, str, str], _Item] = {}
        self._jobs: dict[str, _Job] = {}
        self._unsettled: list[_Job] = []
        self._faults: list[RequestFault] = list(self.estate.faults)
        self._requests: list[RecordedRequest] = []
        self._job_counter = 0
        if not self.estate.fabrics:
            raise ValueError("the emulated estate needs at least one fabric")
        names = [f.name.lower() for f in self.estate.fabrics]
        if len(set(names)) != len(names):
            raise ValueError(f"fabric names must be unique, got {names}")

    # ------------------------------------------------------------------ ids

    @property
    def base_url(self) -> str:
        return self.estate.base_url.rstrip("/")

    @property
    def vault_id(self) -> str:
        e = self.estate
        return (
            f"/Subscriptions/{e.subscription_id}/resourceGroups/{e.resource_group}"
            f"/providers/Microsoft.RecoveryServices/vaults/{e.vault_name}"
        )

    def fabric_id(self, fabric: FabricConfig) -> str:
        return f"{self.vault_id}/replicationFabrics/{fabric.name}"

    def container_id(self, fabric: FabricConfig) -> str:
        return f"{self.fabric_id(fabric)}/replicationProtectionContainers/{fabric.container_name}"

    def policy_id(self, fabric: FabricConfig) -> str:
        return f"{self.vault_id}/replicationPolicies/{fabric.policy_name}"

    def physical_site_id(self, fabric: FabricConfig) -> str:
        if fabric.physical_site_id:
            return fabric.physical_site_id
        e = self.estate
        return (
            f"/subscriptions/{e.subscription_id}/resourceGroups/{e.resource_group}"
            f"/providers/Microsoft.OffAzure/ServerSites/{fabric.name}-site"
        )

    def _item_id(self, fabric: FabricConfig, name: str) -> str:
        return f"{self.container_id(fabric)}/replicationProtectedItems/{name}"

    def _protectable_id(self, fabric: FabricConfig, name: str) -> str:
        return f"{self.container_id(fabric)}/replicationProtectableItems/{name}"

    def _job_id(self, name: str) -> str:
        return f"{self.vault_id}/replicationJobs/{name}"

    def _fabric_for(self, provider: Provider | str | None, fabric_name: str | None) -> FabricConfig:
        for fabric in self.estate.fabrics:
            if fabric_name is not None and fabric.name.lower() == fabric_name.lower():
                return fabric
            if fabric_name is None and (provider is None or fabric.provider == Provider(provider)):
                return fabric
        raise ValueError(f"no emulated fabric for provider={provider} fabric={fabric_name}")

    # ------------------------------------------------------- the AWS side's hooks

    def register_machine(
        self,
        name: str,
        ip_address: str,
        bios_id: str,
        os_type: str,
        *,
        disks: list[dict[str, Any]] | None = None,
        provider: Provider | str | None = None,
        fabric_name: str | None = None,
        behaviour: MachineBehaviour | dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> str:
        """The Mobility agent on ``name`` registered with the appliance; its protectable item appears after the
        discovery delay. ``disks``: ``[{"name": "/dev/xvda", "size_gb": 8, "is_os": True}, ...]`` (default: one
        OS disk). Returns the protectable item's name. Registering again updates the machine (idempotent)."""
        if os_type.lower() not in {"linux", "windows"}:
            raise ValueError(f"os_type must be linux or windows, got {os_type!r}")
        if not name or not bios_id:
            raise ValueError("a machine needs a name and a BIOS id")
        with self._lock:
            fabric = self._fabric_for(provider, fabric_name)
            disk_specs = disks or [{"name": "disk0", "size_gb": 30, "is_os": True}]
            # Physical machines are identified by their SMBIOS UUID: it names the protectable item.
            item_name = bios_id.lower()
            parsed = [
                _Disk(
                    disk_id=str(spec.get("disk_id") or _guid("disk", bios_id.lower(), str(spec["name"]))),
                    name=str(spec["name"]),
                    size_bytes=int(float(spec.get("size_gb", 30)) * 1024**3),
                    is_os=bool(spec.get("is_os", index == 0)),
                )
                for index, spec in enumerate(disk_specs)
            ]
            existing = self._machines.get(name.lower())
            if isinstance(behaviour, dict):
                behaviour = MachineBehaviour.model_validate(behaviour)
            self._machines[name.lower()] = _Machine(
                name=name,
                ip_address=ip_address,
                bios_id=bios_id,
                os_type=os_type.capitalize(),
                fabric=fabric,
                disks=parsed,
                registered_at=existing.registered_at if existing else (at or self.clock.now()),
                item_name=item_name,
                agent_id=existing.agent_id if existing else _guid("agent", bios_id.lower()),
                behaviour=behaviour or (existing.behaviour if existing else MachineBehaviour()),
                source_stopped_at=existing.source_stopped_at if existing else None,
                stalls=existing.stalls if existing else [],
            )
            return item_name

    def source_stopped(self, machine: str, at: datetime | None = None) -> None:
        """The source was shut down at ``at``: a final recovery point newer than ``at`` appears after the
        configured final-sync delay, then replication has nothing more to send."""
        with self._lock:
            self._machine(machine).source_stopped_at = at or self.clock.now()

    def source_started(self, machine: str) -> None:
        with self._lock:
            self._machine(machine).source_stopped_at = None

    def set_health(self, machine: str, level: HealthLevel | str, *, code: str = "", message: str = "") -> None:
        """Degrade (or restore) a machine's replication health; critical comes with health errors."""
        with self._lock:
            target = self._machine(machine)
            update: dict[str, Any] = {"health": HealthLevel(level)}
            if code:
                update["health_error_code"] = code
            if message:
                update["health_error_message"] = message
            target.behaviour = target.behaviour.model_copy(update=update)

    def stall_replication(self, machine: str, at: datetime | None = None) -> None:
        """No new recovery points from ``at``: the RPO grows until :meth:`resume_replication`."""
        with self._lock:
            target = self._machine(machine)
            if not target.stalls or target.stalls[-1][1] is not None:
                target.stalls.append((at or self.clock.now(), None))

    def resume_replication(self, machine: str) -> None:
        with self._lock:
            target = self._machine(machine)
            if target.stalls and target.stalls[-1][1] is None:
                target.stalls[-1] = (target.stalls[-1][0], self.clock.now())

    def set_behaviour(self, machine: str, behaviour: MachineBehaviour | dict[str, Any]) -> None:
        with self._lock:
            if isinstance(behaviour, dict):
                behaviour = MachineBehaviour.model_validate(behaviour)
            self._machine(machine).behaviour = behaviour

    def seed_protected_item(self, machine: str, *, enabled_at: datetime | None = None) -> str:
        """Put an already-replicating item in place for ``machine`` (as if enable succeeded at ``enabled_at``),
        for sweeps and benchmarks over many items. Returns the protected item's name."""
        with self._lock:
            target = self._machine(machine)
            fabric = target.fabric
            item = _Item(
                name=target.item_name,
                fabric=fabric,
                machine=target,
                policy_id=self.policy_id(fabric),
                protectable_item_id=self._protectable_id(fabric, target.item_name),
                details={"instanceType": fabric.provider.value},
                created=enabled_at or self.clock.now(),
                enabled_at=enabled_at or self.clock.now(),
            )
            self._items[item.key] = item
            return item.name

    def _machine(self, name: str) -> _Machine:
        found = self._machines.get(name.lower())
        if found is None:
            for candidate in self._machines.values():
                if candidate.item_name == name.lower():
                    return candidate
            raise KeyError(f"no machine {name!r} registered with the emulated Site Recovery")
        return found

    # ------------------------------------------------------- faults and the request log

    def inject(self, fault: RequestFault | dict[str, Any]) -> None:
        with self._lock:
            self._faults.append(fault if isinstance(fault, RequestFault) else RequestFault.model_validate(fault))

    def pending_faults(self) -> list[RequestFault]:
        """Injected faults not used up yet (a fault with ``times`` left, or one without a count)."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def count_requests(self, *, method: str | None = None, operation: Operation | None = None) -> int:
        with self._lock:
            return sum(
                1
                for r in self._requests
                if (method is None or r.method == method.upper()) and (operation is None or r.operation == operation)
            )

    def _take_fault(self, operation: Operation, machine: _Machine | None, kinds: set[FaultKind]) -> RequestFault | None:
        for index, fault in enumerate(self._faults):
            if fault.kind not in kinds or fault.operation not in ("*", operation):
                continue
            if fault.machine is not None and (
                machine is None or fault.machine.lower() not in {machine.name.lower(), machine.item_name}
            ):
                continue
            if fault.times is not None:
                remaining = fault.times - 1
                if remaining <= 0:
                    del self._faults[index]
                else:
                    self._faults[index] = fault.model_copy(update={"times": remaining})
            return fault
        return None

    # ------------------------------------------------------- jobs and time

    def _start_job(self, item: _Item, scenario: str, operation: Operation) -> _Job:
        now = self.clock.now()
        timings = self.estate.timings
        self._job_counter += 1
        name = _guid("job", item.name, scenario, str(self._job_counter))
        queue = timedelta(seconds=timings.job_queue_seconds)
        job = _Job(
            name=name,
            scenario=scenario,
            operation=operation,
            item_key=item.key,
            target_object_name=item.machine.name,
            target_object_id=item.name,
            created=now,
            start=now + queue,
            end=now + queue + timedelta(seconds=timings.job_seconds.get(scenario, 60.0)),
        )
        fault = self._take_fault(operation, item.machine, {FaultKind.JOB_FAILURE})
        if fault is not None:
            job.failure = (
                fault.error_code or "InternalError",
                fault.error_message or f"The {_FRIENDLY_JOB_NAMES.get(scenario, scenario)} job failed.",
            )
        self._jobs[name] = job
        self._unsettled.append(job)
        item.running_job = job
        item.scenario = (scenario, name, now)
        return job

    def _settle(self) -> None:
        """Apply the effects of every job that has ended by now, in end-time order."""
        now = self.clock.now()
        due = sorted((j for j in self._unsettled if j.end <= now), key=lambda j: j.end)
        if not due:
            return
        self._unsettled = [j for j in self._unsettled if j.end > now]
        for job in due:
            job.settled = True
            item = self._items.get(job.item_key)
            if item is None:
                continue
            if item.running_job is job:
                item.running_job = None
            self._apply(item, job)

    def _apply(self, item: _Item, job: _Job) -> None:
        ok = job.failure is None
        scenario = job.scenario
        keep_scenario = False
        if scenario == "EnableDr":
            if ok:
                item.enabled_at = job.end
            else:
                del self._items[item.key]
                return
        elif scenario == "TestFailover":
            item.test_failover_state = "WaitingForCompletion" if ok else "None"
            if ok:
                item.last_test_failover_time = job.end
                keep_scenario = True
        elif scenario == "TestFailoverCleanup":
            item.test_failover_state = "None" if ok else "WaitingForCompletion"
        elif scenario == "UnplannedFailover":
            item.failover_state = "FailedOver" if ok else "None"
            if ok:
                item.replication_stopped_at = job.end
                item.last_failover_time = job.end
                keep_scenario = True
        elif scenario == "FailoverCommit":
            item.failover_state = "Committed" if ok else "FailedOver"
        elif scenario == "DisableDr":
            if ok:
                del self._items[item.key]
                return
            item.disabling = False
        if not keep_scenario:
            item.scenario = None

    # ------------------------------------------------------- replication model

    def _ir_seconds(self, item: _Item) -> float:
        own = item.machine.behaviour.initial_replication_seconds
        return own if own is not None else self.estate.timings.initial_replication_seconds

    def _ir_percent(self, item: _Item, now: datetime) -> int:
        if item.enabled_at is None:
            return 0
        elapsed = (now - item.enabled_at).total_seconds()
        duration = self._ir_seconds(item)
        percent = 100 if duration <= 0 else min(100, int(elapsed / duration * 100))
        stuck = item.machine.behaviour.stuck_at_percent
        return min(percent, stuck) if stuck is not None else percent

    def _ir_done_at(self, item: _Item) -> datetime | None:
        if item.enabled_at is None or item.machine.behaviour.stuck_at_percent is not None:
            return None
        return item.enabled_at + timedelta(seconds=self._ir_seconds(item))

    def _stalled_at(self, machine: _Machine, when: datetime) -> bool:
        return any(start <= when and (end is None or when < end) for start, end in machine.stalls)

    def _recovery_points(
        self, item: _Item, now: datetime, *, newest_only: bool = False
    ) -> list[tuple[str, datetime, str]]:
        """(name, time, type) of the item's retained recovery points, oldest first."""
        first = self._ir_done_at(item)
        if first is None or first > now:
            return []
        timings = self.estate.timings
        keep = 1 if newest_only else timings.recovery_point_retention
        newest_first: list[tuple[str, datetime, str]] = []
        stopped = item.machine.source_stopped_at
        if stopped is not None and stopped >= first:
            final = stopped + timedelta(seconds=timings.final_sync_delay_seconds)
            if final <= now and final <= (item.replication_stopped_at or now):
                newest_first.append((_guid("rp-final", item.name, _iso(stopped)), final, "CrashConsistent"))
        interval = timedelta(seconds=timings.recovery_point_interval_seconds)
        end = min(t for t in (now, item.replication_stopped_at, stopped) if t is not None)
        index = int((end - first) / interval) if end >= first else -1
        while index >= 0 and len(newest_first) < keep:
            when = first + index * interval
            if not self._stalled_at(item.machine, when):
                kind = "AppConsistent" if index % 12 == 0 else "CrashConsistent"
                newest_first.append((_guid("rp", item.name, str(index)), when, kind))
            index -= 1
        return newest_first[::-1]

    def _replication_view(self, item: _Item, now: datetime) -> dict[str, Any]:
        """Derived replication facts: progress, RPO, health, allowed operations, states."""
        timings = self.estate.timings
        behaviour = item.machine.behaviour
        percent = self._ir_percent(item, now)
        points = self._recovery_points(item, now, newest_only=True)
        last_point = points[-1] if points else None
        delta = self._ir_done_at(item) is not None and percent == 100
        replicating = delta and item.replication_stopped_at is None
        rpo: int | None = None
        if replicating and last_point is not None:
            behind = int((now - last_point[1]).total_seconds())
            stalled = self._stalled_at(item.machine, now)
            rpo = max(timings.rpo_seconds, behind) if stalled else timings.rpo_seconds
        errors: list[dict[str, Any]] = []
        health = "Normal"
        if behaviour.health is not HealthLevel.NORMAL:
            health = behaviour.health.value
            errors.append(self._health_error(behaviour.health_error_code, behaviour.health_error_message, health, now))
        if rpo is not None and rpo > timings.rpo_warning_seconds:
            level = "Critical" if rpo > timings.rpo_critical_seconds else "Warning"
            health = "Critical" if "Critical" in (health, level) else "Warning"
            errors.append(
                self._health_error(
                    "RpoThresholdExceeded",
                    f"The recovery point objective is {rpo // 60} minutes, above the threshold.",
                    level,
                    now,
                )
            )
        ir_health = "InProgress"
        if item.enabled_at is not None and not delta and behaviour.stuck_at_percent is not None:
            expected = item.enabled_at + timedelta(seconds=self._ir_seconds(item))
            if now > expected:
                ir_health = "NoProgress"
                health = "Critical" if health == "Critical" else "Warning"
                errors.append(
                    self._health_error(
                        "InitialReplicationNoProgress",
                        f"Initial replication has made no progress for a while ({percent}% complete).",
                        "Warning",
                        now,
                    )
                )
        if delta:
            ir_health = "None"
        return {
            "percent": percent,
            "delta": delta,
            "rpo": rpo,
            "last_point": last_point,
            "health": health,
            "errors": errors,
            "ir_health": ir_health,
            "allowed": self._allowed_operations(item, delta),
        }

    def _health_error(self, code: str, message: str, level: str, now: datetime) -> dict[str, Any]:
        return {
            "errorCode": code,
            "errorMessage": message,
            "summaryMessage": message,
            "errorLevel": level,
            "errorSource": "ServerLevel",
            "errorType": "Replication",
            "errorCategory": "Replication",
            "possibleCauses": "",
            "recommendedAction": "Check the source machine and the replication appliance.",
            "creationTimeUtc": _iso(now),
            "innerHealthErrors": [],
        }

    def _allowed_operations(self, item: _Item, delta: bool) -> list[str]:
        if item.running_job is not None or item.enabled_at is None or item.disabling:
            return []
        if item.failover_state == "FailedOver":
            return ["Commit", "ChangePit"]
        if item.failover_state == "Committed":
            return ["DisableProtection"]
        if item.test_failover_state == "WaitingForCompletion":
            return ["TestFailoverCleanup"]
        if not delta:
            return ["DisableProtection"]
        return ["TestFailover", "UnplannedFailover", "DisableProtection"]

    def _protection_state(self, item: _Item, view: dict[str, Any]) -> tuple[str, str]:  # noqa: PLR0911
        job = item.running_job
        if item.disabling:
            return "DisablingProtection", "Disabling protection"
        if item.enabled_at is None:
            return "EnablingProtection", "Enabling protection"
        if job is not None and job.scenario == "UnplannedFailover":
            return "UnplannedFailoverInProgress", "Failover in progress"
        if item.failover_state == "FailedOver":
            return "FailedOver", "Failover completed"
        if job is not None and job.scenario == "FailoverCommit":
            return "FailoverCommitInProgress", "Committing failover"
        if item.failover_state == "Committed":
            return "FailoverCommitted", "Failover committed"
        if not view["delta"]:
            return "InitialReplicationInProgress", f"Initial replication in progress ({view['percent']}% complete)"
        if item.test_failover_state == "WaitingForCompletion":
            return "Protected", "Cleanup test failover pending"
        return "Protected", "Protected"

    # ------------------------------------------------------- resource bodies

    def _fabric_body(self, fabric: FabricConfig) -> dict[str, Any]:
        ps = fabric.process_server
        now = _iso(self.clock.now())
        if fabric.provider is Provider.INMAGE_RCM:
            custom: dict[str, Any] = {
                "instanceType": "InMageRcm",
                "physicalSiteId": self.physical_site_id(fabric),
                "serviceEndpoint": f"{self.base_url}/rcm",
                "processServers": [
                    {
                        "id": ps.id,
                        "name": ps.name,
                        "biosId": _guid("bios", ps.id),
                        "fqdn": f"{ps.name}.internal",
                        "ipAddresses": [ps.ip_address],
                        "version": "9.62.0.0",
                        "lastHeartbeatUtc": now,
                        "health": "Normal",
                        "healthErrors": [],
                        "protectedItemCount": sum(1 for i in self._items.values() if i.fabric is fabric),
                    }
                ],
                "dras": [{"id": _guid("dra", ps.id), "name": ps.name, "version": "5.1.0.0", "health": "Normal"}],
            }
        else:
            custom = {
                "instanceType": "VMware",
                "processServers": [
                    {
                        "id": ps.id,
                        "friendlyName": ps.name,
                        "ipAddress": ps.ip_address,
                        "osType": "Windows",
                        "agentVersion": "9.62.0.0",
                        "lastHeartbeat": now,
                        "health": "Normal",
                        "healthErrors": [],
                    }
                ],
                "masterTargetServers": [
                    {"id": fabric.master_target_id or ps.id, "name": ps.name, "ipAddress": ps.ip_address}
                ],
                "runAsAccounts": [
                    {"accountId": fabric.run_as_account.account_id, "accountName": fabric.run_as_account.account_name}
                ],
                "ipAddress": ps.ip_address,
                "hostName": ps.name,
                "lastHeartbeat": now,
            }
        return {
            "name": fabric.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics",
            "id": self.fabric_id(fabric),
            "properties": {
                "bcdrState": "Valid",
                "customDetails": custom,
                "encryptionDetails": {"kekState": "None"},
                "friendlyName": fabric.name,
                "health": "Normal",
                "healthErrorDetails": [],
                "internalIdentifier": _guid("fabric", fabric.name),
                "rolloverEncryptionDetails": {"kekState": "None"},
            },
        }

    def _container_body(self, fabric: FabricConfig) -> dict[str, Any]:
        return {
            "name": fabric.container_name,
            "type": _ITEM_TYPE.rsplit("/", 1)[0] + "/replicationProtectionContainers",
            "id": self.container_id(fabric),
            "properties": {
                "fabricFriendlyName": fabric.name,
                "fabricType": "InMageRcm" if fabric.provider is Provider.INMAGE_RCM else "VMware",
                "friendlyName": fabric.container_name,
                "pairingStatus": "Paired",
                "protectedItemCount": sum(1 for i in self._items.values() if i.fabric is fabric),
                "role": "Primary",
            },
        }

    def _mapping_body(self, fabric: FabricConfig) -> dict[str, Any]:
        return {
            "name": fabric.mapping_name,
            "type": f"{_ITEM_TYPE}/replicationProtectionContainerMappings",
            "id": f"{self.container_id(fabric)}/replicationProtectionContainerMappings/{fabric.mapping_name}",
            "properties": {
                "health": "Normal",
                "healthErrorDetails": [],
                "policyFriendlyName": fabric.policy_name,
                "policyId": self.policy_id(fabric),
                "sourceFabricFriendlyName": fabric.name,
                "sourceProtectionContainerFriendlyName": fabric.container_name,
                "state": "Paired",
                "targetFabricFriendlyName": "Microsoft Azure",
                "targetProtectionContainerFriendlyName": "Microsoft Azure",
                "targetProtectionContainerId": "Microsoft Azure",
            },
        }

    def _policy_body(self, fabric: FabricConfig) -> dict[str, Any]:
        if fabric.provider is Provider.INMAGE_RCM:
            details: dict[str, Any] = {
                "instanceType": "InMageRcm",
                "recoveryPointHistoryInMinutes": 4320,
                "crashConsistentFrequencyInMinutes": 5,
                "appConsistentFrequencyInMinutes": 60,
                "enableMultiVmSync": "True",
            }
        else:
            details = {
                "instanceType": "InMageAzureV2",
                "recoveryPointHistory": 4320,
                "recoveryPointThresholdInMinutes": 60,
                "crashConsistentFrequencyInMinutes": 5,
                "appConsistentFrequencyInMinutes": 60,
                "multiVmSyncStatus": "Enabled",
            }
        return {
            "name": fabric.policy_name,
            "type": "Microsoft.RecoveryServices/vaults/replicationPolicies",
            "id": self.policy_id(fabric),
            "properties": {"friendlyName": fabric.policy_name, "providerSpecificDetails": details},
        }

    def _protectable_body(self, machine: _Machine) -> dict[str, Any]:
        fabric = machine.fabric
        item = self._protected_item_of(machine)
        props: dict[str, Any] = {
            "customDetails": {
                "instanceType": "VMwareVirtualMachine",
                "agentGeneratedId": machine.agent_id,
                "agentInstalled": "true",
                "osType": machine.os_type,
                "agentVersion": "9.62.0.0",
                "ipAddress": machine.ip_address,
                "poweredOn": "false" if machine.source_stopped_at else "true",
                "vCenterInfrastructureId": "",
                "discoveryType": "PhysicalMachine",
                "diskDetails": [
                    {
                        "diskId": d.disk_id,
                        "diskName": d.name,
                        "diskSizeInMB": str(d.size_bytes // 1024**2),
                        "diskType": "Basic",
                        "diskConfiguration": "OS" if d.is_os else "Data",
                        "volumeList": [],
                    }
                    for d in machine.disks
                ],
                "validationErrors": [],
            },
            "friendlyName": machine.name,
            "protectionReadinessErrors": [],
            "protectionStatus": "Protected" if item else "Unprotected",
            "recoveryServicesProviderId": f"{self.fabric_id(fabric)}/replicationRecoveryServicesProviders/"
            + _guid("provider", fabric.name),
            "supportedReplicationProviders": [fabric.provider.value],
        }
        if item is not None:
            props["replicationProtectedItemId"] = self._item_id(fabric, item.name)
        return {
            "name": machine.item_name,
            "type": f"{_ITEM_TYPE}/replicationProtectableItems",
            "id": self._protectable_id(fabric, machine.item_name),
            "properties": props,
        }

    def _item_body(self, item: _Item) -> dict[str, Any]:
        now = self.clock.now()
        fabric = item.fabric
        view = self._replication_view(item, now)
        state, description = self._protection_state(item, view)
        tfo = item.test_failover_state
        running = item.running_job
        if running is not None and running.scenario == "TestFailover":
            tfo = "InProgress"
        elif running is not None and running.scenario == "TestFailoverCleanup":
            tfo = "CleaningUp"
        tfo_descriptions = {
            "None": "None",
            "InProgress": "Test failover in progress",
            "WaitingForCompletion": "Waiting for user input",
            "CleaningUp": "Cleaning up test failover",
        }
        scenario = item.scenario
        current = (
            {"scenarioName": scenario[0], "jobId": self._job_id(scenario[1]), "startTime": _iso(scenario[2])}
            if scenario
            else {"scenarioName": "None", "jobId": self._job_id("None"), "startTime": _NO_SCENARIO_TIME}
        )
        props: dict[str, Any] = {
            "activeLocation": "Recovery" if item.failover_state in ("FailedOver", "Committed") else "Primary",
            "allowedOperations": view["allowed"],
            "currentScenario": current,
            "friendlyName": item.machine.name,
            "policyFriendlyName": fabric.policy_name,
            "policyId": item.policy_id,
            "primaryFabricFriendlyName": fabric.name,
            "primaryFabricProvider": "InMageRcmFabric" if fabric.provider is Provider.INMAGE_RCM else "VMware",
            "primaryProtectionContainerFriendlyName": fabric.container_name,
            "protectableItemId": item.protectable_item_id,
            "protectedItemType": "PhysicalMachine",
            "protectionState": state,
            "protectionStateDescription": description,
            "providerSpecificDetails": self._provider_details(item, view, now),
            "recoveryContainerId": "Microsoft Azure",
            "recoveryFabricFriendlyName": "Microsoft Azure",
            "recoveryFabricId": "Microsoft Azure",
            "recoveryProtectionContainerFriendlyName": "Microsoft Azure",
            "recoveryServicesProviderId": f"{self.fabric_id(fabric)}/replicationRecoveryServicesProviders/"
            + _guid("provider", fabric.name),
            "replicationHealth": view["health"] if item.enabled_at is not None else "None",
            "healthErrors": view["errors"],
            "testFailoverState": tfo,
            "testFailoverStateDescription": tfo_descriptions.get(tfo, tfo),
        }
        if item.failover_recovery_point_id:
            props["failoverRecoveryPointId"] = item.failover_recovery_point_id
        if item.last_failover_time:
            props["lastSuccessfulFailoverTime"] = _iso(item.last_failover_time)
        if item.last_test_failover_time:
            props["lastSuccessfulTestFailoverTime"] = _iso(item.last_test_failover_time)
        return {
            "name": item.name,
            "type": f"{_ITEM_TYPE}/replicationProtectedItems",
            "id": self._item_id(fabric, item.name),
            "properties": props,
        }

    def _provider_details(self, item: _Item, view: dict[str, Any], now: datetime) -> dict[str, Any]:
        machine = item.machine
        fabric = item.fabric
        requested = item.details
        last_point = view["last_point"]
        point_time = _iso(last_point[1]) if last_point else None
        point_id = f"{self._item_id(fabric, item.name)}/recoveryPoints/{last_point[0]}" if last_point else None
        if fabric.provider is Provider.INMAGE_RCM:
            disk_inputs = {d.get("diskId"): d for d in requested.get("disksToInclude") or []}
            default = requested.get("disksDefault") or {}
            protected = []
            unprotected = []
            for disk in machine.disks:
                chosen = disk_inputs.get(disk.disk_id) or (default if default else None)
                if chosen is None:
                    unprotected.append({"diskId": disk.disk_id, "diskName": disk.name, "diskLunId": 0})
                    continue
                protected.append(
                    {
                        "diskId": disk.disk_id,
                        "diskName": disk.name,
                        "isOSDisk": str(disk.is_os),
                        "capacityInBytes": disk.size_bytes,
                        "logStorageAccountId": chosen.get("logStorageAccountId"),
                        "diskEncryptionSetId": chosen.get("diskEncryptionSetId"),
                        "diskType": chosen.get("diskType"),
                        "diskState": "Healthy",
                        "isInitialReplicationComplete": str(view["delta"]),
                        "dataPendingInLogDataStoreInMB": 0.0,
                        "dataPendingAtSourceAgentInMB": 0.0,
                    }
                )
            details: dict[str, Any] = {
                "instanceType": "InMageRcm",
                "internalIdentifier": _guid("internal", item.name),
                "fabricDiscoveryMachineId": requested.get("fabricDiscoveryMachineId"),
                "discoveryType": "PhysicalMachine",
                "processServerId": requested.get("processServerId"),
                "processServerName": fabric.process_server.name,
                "runAsAccountId": requested.get("runAsAccountId"),
                "osType": machine.os_type,
                "primaryNicIpAddress": machine.ip_address,
                "licenseType": requested.get("licenseType", "NotSpecified"),
                "targetVmName": requested.get("targetVmName", machine.name),
                "targetVmSize": requested.get("targetVmSize"),
                "targetResourceGroupId": requested.get("targetResourceGroupId"),
                "targetLocation": self.estate.location,
                "targetAvailabilitySetId": requested.get("targetAvailabilitySetId"),
                "targetAvailabilityZone": requested.get("targetAvailabilityZone"),
                "targetNetworkId": requested.get("targetNetworkId"),
                "testNetworkId": requested.get("testNetworkId"),
                "failoverRecoveryPointId": item.failover_recovery_point_id,
                "lastRecoveryPointReceived": point_time,
                "lastRecoveryPointId": point_id,
                "lastRpoInSeconds": view["rpo"],
                "lastRpoCalculatedTime": _iso(now) if view["rpo"] is not None else None,
                "initialReplicationProgressPercentage": view["percent"],
                "initialReplicationProgressHealth": view["ir_health"],
                "resyncRequired": "false",
                "protectedDisks": protected,
                "unprotectedDisks": unprotected,
                "vmNics": [],
                "targetVmTags": requested.get("targetVmTags") or [],
                "targetNicTags": requested.get("targetNicTags") or [],
                "targetManagedDiskTags": requested.get("targetManagedDiskTags") or [],
            }
        else:
            disks = requested.get("disksToInclude") or []
            by_id = {d.get("diskId"): d for d in disks}
            details = {
                "instanceType": "InMageAzureV2",
                "infrastructureVmId": machine.agent_id,
                "protectionStage": "Protected" if view["delta"] else "Resynchronization",
                "vmId": machine.agent_id,
                "vmProtectionState": "Protected" if view["delta"] else "InitialReplication",
                "vmProtectionStateDescription": "Protected" if view["delta"] else "Initial replication",
                "resyncProgressPercentage": view["percent"],
                "rpoInSeconds": view["rpo"],
                "ipAddress": machine.ip_address,
                "agentVersion": "9.62.0.0",
                "processServerId": requested.get("processServerId"),
                "processServerName": fabric.process_server.name,
                "masterTargetId": requested.get("masterTargetId"),
                "multiVmGroupName": requested.get("multiVmGroupName"),
                "osType": machine.os_type,
                "discoveryType": "Physical",
                "recoveryAzureVMName": requested.get("targetAzureVmName", machine.name),
                "recoveryAzureVMSize": requested.get("targetVmSize"),
                "recoveryAzureLogStorageAccountId": requested.get("logStorageAccountId"),
                "recoveryAzureResourceGroupId": requested.get("targetAzureV2ResourceGroupId"),
                "selectedRecoveryAzureNetworkId": requested.get("targetAzureNetworkId"),
                "selectedTfoAzureNetworkId": requested.get("testNetworkId"),
                "recoveryAvailabilitySetId": requested.get("targetAvailabilitySetId"),
                "targetAvailabilityZone": requested.get("targetAvailabilityZone"),
                "licenseType": requested.get("licenseType", "NotSpecified"),
                "useManagedDisks": "True",
                "lastRpoCalculatedTime": _iso(now) if view["rpo"] is not None else None,
                "lastUpdateReceivedTime": _iso(now),
                "lastRecoveryPointReceived": point_time,
                "protectedDisks": [
                    {
                        "diskId": d.disk_id,
                        "diskName": d.name,
                        "protectionStage": "Protected" if view["delta"] else "Resynchronization",
                        "rpoInSeconds": view["rpo"],
                        "resyncProgressPercentage": view["percent"],
                        "diskCapacityInBytes": d.size_bytes,
                        "progressHealth": view["ir_health"],
                    }
                    for d in machine.disks
                    if d.disk_id in by_id
                ],
                "protectedManagedDisks": [
                    {
                        "diskId": d.get("diskId"),
                        "replicaDiskType": d.get("diskType"),
                        "diskEncryptionSetId": d.get("diskEncryptionSetId") or requested.get("diskEncryptionSetId"),
                    }
                    for d in disks
                ],
                "targetVmTags": requested.get("targetVmTags") or {},
                "targetNicTags": requested.get("targetNicTags") or {},
                "targetManagedDiskTags": requested.get("targetManagedDiskTags") or {},
            }
        return details

    def _job_body(self, job: _Job) -> dict[str, Any]:
        now = self.clock.now()
        state = job.state(now)
        done = state in ("Succeeded", "Failed")
        errors = []
        if state == "Failed" and job.failure:
            errors.append(
                {
                    "serviceErrorDetails": {
                        "code": job.failure[0],
                        "message": job.failure[1],
                        "possibleCauses": "",
                        "recommendedAction": "Resolve the issue and retry the operation.",
                        "activityId": _guid("activity", job.name),
                    },
                    "errorLevel": "Error",
                    "creationTime": _iso(job.end),
                    "taskId": _guid("task", job.name),
                }
            )
        descriptions = {"NotStarted": "NotStarted", "InProgress": "InProgress", "Succeeded": "Completed"}
        return {
            "name": job.name,
            "id": self._job_id(job.name),
            "properties": {
                "activityId": _guid("activity", job.name),
                "allowedActions": [] if done else ["Cancel"],
                "customDetails": {
                    "instanceType": "AsrJobDetails",
                    "affectedObjectDetails": {"ProtectedItemName": job.target_object_name},
                },
                "endTime": _iso(job.end) if done else None,
                "errors": errors,
                "friendlyName": _FRIENDLY_JOB_NAMES.get(job.scenario, job.scenario),
                "scenarioName": job.scenario,
                "startTime": _iso(job.start if now >= job.start else job.created),
                "state": state,
                "stateDescription": descriptions.get(state, state),
                "targetInstanceType": "ProtectionEntity",
                "targetObjectId": job.target_object_id,
                "targetObjectName": job.target_object_name,
                "tasks": [],
            },
        }

    def _recovery_point_body(self, item: _Item, point: tuple[str, datetime, str]) -> dict[str, Any]:
        return {
            "name": point[0],
            "type": f"{_ITEM_TYPE}/replicationProtectedItems/recoveryPoints",
            "id": f"{self._item_id(item.fabric, item.name)}/recoveryPoints/{point[0]}",
            "properties": {
                "recoveryPointTime": _iso(point[1]),
                "recoveryPointType": point[2],
                "providerSpecificDetails": {"instanceType": item.fabric.provider.value, "isMultiVmSyncPoint": "False"},
            },
        }

    # ------------------------------------------------------- HTTP

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> EmulatorResponse:
        """Answer one HTTP request like the service would."""
        parts = urlsplit(url)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = body.decode("utf-8", "replace")
        with self._lock:
            self._settle()
            operation = Operation.UNKNOWN
            try:
                operation, route = self._route(method.upper(), path)
                status, extra, result = self._dispatch(operation, route, query, headers, payload)
            except EmulatorHttpError as error:
                status, extra = error.status, dict(error.headers)
                result = {"error": {"code": error.code, "message": error.message}}
            except EmulatorTimeoutError:
                self._record(method, path, query, payload, operation, status=0)
                raise
            self._record(method, path, query, payload, operation, status=status)
        out_headers = {"x-ms-request-id": str(uuid.uuid4()), **extra}
        data = b""
        if result is not None:
            data = json.dumps(result).encode()
            out_headers["Content-Type"] = "application/json; charset=utf-8"
        out_headers["Content-Length"] = str(len(data))
        return EmulatorResponse(status, out_headers, data)

    def _record(
        self, method: str, path: str, query: dict[str, str], payload: Any, operation: Operation, *, status: int
    ) -> None:
        self._requests.append(
            RecordedRequest(
                method=method.upper(),
                path=path,
                query=query,
                api_version=query.get("api-version"),
                body=payload,
                operation=operation,
                status=status,
                at=self.clock.now(),
            )
        )

    _VAULT = re.compile(
        r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.RecoveryServices"
        r"/vaults/(?P<vault>[^/]+)(?P<rest>/.*)?",
        re.IGNORECASE,
    )
    _ROUTES: list[tuple[str, re.Pattern[str], Operation]] = [
        (m, re.compile(p, re.IGNORECASE), o)
        for m, p, o in [
            ("GET", r"/replicationFabrics", Operation.LIST_FABRICS),
            ("GET", r"/replicationFabrics/(?P<fabric>[^/]+)", Operation.GET_FABRIC),
            (
                "GET",
                r"/replicationFabrics/(?P<fabric>[^/]+)/replicationProtectionContainers",
                Operation.LIST_CONTAINERS,
            ),
            ("GET", r"/replicationPolicies", Operation.LIST_POLICIES),
            ("GET", r"/replicationPolicies/(?P<policy>[^/]+)", Operation.GET_POLICY),
            ("GET", r"/replicationProtectedItems", Operation.LIST_VAULT_ITEMS),
            ("GET", r"/replicationJobs", Operation.LIST_JOBS),
            ("GET", r"/replicationJobs/(?P<job>[^/]+)", Operation.GET_JOB),
        ]
    ]
    _CONTAINER = re.compile(
        r"/replicationFabrics/(?P<fabric>[^/]+)/replicationProtectionContainers/(?P<container>[^/]+)(?P<rest>/.*)?",
        re.IGNORECASE,
    )
    _CONTAINER_ROUTES: list[tuple[str, re.Pattern[str], Operation]] = [
        (m, re.compile(p, re.IGNORECASE), o)
        for m, p, o in [
            ("GET", r"", Operation.GET_CONTAINER),
            ("GET", r"/replicationProtectionContainerMappings", Operation.LIST_MAPPINGS),
            ("GET", r"/replicationProtectableItems", Operation.LIST_PROTECTABLE_ITEMS),
            ("GET", r"/replicationProtectableItems/(?P<item>[^/]+)", Operation.GET_PROTECTABLE_ITEM),
            ("GET", r"/replicationProtectedItems", Operation.LIST_ITEMS),
            ("GET", r"/replicationProtectedItems/(?P<item>[^/]+)", Operation.GET_ITEM),
            ("PUT", r"/replicationProtectedItems/(?P<item>[^/]+)", Operation.ENABLE),
            ("PATCH", r"/replicationProtectedItems/(?P<item>[^/]+)", Operation.UPDATE),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/testFailover", Operation.TEST_FAILOVER),
            (
                "POST",
                r"/replicationProtectedItems/(?P<item>[^/]+)/testFailoverCleanup",
                Operation.TEST_FAILOVER_CLEANUP,
            ),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/unplannedFailover", Operation.FAILOVER),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/failoverCommit", Operation.COMMIT),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/remove", Operation.REMOVE),
            ("GET", r"/replicationProtectedItems/(?P<item>[^/]+)/recoveryPoints", Operation.RECOVERY_POINTS),
            (
                "GET",
                r"/replicationProtectedItems/(?P<item>[^/]+)/operationresults/(?P<job>[^/]+)",
                Operation.OPERATION_RESULT,
            ),
        ]
    ]

    def _route(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        match = self._VAULT.fullmatch(path)
        if match is None:
            raise EmulatorHttpError(404, "NotFound", f"No route for {method} {path}")
        e = self.estate
        for key, expected, label in (
            ("sub", e.subscription_id, "subscription"),
            ("rg", e.resource_group, "resource group"),
            ("vault", e.vault_name, "vault"),
        ):
            if match[key].lower() != expected.lower():
                raise EmulatorHttpError(
                    404, "ResourceNotFound", f"The {label} '{match[key]}' was not found (Recovery Services vault)."
                )
        rest = match["rest"] or ""
        container = self._CONTAINER.fullmatch(rest)
        if container is not None:
            inner = container["rest"] or ""
            for route_method, pattern, operation in self._CONTAINER_ROUTES:
                found = pattern.fullmatch(inner)
                if found and route_method == method:
                    return operation, {
                        "fabric": container["fabric"],
                        "container": container["container"],
                        **found.groupdict(),
                    }
        else:
            for route_method, pattern, operation in self._ROUTES:
                found = pattern.fullmatch(rest)
                if found and route_method == method:
                    return operation, found.groupdict()
        raise EmulatorHttpError(404, "NotFound", f"No route for {method} {path}")

    def _machine_of_request(self, route: dict[str, str], payload: Any) -> _Machine | None:
        """The machine a request is about, so faults can target one VM: the protected or protectable item named in
        the route (or its job's), or the protectable item an enable body names (``properties.protectableItemId``)."""
        names = {route["item"].lower()} if "item" in route else set()
        job = self._jobs.get(route.get("job", ""))
        if job is not None:
            names.add(job.item_key[2])
        for item in self._items.values():
            if item.name.lower() in names:
                return item.machine
        if isinstance(payload, dict):
            protectable = str((payload.get("properties") or {}).get("protectableItemId") or "")
            names.add(protectable.rsplit("/", 1)[-1].lower())
        return next((m for m in self._machines.values() if m.item_name in names), None)

    def _check_request(
        self,
        operation: Operation,
        route: dict[str, str],
        query: dict[str, str],
        headers: dict[str, str],
        payload: Any = None,
    ) -> None:
        if self.estate.require_authorization:
            auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
            if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
                raise EmulatorHttpError(401, "AuthenticationFailed", "Authentication failed: no bearer token.")
        version = query.get("api-version")
        if version != self.estate.api_version:
            raise EmulatorHttpError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported version is '{self.estate.api_version}'.",
            )
        machine = self._machine_of_request(route, payload)
        fault = self._take_fault(
            operation,
            machine,
            {
                FaultKind.THROTTLE,
                FaultKind.THROTTLE_NO_RETRY_AFTER,
                FaultKind.UNAVAILABLE,
                FaultKind.CONFLICT,
                FaultKind.TIMEOUT,
            },
        )
        if fault is None:
            return
        if fault.kind is FaultKind.TIMEOUT:
            raise EmulatorTimeoutError(f"injected timeout on {operation.value}")
        if fault.kind is FaultKind.THROTTLE:
            raise EmulatorHttpError(
                429,
                fault.error_code or "TooManyRequests",
                fault.error_message or "The request was throttled.",
                {"Retry-After": str(fault.retry_after_seconds)},
            )
        if fault.kind is FaultKind.THROTTLE_NO_RETRY_AFTER:
            raise EmulatorHttpError(
                429, fault.error_code or "TooManyRequests", fault.error_message or "The request was throttled."
            )
        if fault.kind is FaultKind.UNAVAILABLE:
            raise EmulatorHttpError(
                503, fault.error_code or "ServiceUnavailable", fault.error_message or "The service is unavailable."
            )
        raise EmulatorHttpError(
            409,
            fault.error_code or "OperationInProgress",
            fault.error_message or "Another operation is in progress on the protected item.",
        )

    def _dispatch(  # noqa: PLR0911, PLR0912 - one branch per route
        self,
        operation: Operation,
        route: dict[str, str],
        query: dict[str, str],
        headers: dict[str, str],
        payload: Any,
    ) -> tuple[int, dict[str, str], Any]:
        self._check_request(operation, route, query, headers, payload)
        if operation is Operation.LIST_FABRICS:
            return 200, {}, {"value": [self._fabric_body(f) for f in self.estate.fabrics]}
        if operation is Operation.GET_FABRIC:
            return 200, {}, self._fabric_body(self._find_fabric(route["fabric"]))
        if operation is Operation.LIST_CONTAINERS:
            return 200, {}, {"value": [self._container_body(self._find_fabric(route["fabric"]))]}
        if operation is Operation.LIST_POLICIES:
            return 200, {}, {"value": [self._policy_body(f) for f in self.estate.fabrics]}
        if operation is Operation.GET_POLICY:
            for fabric in self.estate.fabrics:
                if fabric.policy_name.lower() == route["policy"].lower():
                    return 200, {}, self._policy_body(fabric)
            raise EmulatorHttpError(404, "PolicyNotFound", f"The replication policy '{route['policy']}' was not found.")
        if operation is Operation.LIST_VAULT_ITEMS:
            return 200, {}, self._page(list(self._items.values()), query, "skipToken", "/replicationProtectedItems")
        if operation is Operation.GET_JOB:
            return 200, {}, self._job_body(self._find_job(route["job"]))
        if operation is Operation.LIST_JOBS:
            return 200, {}, {"value": [self._job_body(j) for j in self._jobs.values()]}
        fabric = self._find_container(route["fabric"], route["container"])
        container_path = self.container_id(fabric).removeprefix(self.vault_id)
        if operation is Operation.GET_CONTAINER:
            return 200, {}, self._container_body(fabric)
        if operation is Operation.LIST_MAPPINGS:
            return 200, {}, {"value": [self._mapping_body(fabric)]}
        if operation is Operation.LIST_PROTECTABLE_ITEMS:
            machines = self._visible_machines(fabric)
            wanted = _protection_state_filter(query.get("$filter"))
            if wanted is not None:
                machines = [m for m in machines if (self._protected_item_of(m) is not None) == (wanted == "protected")]
            take = query.get("$take")
            size = int(take) if take and take.isdigit() and int(take) > 0 else None
            path = f"{container_path}/replicationProtectableItems"
            keep = {"$filter": query["$filter"]} if query.get("$filter") else {}
            return 200, {}, self._page(machines, query, "$skipToken", path, size=size, keep=keep)
        if operation is Operation.GET_PROTECTABLE_ITEM:
            for machine in self._visible_machines(fabric):
                if machine.item_name == route["item"].lower():
                    return 200, {}, self._protectable_body(machine)
            raise EmulatorHttpError(
                404, "ProtectableItemNotFound", f"The protectable item '{route['item']}' was not found."
            )
        if operation is Operation.LIST_ITEMS:
            items = [i for i in self._items.values() if i.fabric is fabric]
            return 200, {}, self._page(items, query, "skipToken", f"{container_path}/replicationProtectedItems")
        if operation is Operation.ENABLE:
            return self._enable(fabric, route["item"], payload)
        item = self._find_item(fabric, route["item"])
        if operation is Operation.GET_ITEM:
            return 200, {}, self._item_body(item)
        if operation is Operation.RECOVERY_POINTS:
            points = self._recovery_points(item, self.clock.now())
            return 200, {}, {"value": [self._recovery_point_body(item, p) for p in reversed(points)]}
        if operation is Operation.OPERATION_RESULT:
            return self._operation_result(item, route["job"])
        return self._action(item, operation, payload)

    def _page(
        self,
        entries: Sequence[_Item | _Machine],
        query: dict[str, str],
        token_name: str,
        path: str,
        *,
        size: int | None = None,
        keep: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        size = size or self.estate.page_size
        token = query.get(token_name) or "0"
        if not token.isdigit():
            raise EmulatorHttpError(400, "InvalidSkipToken", f"The {token_name} '{token}' is not valid.")
        start = int(token)
        page: dict[str, Any] = {"value": [self._render(entry) for entry in entries[start : start + size]]}
        if start + size < len(entries):
            params = {"api-version": self.estate.api_version, **(keep or {}), token_name: str(start + size)}
            if size != self.estate.page_size:
                params["$take"] = str(size)
            page["nextLink"] = f"{self.base_url}{self.vault_id}{path}?{urlencode(params, quote_via=quote)}"
        return page

    def _render(self, entry: _Item | _Machine) -> dict[str, Any]:
        """The JSON of one listed entry: only the page being returned is rendered."""
        return self._item_body(entry) if isinstance(entry, _Item) else self._protectable_body(entry)

    def _protected_item_of(self, machine: _Machine) -> _Item | None:
        fabric = machine.fabric
        return self._items.get((fabric.name.lower(), fabric.container_name.lower(), machine.item_name))

    def _visible_machines(self, fabric: FabricConfig) -> list[_Machine]:
        now = self.clock.now()
        seconds = self.estate.timings.discovery_seconds
        return [m for m in self._machines.values() if m.fabric is fabric and m.visible(now, seconds)]

    def _find_fabric(self, name: str) -> FabricConfig:
        for fabric in self.estate.fabrics:
            if fabric.name.lower() == name.lower():
                return fabric
        raise EmulatorHttpError(404, "FabricNotFound", f"The fabric '{name}' was not found.")

    def _find_container(self, fabric_name: str, container_name: str) -> FabricConfig:
        fabric = self._find_fabric(fabric_name)
        if fabric.container_name.lower() != container_name.lower():
            raise EmulatorHttpError(
                404, "ProtectionContainerNotFound", f"The protection container '{container_name}' was not found."
            )
        return fabric

    def _find_item(self, fabric: FabricConfig, name: str) -> _Item:
        item = self._items.get((fabric.name.lower(), fabric.container_name.lower(), name.lower()))
        if item is None:
            raise EmulatorHttpError(
                404, "ReplicationProtectedItemNotFound", f"The replication protected item '{name}' was not found."
            )
        return item

    def _find_job(self, name: str) -> _Job:
        job = self._jobs.get(name.lower())
        if job is None:
            raise EmulatorHttpError(404, "JobNotFound", f"The job '{name}' was not found.")
        return job

    # ------------------------------------------------------- actions

    def _accepted(self, item: _Item, job: _Job) -> tuple[int, dict[str, str], Any]:
        version = self.estate.api_version
        return (
            202,
            {
                "Azure-AsyncOperation": f"{self.base_url}{self._job_id(job.name)}?api-version={version}",
                "Location": f"{self.base_url}{self._item_id(item.fabric, item.name)}/operationresults/{job.name}"
                f"?api-version={version}",
                "Retry-After": str(self.estate.timings.retry_after_seconds),
            },
            None,
        )

    def _busy(self, item: _Item) -> None:
        if item.running_job is not None:
            raise EmulatorHttpError(
                409,
                "OperationInProgress",
                f"Another operation ({_FRIENDLY_JOB_NAMES.get(item.running_job.scenario)}, job "
                f"{item.running_job.name}) is in progress on the protected item '{item.machine.name}'.",
            )

    def _enable(self, fabric: FabricConfig, name: str, payload: Any) -> tuple[int, dict[str, str], Any]:
        existing = self._items.get((fabric.name.lower(), fabric.container_name.lower(), name.lower()))
        if existing is not None:
            self._busy(existing)
            raise EmulatorHttpError(
                409, "ReplicationProtectedItemAlreadyExists", f"The item '{name}' is already protected."
            )
        props = _require(payload, "properties", dict)
        policy_id = _require(props, "policyId", str, "properties.")
        if policy_id.lower() != self.policy_id(fabric).lower():
            raise EmulatorHttpError(
                400, "InvalidPolicyId", f"properties.policyId '{policy_id}' is not the container's mapped policy."
            )
        protectable_id = _require(props, "protectableItemId", str, "properties.")
        machine = next(
            (m for m in self._visible_machines(fabric) if protectable_id.lower().endswith("/" + m.item_name)),
            None,
        )
        if machine is None:
            raise EmulatorHttpError(
                404, "ProtectableItemNotFound", f"properties.protectableItemId '{protectable_id}' was not found."
            )
        details = _require(props, "providerSpecificDetails", dict, "properties.")
        _validate_enable_details(details, fabric, machine)
        item = _Item(
            name=name,
            fabric=fabric,
            machine=machine,
            policy_id=self.policy_id(fabric),
            protectable_item_id=self._protectable_id(fabric, machine.item_name),
            details=details,
            created=self.clock.now(),
        )
        self._items[item.key] = item
        return self._accepted(item, self._start_job(item, "EnableDr", Operation.ENABLE))

    def _action(self, item: _Item, operation: Operation, payload: Any) -> tuple[int, dict[str, str], Any]:
        self._busy(item)
        allowed = self._replication_view(item, self.clock.now())["allowed"]
        props = payload.get("properties", {}) if isinstance(payload, dict) else {}
        needs = {
            Operation.TEST_FAILOVER: ("TestFailover", "TestFailover"),
            Operation.TEST_FAILOVER_CLEANUP: ("TestFailoverCleanup", "TestFailoverCleanup"),
            Operation.FAILOVER: ("UnplannedFailover", "UnplannedFailover"),
            Operation.COMMIT: ("Commit", "FailoverCommit"),
            Operation.REMOVE: ("DisableProtection", "DisableDr"),
        }
        if operation is Operation.UPDATE:
            if item.enabled_at is None:
                raise EmulatorHttpError(400, "OperationNotAllowed", "The item is still being enabled.")
            rcm = item.fabric.provider is Provider.INMAGE_RCM
            name_key = "targetVmName" if rcm else "targetAzureVmName"
            network_key = "targetNetworkId" if rcm else "targetAzureNetworkId"
            for source, target in (
                ("recoveryAzureVMName", name_key),
                ("recoveryAzureVMSize", "targetVmSize"),
                ("selectedRecoveryAzureNetworkId", network_key),
                ("licenseType", "licenseType"),
            ):
                if props.get(source):
                    item.details[target] = props[source]
            return self._accepted(item, self._start_job(item, "UpdateDr", operation))
        operation_name, scenario = needs[operation]
        if operation_name not in allowed:
            raise EmulatorHttpError(
                400,
                "OperationNotAllowed",
                f"{operation_name} is not allowed on '{item.machine.name}' now "
                f"(allowed: {', '.join(allowed) or 'none'}).",
            )
        if operation is Operation.TEST_FAILOVER:
            if props.get("failoverDirection") != "PrimaryToRecovery" or not props.get("networkId"):
                raise EmulatorHttpError(
                    400,
                    "InvalidParameter",
                    "properties.failoverDirection must be PrimaryToRecovery and properties.networkId the test network.",
                )
            item.details["testNetworkId"] = props["networkId"]
            item.failover_recovery_point_id = self._chosen_point(item, props)
        elif operation is Operation.FAILOVER:
            if props.get("failoverDirection") != "PrimaryToRecovery":
                raise EmulatorHttpError(
                    400, "InvalidParameter", "properties.failoverDirection must be PrimaryToRecovery."
                )
            item.failover_recovery_point_id = self._chosen_point(item, props)
            item.failover_state = "InProgress"
        elif operation is Operation.COMMIT:
            item.failover_state = "Committing"
        elif operation is Operation.REMOVE:
            reason = props.get("disableProtectionReason")
            if reason not in (None, "NotSpecified", "MigrationComplete"):
                raise EmulatorHttpError(
                    400, "InvalidParameter", f"properties.disableProtectionReason '{reason}' is not valid."
                )
            item.disabling = True
        return self._accepted(item, self._start_job(item, scenario, operation))

    def _chosen_point(self, item: _Item, props: dict[str, Any]) -> str | None:
        provider = props.get("providerSpecificDetails") or {}
        if provider and provider.get("instanceType") != item.fabric.provider.value:
            raise EmulatorHttpError(
                400,
                "InvalidProviderSpecificInput",
                f"providerSpecificDetails.instanceType must be {item.fabric.provider.value}.",
            )
        chosen = provider.get("recoveryPointId")
        points = self._recovery_points(item, self.clock.now())
        if chosen:
            if not any(chosen.lower().endswith("/" + p[0]) for p in points):
                raise EmulatorHttpError(404, "RecoveryPointNotFound", f"The recovery point '{chosen}' was not found.")
            return str(chosen)
        if not points:
            return None
        return f"{self._item_id(item.fabric, item.name)}/recoveryPoints/{points[-1][0]}"

    def _operation_result(self, item: _Item, job_name: str) -> tuple[int, dict[str, str], Any]:
        job = self._find_job(job_name)
        state = job.state(self.clock.now())
        if state in ("NotStarted", "InProgress"):
            location = f"{self.base_url}{self._item_id(item.fabric, item.name)}/operationresults/{job.name}"
            return (
                202,
                {
                    "Location": f"{location}?api-version={self.estate.api_version}",
                    "Retry-After": str(self.estate.timings.retry_after_seconds),
                },
                None,
            )
        if state == "Failed" and job.failure:
            raise EmulatorHttpError(400, job.failure[0], job.failure[1])
        return 200, {}, self._item_body(item)


def _require(container: Any, key: str, kind: type, prefix: str = "") -> Any:
    if not isinstance(container, dict) or not isinstance(container.get(key), kind) or not container.get(key):
        raise EmulatorHttpError(400, "InvalidParameter", f"{prefix}{key} is required.")
    return container[key]


def _validate_enable_details(details: dict[str, Any], fabric: FabricConfig, machine: _Machine) -> None:
    prefix = "properties.providerSpecificDetails."
    instance = details.get("instanceType")
    if instance != fabric.provider.value:
        raise EmulatorHttpError(
            400,
            "InvalidProviderSpecificInput",
            f"{prefix}instanceType '{instance}' does not match the fabric's provider {fabric.provider.value}.",
        )
    if fabric.provider is Provider.INMAGE_RCM:
        _validate_rcm(details, prefix)
    else:
        _validate_azure_v2(details, prefix)
    if details.get("processServerId", "").lower() != fabric.process_server.id.lower():
        raise EmulatorHttpError(
            400, "InvalidParameter", f"{prefix}processServerId '{details.get('processServerId')}' is not registered."
        )
    known = {d.disk_id for d in machine.disks}
    for index, disk in enumerate(details.get("disksToInclude") or []):
        if disk.get("diskId") not in known:
            raise EmulatorHttpError(
                400,
                "InvalidParameter",
                f"{prefix}disksToInclude[{index}].diskId '{disk.get('diskId')}' is not a disk of {machine.name}.",
            )
    if details.get("targetAvailabilityZone") and details.get("targetAvailabilitySetId"):
        raise EmulatorHttpError(
            400, "InvalidParameter", f"{prefix}targetAvailabilityZone and targetAvailabilitySetId exclude each other."
        )


def _validate_rcm(details: dict[str, Any], prefix: str) -> None:
    for key in ("fabricDiscoveryMachineId", "targetResourceGroupId", "processServerId"):
        _require(details, key, str, prefix)
    if not details.get("disksToInclude") and not details.get("disksDefault"):
        raise EmulatorHttpError(400, "InvalidParameter", f"{prefix}disksToInclude or disksDefault is required.")
    for index, disk in enumerate(details.get("disksToInclude") or []):
        for key in ("diskId", "logStorageAccountId", "diskType"):
            _require(disk, key, str, f"{prefix}disksToInclude[{index}].")


def _validate_azure_v2(details: dict[str, Any], prefix: str) -> None:
    for key in ("processServerId", "targetAzureV2ResourceGroupId", "logStorageAccountId"):
        _require(details, key, str, prefix)
    for index, disk in enumerate(details.get("disksToInclude") or []):
        _require(disk, "diskId", str, f"{prefix}disksToInclude[{index}].")


def _protection_state_filter(value: str | None) -> str | None:
    """``$filter=state eq 'Unprotected'`` (or Protected / All) on protectable items; None means every item."""
    if not value:
        return None
    match = re.fullmatch(r"\s*state\s+eq\s+'(\w+)'\s*", value)
    state = match.group(1).lower() if match else ""
    if state not in {"all", "protected", "unprotected"}:
        raise EmulatorHttpError(400, "InvalidFilter", f"The $filter '{value}' is not supported on protectable items.")
    return None if state == "all" else state
