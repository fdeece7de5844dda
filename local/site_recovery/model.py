"""The emulated vault's state: resources as the emulator holds them, ids, faults and the request log.

The emulator (:mod:`local.site_recovery.emulator`) is assembled from one mixin per resource family over
:class:`EmulatorCore`: fabrics and process servers (:mod:`.fabrics`), Azure Migrate's discovered machines
(:mod:`.migrate_machines`), replication (:mod:`.replication`), protected items (:mod:`.protected_items`) and jobs
with their operation status (:mod:`.jobs`). Shapes follow Microsoft's documents and the SDK's models, not our code.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from local.arm_limits import ArmRateLimiter
from local.clock import Clock, VirtualClock
from local.site_recovery.estate import (
    EmulatorEstate,
    FabricConfig,
    FaultKind,
    MachineBehaviour,
    Operation,
    RequestFault,
)

_NAMESPACE = uuid.UUID("6c0a3f57-3f7e-4d6b-9a51-2f4f1f0c9e21")
_ITEM_TYPE = "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers"
_NO_SCENARIO_TIME = "1753-01-01T01:01:01Z"
RCM = "InMageRcm"
#: Providers Site Recovery no longer accepts for new replication (retired by Microsoft on 30 Sep 2026).
RETIRED_PROVIDERS = {"InMageAzureV2": "the classic VMware/physical stack is retired; use InMageRcm"}

_FRIENDLY_JOB_NAMES = {
    "EnableDr": "Enable replication",
    "UpdateDr": "Update the virtual machine",
    "TestFailover": "Test failover",
    "TestFailoverCleanup": "Cleanup test failover",
    "UnplannedFailover": "Failover",
    "FailoverCommit": "Commit",
    "CancelFailover": "Cancel failover",
    "DisableDr": "Disable replication",
}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=65536)
def _guid(*parts: str) -> str:
    """A stable GUID for a name (cached: every listed item renders several)."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def frozen_copy(value: Any) -> Any:
    """A deep, read-only copy of a request body: what was sent stays what was sent."""
    if isinstance(value, dict):
        return MappingProxyType({k: frozen_copy(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(frozen_copy(v) for v in value)
    return copy.deepcopy(value)


def thawed(value: Any) -> Any:
    """A recorded body as plain JSON types (dicts and lists), e.g. to compare with a fixture."""
    if isinstance(value, MappingProxyType):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thawed(v) for v in value]
    return value


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
    path: str
    size_bytes: int
    is_os: bool


@dataclass
class _Machine:
    """A machine Azure Migrate discovered on the appliance's site; ``agent_at``: when its Mobility agent
    registered with the appliance (then it shows in the fabric's ``agentDetails``)."""

    name: str
    machine_name: str
    ip_address: str
    bios_id: str
    hostname: str
    os_type: str
    os_name: str
    fabric: FabricConfig
    disks: list[_Disk]
    discovered_at: datetime
    agent_at: datetime | None
    item_name: str
    agent_id: str
    behaviour: MachineBehaviour
    source_stopped_at: datetime | None = None
    stalls: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    def visible(self, now: datetime, discovery_seconds: float) -> bool:
        return now >= self.discovered_at

    def registered(self, now: datetime, discovery_seconds: float) -> bool:
        return self.agent_at is not None and now >= self.agent_at + timedelta(seconds=discovery_seconds)


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
    test_vm_name: str = ""  # a test failover's: TestFailoverJobDetails.protectedItemDetails[].testVmName

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


class EmulatorCore:
    """State, ids, faults and the request log every resource family uses."""

    def __init__(
        self,
        estate: EmulatorEstate | dict[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        arm_limits: ArmRateLimiter | None = None,
    ) -> None:
        if isinstance(estate, dict):
            estate = EmulatorEstate.model_validate(estate)
        self.estate = estate or EmulatorEstate()
        self.clock: Clock = clock or VirtualClock()
        #: ARM's subscription throttling in front of the vault (shared with the other emulators behind ARM).
        self.arm_limits = arm_limits or ArmRateLimiter(self.clock)
        self._lock = threading.RLock()
        self._machines: dict[str, _Machine] = {}
        self._items: dict[tuple[str, str, str], _Item] = {}
        self._jobs: dict[str, _Job] = {}
        self._operations: dict[str, str] = {}
        self._deleted: set[str] = set()  # replicationOperationStatus id -> job name
        self._unsettled: list[_Job] = []
        self._faults: list[RequestFault] = list(self.estate.faults)
        self._requests: list[RecordedRequest] = []
        self._job_counter = 0
        #: Azure VMs a failover created, by source machine name -> target VM name: a successful unplanned failover
        #: creates it, failoverCancel removes it, commit keeps it, and so does removing the protected item after
        #: commit (Microsoft: "Before commit a failover can be cancelled, which removes the failed-over VM").
        self._failed_over_vms: dict[str, str] = {}
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

    def _job_id(self, name: str) -> str:
        return f"{self.vault_id}/replicationJobs/{name}"

    def machine_id(self, machine: _Machine) -> str:
        return f"{self.physical_site_id(machine.fabric)}/machines/{machine.machine_name}"

    def _fabric_for(self, fabric_name: str | None) -> FabricConfig:
        for fabric in self.estate.fabrics:
            if fabric_name is None or fabric.name.lower() == fabric_name.lower():
                return fabric
        raise ValueError(f"no emulated fabric {fabric_name}")

    def _machine(self, name: str) -> _Machine:
        found = self._machines.get(name.lower())
        if found is None:
            for candidate in self._machines.values():
                if name.lower() in {candidate.item_name, candidate.machine_name.lower()}:
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


def _require(container: Any, key: str, kind: type, prefix: str = "") -> Any:
    if not isinstance(container, dict) or not isinstance(container.get(key), kind) or not container.get(key):
        raise EmulatorHttpError(400, "InvalidParameter", f"{prefix}{key} is required.")
    return container[key]
