"""Microsoft.Compute for test VMs: the VM a test failover creates, its instance view, and action Run Command on it.

Shapes (Azure/azure-rest-api-specs, Microsoft.Compute; the examples are copied into ``tests/fixtures/compute/``):

- ``GET …/virtualMachines/{vm}/instanceView`` (``VirtualMachine_Get_InstanceView.json``): ``statuses[]`` with
  ``ProvisioningState/<state>`` and ``PowerState/<state>``, ``vmAgent.statuses[]`` (``Ready`` when the agent runs).
  Microsoft's VM states page: a VM being created shows ``ProvisioningState/creating`` + ``PowerState/starting``; a
  failed provisioning shows ``ProvisioningState/failed/<code>`` with level ``Error``. Unknown VM: 404
  ``ResourceNotFound``.
- ``POST …/virtualMachines/{vm}/runCommand`` (``VirtualMachineRunCommand.json``): 202 with ``Location`` and
  ``Azure-AsyncOperation`` (``…/providers/Microsoft.Compute/locations/{region}/operations/{id}``, ``monitor=true``
  for the Location). ``Location`` answers 202 while the command runs, then 200 with ``{"value": [...]}``;
  ``Azure-AsyncOperation`` answers ``{"status", "startTime", "endTime", "properties": {"output": {"value"}}}``.
  Linux (``RunShellScript``) answers one status whose message is ``Enable succeeded: \\n[stdout]\\n…\\n[stderr]\\n…``;
  Windows (``RunPowerShellScript``) one per stream (``ComponentStatus/StdOut/succeeded``, ``…/StdErr/…``). Run
  Command needs a running VM with a ready agent: otherwise 409 ``Conflict``.

The test VM appears when a test failover job succeeds (named ``{targetVmName}-test`` in the item's target resource
group; the job's ``TestFailoverJobDetails`` names it) and disappears when the clean-up job succeeds. Its guest is
emulated from the machine's :class:`~local.site_recovery.estate.TestVmBehaviour`: the Run Command's script is read
line by line for the smoke command and the port checks it asks for, and the output is what that script prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from local.site_recovery.estate import FaultKind, Operation, TestVmBoot
from local.site_recovery.jobs import JobsMixin
from local.site_recovery.model import EmulatorHttpError, _guid, _iso, _Item, _Machine

#: The api-version azure-mgmt-compute 39.0.0 (pinned in requirements.txt) sends.
COMPUTE_API_VERSION = "2026-04-01"

_VM = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute"
    r"/virtualMachines/(?P<vm>[^/]+)/(?P<action>instanceView|runCommand)",
    re.IGNORECASE,
)
_OPERATION = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/locations/(?P<region>[^/]+)/operations/(?P<id>[^/]+)",
    re.IGNORECASE,
)
_LINUX_PORT = re.compile(r"^ec2az_port (\d+)$")
_WINDOWS_PORT = re.compile(r"^Ec2azPort (\d+)$")


def compute_route(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    """The Compute operation a request is, or None when it is not a Compute route."""
    found = _VM.fullmatch(path)
    if found is not None:
        action = found["action"].lower()
        if action == "instanceview" and method == "GET":
            return Operation.VM_INSTANCE_VIEW, found.groupdict()
        if action == "runcommand" and method == "POST":
            return Operation.RUN_COMMAND, found.groupdict()
        raise EmulatorHttpError(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
    found = _OPERATION.fullmatch(path)
    if found is not None and method == "GET":
        return Operation.RUN_COMMAND_RESULT, found.groupdict()
    return None


@dataclass
class _TestVm:
    name: str
    resource_group: str
    region: str
    machine: _Machine
    created: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.resource_group.lower(), self.name.lower())


@dataclass
class _RunCommand:
    id: str
    vm: _TestVm
    windows: bool
    started: datetime
    ends: datetime
    script: list[str] = field(default_factory=list)


class ComputeMixin(JobsMixin):
    """Test VMs and Run Command on them (the jobs family creates and removes the test VMs through the hooks)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._test_vms: dict[tuple[str, str], _TestVm] = {}
        self._run_commands: dict[str, _RunCommand] = {}

    # --- the Site Recovery side's hooks -----------------------------------------------------------------------

    def test_vm_name(self, item: _Item) -> str:
        return f"{item.details.get('targetVmName') or item.machine.machine_name}-test"

    def _test_vm_created(self, item: _Item, at: datetime) -> None:
        group = str(item.details.get("targetResourceGroupId") or "").rstrip("/").rsplit("/", 1)[-1]
        vm = _TestVm(self.test_vm_name(item), group, self.estate.location, item.machine, at)
        self._test_vms[vm.key] = vm

    def _test_vm_removed(self, item: _Item) -> None:
        for key, vm in list(self._test_vms.items()):
            if vm.machine is item.machine:
                del self._test_vms[key]

    def test_vms(self) -> list[str]:
        """The names of the test VMs that exist now."""
        with self._lock:
            self._settle()
            return sorted(vm.name for vm in self._test_vms.values())

    def _check_request(  # the router's: authorization and request faults
        self,
        operation: Operation,
        route: dict[str, str],
        query: dict[str, str],
        headers: dict[str, str],
        payload: Any = None,
        *,
        api_version: bool = True,
    ) -> None:
        raise NotImplementedError

    # --- HTTP -------------------------------------------------------------------------------------------------

    def _handle_compute(
        self, operation: Operation, route: dict[str, str], query: dict[str, str], headers: dict[str, str], payload: Any
    ) -> tuple[int, dict[str, str], Any]:
        self._check_request(operation, {}, query, headers, payload, api_version=False)
        version = query.get("api-version")
        if version != COMPUTE_API_VERSION:
            raise EmulatorHttpError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported version is '{COMPUTE_API_VERSION}'.",
            )
        if route["sub"].lower() != self.estate.subscription_id.lower():
            raise EmulatorHttpError(
                404, "SubscriptionNotFound", f"The subscription '{route['sub']}' could not be found."
            )
        if operation is Operation.RUN_COMMAND_RESULT:
            return self._run_command_result(route["id"], monitor=query.get("monitor") == "true")
        vm = self._find_test_vm(route["rg"], route["vm"])
        if operation is Operation.VM_INSTANCE_VIEW:
            return 200, {}, self._instance_view(vm)
        return self._start_run_command(vm, payload, query)

    def _find_test_vm(self, group: str, name: str) -> _TestVm:
        vm = self._test_vms.get((group.lower(), name.lower()))
        if vm is None:
            raise EmulatorHttpError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group '{group}'"
                " was not found.",
            )
        return vm

    def _booted(self, vm: _TestVm) -> bool:
        return self.clock.now() >= vm.created + timedelta(seconds=vm.machine.behaviour.test_vm.boot_seconds)

    def _instance_view(self, vm: _TestVm) -> dict[str, Any]:
        boot = vm.machine.behaviour.test_vm.boot
        booted = self._booted(vm)
        created = _iso(vm.created)
        statuses: list[dict[str, Any]]
        if boot is TestVmBoot.PROVISIONING_FAILED and booted:
            statuses = [
                {
                    "code": "ProvisioningState/failed/OSProvisioningTimedOut",
                    "level": "Error",
                    "displayStatus": "Provisioning failed",
                    "message": f"OS Provisioning for VM '{vm.name}' did not finish in the allotted time.",
                    "time": created,
                },
                {"code": "PowerState/stopped", "level": "Info", "displayStatus": "VM stopped"},
            ]
        elif not booted:
            statuses = [
                {"code": "ProvisioningState/creating", "level": "Info", "displayStatus": "Creating"},
                {"code": "PowerState/starting", "level": "Info", "displayStatus": "VM starting"},
            ]
        else:
            running = boot is not TestVmBoot.NOT_RUNNING
            statuses = [
                {
                    "code": "ProvisioningState/succeeded",
                    "level": "Info",
                    "displayStatus": "Provisioning succeeded",
                    "time": created,
                },
                {
                    "code": f"PowerState/{'running' if running else 'stopped'}",
                    "level": "Info",
                    "displayStatus": "VM running" if running else "VM stopped",
                },
            ]
        body: dict[str, Any] = {
            "computerName": vm.machine.hostname or vm.name,
            "osName": vm.machine.os_name,
            "statuses": statuses,
            "vmAgent": {"vmAgentVersion": "Unknown", "statuses": [self._agent_status(vm, booted)]},
        }
        return body

    def _agent_ready(self, vm: _TestVm, booted: bool) -> bool:
        return booted and vm.machine.behaviour.test_vm.boot is TestVmBoot.OK

    def _agent_status(self, vm: _TestVm, booted: bool) -> dict[str, Any]:
        if self._agent_ready(vm, booted):
            return {
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Ready",
                "message": "GuestAgent is running and accepting new configurations.",
                "time": _iso(vm.created + timedelta(seconds=vm.machine.behaviour.test_vm.boot_seconds)),
            }
        return {
            "code": "ProvisioningState/Unavailable",
            "level": "Warning",
            "displayStatus": "Not Ready",
            "message": "VM status blob is found but not yet populated.",
        }

    def _start_run_command(self, vm: _TestVm, payload: Any, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("commandId"), str):
            raise EmulatorHttpError(400, "InvalidParameter", "Required parameter 'commandId' is missing (null).")
        command_id = payload["commandId"]
        windows = vm.machine.os_type.lower() == "windows"
        expected = "RunPowerShellScript" if windows else "RunShellScript"
        if command_id != expected:
            raise EmulatorHttpError(
                400, "InvalidParameter", f"The command '{command_id}' is not supported on this VM's OS: {expected}."
            )
        if not self._agent_ready(vm, self._booted(vm)):
            raise EmulatorHttpError(
                409, "Conflict", "Run command extension execution is not possible: the VM agent is not ready."
            )
        now = self.clock.now()
        self._job_counter += 1
        run = _RunCommand(
            id=_guid("runcommand", vm.name, str(self._job_counter)),
            vm=vm,
            windows=windows,
            started=now,
            ends=now + timedelta(seconds=vm.machine.behaviour.test_vm.run_seconds),
            script=[str(line) for line in payload.get("script") or []],
        )
        fault = self._take_fault(Operation.RUN_COMMAND, vm.machine, {FaultKind.JOB_FAILURE})
        if fault is not None:
            run.ends = now
            run.script = ["__fault__", fault.error_code or "VMAgentStatusCommunicationError"]
        self._run_commands[run.id] = run
        monitor = f"{self.base_url}/subscriptions/{self.estate.subscription_id}/providers/Microsoft.Compute/locations"
        monitor += f"/{vm.region}/operations/{run.id}"
        return (
            202,
            {
                "Location": f"{monitor}?monitor=true&api-version={COMPUTE_API_VERSION}",
                "Azure-AsyncOperation": f"{monitor}?api-version={COMPUTE_API_VERSION}",
                "Retry-After": "10",
            },
            None,
        )

    def _run_command_result(self, run_id: str, *, monitor: bool) -> tuple[int, dict[str, str], Any]:
        run = self._run_commands.get(run_id.lower())
        if run is None:
            raise EmulatorHttpError(404, "NotFound", f"The operation '{run_id}' was not found.")
        now = self.clock.now()
        done = now >= run.ends
        failed = run.script[:1] == ["__fault__"]
        if monitor:
            if not done:
                return 202, {"Retry-After": "10"}, None
            if failed:
                raise EmulatorHttpError(500, run.script[1], "The VM agent did not report the command's result.")
            return 200, {}, {"value": self._guest_output(run)}
        body: dict[str, Any] = {"name": run.id, "startTime": _iso(run.started), "status": "InProgress"}
        if done:
            body.update(endTime=_iso(run.ends), status="Failed" if failed else "Succeeded")
            if failed:
                body["error"] = {"code": run.script[1], "message": "The VM agent did not report the command's result."}
            else:
                body["properties"] = {"output": {"value": self._guest_output(run)}}
        return 200, {}, body

    def _guest_output(self, run: _RunCommand) -> list[dict[str, Any]]:
        """What the guest prints running the validation script, as the emulated machine behaves."""
        behaviour = run.vm.machine.behaviour.test_vm
        stdout: list[str] = []
        port_line = _WINDOWS_PORT if run.windows else _LINUX_PORT
        for line in run.script:
            stripped = line.strip()
            port = port_line.fullmatch(stripped)
            if port is not None:
                number = int(port[1])
                answers = behaviour.open_ports is None or number in behaviour.open_ports
                stdout.append(f"EC2AZ-PORT {number} {'open' if answers else 'closed'}")
            elif stripped.startswith(("timeout ", "$p = Start-Process")):
                stdout.extend(behaviour.smoke_stdout.splitlines())
            elif stripped.startswith(('echo "EC2AZ-EXIT', '"EC2AZ-EXIT')):
                stdout.append(f"EC2AZ-EXIT {behaviour.smoke_exit_code}")
        out, err = "\n".join(stdout), behaviour.smoke_stderr
        if run.windows:
            return [
                {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                 "message": out},
                {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                 "message": err},
            ]  # fmt: skip
        return [
            {
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "message": f"Enable succeeded: \n[stdout]\n{out}\n\n[stderr]\n{err}\n",
                "time": None,
            }
        ]
