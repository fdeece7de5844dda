"""Replication protected items: enable (PUT), update (PATCH), the actions (test failover and its clean-up,
unplanned failover, failover cancel, commit, remove) and the item's body with ``InMageRcmReplicationDetails``.

The emulator refuses what the service refuses (ARM error shapes): missing required fields (the guide's table),
a retired provider, a non-empty ``protectableItemId`` together with a ``fabricDiscoveryMachineId``, a machine not
discovered on the fabric's site or whose agent has not registered, a process server that is not the fabric's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from local.site_recovery.estate import FabricConfig, Operation
from local.site_recovery.jobs import JobsMixin
from local.site_recovery.model import (
    _FRIENDLY_JOB_NAMES,
    _ITEM_TYPE,
    _NO_SCENARIO_TIME,
    RCM,
    RETIRED_PROVIDERS,
    EmulatorHttpError,
    _guid,
    _iso,
    _Item,
    _Machine,
    _require,
)
from local.site_recovery.replication import ReplicationMixin

_PREFIX = "properties.providerSpecificDetails."
#: The guide's "InMageRcm enable protection input parameters" marked required.
ENABLE_REQUIRED = ("fabricDiscoveryMachineId", "processServerId", "targetResourceGroupId")
DISK_REQUIRED = ("diskId", "diskType", "logStorageAccountId")
DISKS_DEFAULT_REQUIRED = ("diskType", "logStorageAccountId")


class ProtectedItemsMixin(JobsMixin, ReplicationMixin):
    """Protected items: bodies and actions."""

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
            "primaryFabricProvider": "InMageRcmFabric",
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
        # a healthy item in differential sync reports a resync progress of 0 (as live items do)
        details["resyncProgressPercentage"] = 0 if view["delta"] else None
        details["resyncState"] = "None"
        details["linuxLicenseType"] = requested.get("linuxLicenseType", "NotSpecified")
        details["sqlServerLicenseType"] = requested.get("sqlServerLicenseType", "NotSpecified")
        details["osName"] = machine.os_name
        return details

    def _find_item(self, fabric: FabricConfig, name: str) -> _Item:
        item = self._items.get((fabric.name.lower(), fabric.container_name.lower(), name.lower()))
        if item is None:
            raise EmulatorHttpError(
                404, "ReplicationProtectedItemNotFound", f"The replication protected item '{name}' was not found."
            )
        return item

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
        if policy_id.lower() != self.policy_id(fabric).lower() or not fabric.policy_exists:
            raise EmulatorHttpError(
                400, "InvalidPolicyId", f"properties.policyId '{policy_id}' is not the container's mapped policy."
            )
        details = _require(props, "providerSpecificDetails", dict, "properties.")
        instance = details.get("instanceType")
        if instance in RETIRED_PROVIDERS:
            raise EmulatorHttpError(
                400, "ProviderRetired", f"{_PREFIX}instanceType '{instance}': {RETIRED_PROVIDERS[instance]}."
            )
        if instance != RCM:
            raise EmulatorHttpError(
                400, "InvalidProviderSpecificInput", f"{_PREFIX}instanceType '{instance}' is not valid for this fabric."
            )
        if props.get("protectableItemId"):
            raise EmulatorHttpError(
                400,
                "InvalidParameter",
                "properties.protectableItemId must be empty when providerSpecificDetails.fabricDiscoveryMachineId "
                "names the discovered machine.",
            )
        if "protectableItemId" not in props:
            raise EmulatorHttpError(400, "InvalidParameter", "properties.protectableItemId is required (empty).")
        machine = self._validate_enable_details(details, fabric)
        self._check_capacity(fabric)
        item = _Item(
            name=name,
            fabric=fabric,
            machine=machine,
            policy_id=self.policy_id(fabric),
            protectable_item_id="",
            details=_plain(details),
            created=self.clock.now(),
        )
        self._items[item.key] = item
        return self._accepted(item, self._start_job(item, "EnableDr", Operation.ENABLE))

    def _check_capacity(self, fabric: FabricConfig) -> None:
        """One appliance's process server protects at most ``max_protected_items`` machines (200: Microsoft's
        appliance support matrix, "Sizing and capacity"). Microsoft documents no error for the enable beyond it; the
        emulator refuses it as it refuses the enable's other invalid inputs, synchronously with 400, naming the
        process server (the body's ``processServerId``), its count and the limit. The code is the emulator's own."""
        server = fabric.process_server
        protected = sum(1 for i in self._items.values() if i.fabric is fabric)
        if protected >= server.max_protected_items:
            raise EmulatorHttpError(
                400,
                "ProcessServerCapacityExceeded",
                f"The process server '{server.name}' ({server.id}) already protects {protected} machines, the most "
                f"one replication appliance supports ({server.max_protected_items}). Add a replication appliance "
                "or wait for replicated machines to be migrated.",
            )

    def _validate_enable_details(self, details: dict[str, Any], fabric: FabricConfig) -> _Machine:
        for key in ENABLE_REQUIRED:
            _require(details, key, str, _PREFIX)
        include, default = details.get("disksToInclude"), details.get("disksDefault")
        if bool(include) == bool(default):
            raise EmulatorHttpError(
                400, "InvalidParameter", f"{_PREFIX}give either disksToInclude or disksDefault (exactly one)."
            )
        for index, disk in enumerate(include or []):
            for key in DISK_REQUIRED:
                _require(disk, key, str, f"{_PREFIX}disksToInclude[{index}].")
        for key in DISKS_DEFAULT_REQUIRED if default else ():
            _require(default, key, str, f"{_PREFIX}disksDefault.")
        machine_id = details["fabricDiscoveryMachineId"]
        now = self.clock.now()
        machine = next(
            (
                m
                for m in self._machines.values()
                if m.fabric is fabric and self.machine_id(m).lower() == str(machine_id).lower()
            ),
            None,
        )
        if machine is None or not machine.visible(now, 0) or machine.machine_name.lower() in self._deleted:
            raise EmulatorHttpError(
                404,
                "ResourceNotFound",
                f"{_PREFIX}fabricDiscoveryMachineId '{machine_id}': no such discovered machine.",
            )
        if not machine.registered(now, self.estate.timings.discovery_seconds):
            raise EmulatorHttpError(
                400,
                "MobilityAgentNotRegistered",
                f"The Mobility agent on '{machine.name}' has not registered with the appliance.",
            )
        if str(details["processServerId"]).lower() != fabric.process_server.id.lower():
            raise EmulatorHttpError(
                400, "InvalidParameter", f"{_PREFIX}processServerId '{details['processServerId']}' is not registered."
            )
        known = {d.disk_id for d in machine.disks}
        for index, disk in enumerate(include or []):
            if disk.get("diskId") not in known:
                raise EmulatorHttpError(
                    400,
                    "InvalidParameter",
                    f"{_PREFIX}disksToInclude[{index}].diskId '{disk.get('diskId')}' is not a disk of {machine.name}.",
                )
        os_disks = {d.disk_id for d in machine.disks if d.is_os}
        if include and not os_disks <= {d.get("diskId") for d in include}:
            raise EmulatorHttpError(400, "InvalidParameter", f"{_PREFIX}disksToInclude must include the OS disk.")
        if details.get("targetAvailabilityZone") and details.get("targetAvailabilitySetId"):
            raise EmulatorHttpError(
                400,
                "InvalidParameter",
                f"{_PREFIX}targetAvailabilityZone and targetAvailabilitySetId exclude each other.",
            )
        return machine

    def _action(  # noqa: PLR0912 - one branch per action
        self, item: _Item, operation: Operation, payload: Any
    ) -> tuple[int, dict[str, str], Any]:
        self._busy(item)
        allowed = self._replication_view(item, self.clock.now())["allowed"]
        props = payload.get("properties", {}) if isinstance(payload, dict) else {}
        needs = {
            Operation.TEST_FAILOVER: ("TestFailover", "TestFailover"),
            Operation.TEST_FAILOVER_CLEANUP: ("TestFailoverCleanup", "TestFailoverCleanup"),
            Operation.FAILOVER: ("UnplannedFailover", "UnplannedFailover"),
            Operation.COMMIT: ("Commit", "FailoverCommit"),
            Operation.CANCEL_FAILOVER: ("CancelFailover", "CancelFailover"),
            Operation.REMOVE: ("DisableProtection", "DisableDr"),
        }
        if operation is Operation.UPDATE:
            if item.enabled_at is None:
                raise EmulatorHttpError(400, "OperationNotAllowed", "The item is still being enabled.")
            update = props.get("providerSpecificDetails") or {}
            if update.get("instanceType") != RCM:
                raise EmulatorHttpError(400, "InvalidProviderSpecificInput", f"{_PREFIX}instanceType must be {RCM}.")
            for key, value in update.items():
                if key != "instanceType" and value is not None:
                    item.details[key] = _plain(value)
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
        if provider and provider.get("instanceType") != RCM:
            raise EmulatorHttpError(
                400, "InvalidProviderSpecificInput", f"providerSpecificDetails.instanceType must be {RCM}."
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


def _plain(value: Any) -> Any:
    """A private deep copy of request JSON: later writes to the item never reach the recorded request."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
