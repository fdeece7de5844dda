"""The test VM: the Compute gateway through the real ComputeManagementClient, against Microsoft's REST examples
(``tests/fixtures/compute/``) and against the emulator's Compute family; the validation script run by real bash."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from functions.gateways.compute import AzureComputeGateway
from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.azure_resources.roles import READER, VIRTUAL_MACHINE_CONTRIBUTOR
from local.clock import VirtualClock
from local.site_recovery import (
    EmulatorResponse,
    EmulatorTransport,
    Operation,
    SiteRecoveryEmulator,
    build_emulated_compute_client,
)
from local.site_recovery.compute import COMPUTE_API_VERSION
from local.site_recovery.estate import FaultKind, MachineBehaviour, RequestFault, TestVmBehaviour, TestVmBoot
from local.site_recovery.transport import EmulatorCredential
from shared.errors import NotFoundError, OperationInProgressError, TransientError
from shared.rbac import missing_actions
from shared.request import OsType, TestVmValidation
from shared.site_recovery import JobRef, ProtectedItemRef, TestFailoverSpec, VaultRef
from shared.test_vm import TEST_VM_ACTIONS, Readiness, RunCommandStarted, TestVmRef, parse_run_output, validation_script
from tests.site_recovery.conftest import SUB, TEST_VNET, enable, run_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compute"
INSTANCE_VIEW = json.loads((FIXTURES / "VirtualMachine_Get_InstanceView.json").read_text())["responses"]["200"]["body"]
RUN_COMMAND = json.loads((FIXTURES / "VirtualMachineRunCommand.json").read_text())["responses"]["200"]["body"]
#: Microsoft Learn's output of ``az vm run-command invoke --command-id RunShellScript`` (one status per call).
LINUX_MESSAGE = "Enable succeeded: \n[stdout]\n{out}\n\n[stderr]\n{err}\n"


class _Answers:
    """An in-process service that answers with fixed bodies (Microsoft's examples) through the real SDK."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.clock = VirtualClock()
        self.answers = list(answers)
        self.seen: list[tuple[str, str]] = []

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> EmulatorResponse:
        self.seen.append((method, url))
        status, payload = self.answers.pop(0)
        data = json.dumps(payload).encode() if payload is not None else b""
        return EmulatorResponse(status, {"Content-Type": "application/json", "Content-Length": str(len(data))}, data)


def _fixture_gateway(*answers: tuple[int, Any]) -> tuple[AzureComputeGateway, _Answers]:
    from azure.mgmt.compute import ComputeManagementClient

    service = _Answers(*answers)
    client = ComputeManagementClient(
        EmulatorCredential(), SUB, base_url="https://management.azure.com", transport=EmulatorTransport(service)
    )
    return AzureComputeGateway(client), service


VM = TestVmRef(subscription_id=SUB, resource_group="rg-target", vm_name="web01-test")


def test_microsofts_instance_view_example_reads_as_ready() -> None:
    gateway, service = _fixture_gateway((200, INSTANCE_VIEW))
    view = gateway.read_test_vm(VM)
    assert service.seen[0][0] == "GET" and "/virtualMachines/web01-test/instanceView" in service.seen[0][1]
    assert (view.provisioning_state, view.power_state, view.agent_display_status) == ("succeeded", "running", "Ready")
    assert view.assess()[0] is Readiness.READY


@pytest.mark.parametrize(
    ("plant", "readiness", "code"),
    [
        (lambda b: b["statuses"][1].update(code="PowerState/stopped"), Readiness.WAITING, "TestVmNotBooted"),
        (lambda b: b["statuses"][0].update(code="ProvisioningState/creating"), Readiness.WAITING, "TestVmNotBooted"),
        (
            lambda b: b["statuses"][0].update(code="ProvisioningState/failed/OSProvisioningTimedOut", message="boom"),
            Readiness.FAILED,
            "TestVmNotBooted",
        ),
        (
            lambda b: b["vmAgent"]["statuses"][0].update(
                code="ProvisioningState/Unavailable", displayStatus="Not Ready"
            ),
            Readiness.WAITING,
            "TestVmAgentNotReady",
        ),
        (lambda b: b["vmAgent"].update(statuses=[]), Readiness.WAITING, "TestVmAgentNotReady"),
    ],
)
def test_each_check_fails_on_a_planted_defect_in_microsofts_example(
    plant: Any, readiness: Readiness, code: str
) -> None:
    body = copy.deepcopy(INSTANCE_VIEW)
    plant(body)
    gateway, _ = _fixture_gateway((200, body))
    found, found_code, message = gateway.read_test_vm(VM).assess()
    assert (found, found_code) == (readiness, code) and message


def test_a_missing_test_vm_is_not_found() -> None:
    error = {"error": {"code": "ResourceNotFound", "message": "The Resource 'Microsoft.Compute/virtualMachines/x'"}}
    gateway, _ = _fixture_gateway((404, error))
    with pytest.raises(NotFoundError):
        gateway.read_test_vm(VM)


def test_run_command_result_reads_microsofts_example_and_waits_on_202() -> None:
    location = f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/operations/1?monitor=true&api-version={COMPUTE_API_VERSION}"
    gateway, service = _fixture_gateway((202, None), (200, RUN_COMMAND))
    started = RunCommandStarted(vm=VM, result_url=location)
    assert not gateway.run_command_progress(started).done
    done = gateway.run_command_progress(started)
    assert done.done and done.messages == ["This is a sample script with parameters value1 value2", ""]
    assert [m for m, _ in service.seen] == ["GET", "GET"] and service.seen[0][1].startswith(location.split("?", 1)[0])


# --- the emulator, through the real clients ---------------------------------------------------------------------


@pytest.fixture
def tested(
    emulator: SiteRecoveryEmulator, gateway: AzureSiteRecoveryGateway, vault: VaultRef
) -> tuple[SiteRecoveryEmulator, AzureComputeGateway, TestVmRef, ProtectedItemRef]:
    """web01 replicated and test-failed-over: the job names its test VM, which exists in the target group."""
    _topology, item, _job = enable(gateway, emulator, vault)
    run_for(emulator.clock, 6 * 3600)  # type: ignore[arg-type]
    started = gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET))
    run_for(emulator.clock, 3600)  # type: ignore[arg-type]
    status = gateway.get_job(JobRef(vault=vault, job_name=started.job.job_name))
    assert status.succeeded and status.test_vm_names == ("web01-test",)
    vm = TestVmRef(subscription_id=SUB, resource_group="rg-target", vm_name=status.test_vm_names[0])
    return emulator, AzureComputeGateway(build_emulated_compute_client(emulator, SUB)), vm, item


def test_the_emulators_instance_view_has_microsofts_shape(tested: Any) -> None:
    emulator, compute, vm, _item = tested
    view = compute.read_test_vm(vm)
    assert view.assess()[0] is Readiness.READY
    request = [r for r in emulator.requests if r.operation is Operation.VM_INSTANCE_VIEW][-1]
    assert request.api_version == COMPUTE_API_VERSION
    body = emulator.handle("GET", f"{emulator.base_url}/subscriptions/{SUB}/resourceGroups/rg-target/providers/"
                           f"Microsoft.Compute/virtualMachines/{vm.vm_name}/instanceView?api-version={COMPUTE_API_VERSION}",
                           {"Authorization": "Bearer x"}, None)  # fmt: skip
    answered = json.loads(body.body)
    assert set(answered) <= set(INSTANCE_VIEW)
    assert set(answered["vmAgent"]["statuses"][0]) == set(INSTANCE_VIEW["vmAgent"]["statuses"][0])
    assert [s["code"] for s in answered["statuses"]] == [s["code"] for s in INSTANCE_VIEW["statuses"]]


def test_run_command_on_the_emulated_windows_guest_answers_like_microsofts_example(
    emulator: SiteRecoveryEmulator, tested: Any
) -> None:
    emulator, compute, vm, _item = tested
    machine = emulator._machines["web01"]
    machine.os_type = "WINDOWS"
    emulator.set_behaviour(
        "web01", MachineBehaviour(test_vm=TestVmBehaviour(smoke_stdout="W3SVC Running", open_ports=[443]))
    )
    validation = TestVmValidation(smoke_command="Get-Service W3SVC", ports=[443, 8080])
    started = compute.start_run_command(validation_script(validation, OsType.WINDOWS, vm))
    assert "/locations/" in started.result_url and "monitor=true" in started.result_url
    assert not compute.run_command_progress(started).done, "Run Command takes time: the activity must not wait"
    run_for(emulator.clock, 600)  # type: ignore[arg-type]
    result = compute.run_command_progress(started)
    raw = emulator._guest_output(emulator._run_commands[started.result_url.split("/operations/")[1].split("?")[0]])
    assert [s["code"] for s in raw] == [s["code"] for s in RUN_COMMAND["value"]]
    assert all(set(s) == set(RUN_COMMAND["value"][0]) for s in raw)
    outcome = parse_run_output(result.messages)
    assert (outcome.exit_code, outcome.open_ports, outcome.closed_ports) == (0, [443], [8080])
    assert outcome.output == "W3SVC Running"
    assert outcome.problem(validation) == ("PortsNotAnswering", "TCP port(s) 8080 did not answer inside the test VM")


def test_run_command_needs_a_ready_agent_and_cleanup_removes_the_test_vm(
    gateway: AzureSiteRecoveryGateway, vault: VaultRef, tested: Any
) -> None:
    emulator, compute, vm, item = tested
    emulator.set_behaviour("web01", MachineBehaviour(test_vm=TestVmBehaviour(boot=TestVmBoot.AGENT_NOT_READY)))
    assert compute.read_test_vm(vm).assess()[1] == "TestVmAgentNotReady"
    script = validation_script(TestVmValidation(smoke_command="true"), OsType.LINUX, vm)
    with pytest.raises(OperationInProgressError, match="agent is not ready"):
        compute.start_run_command(script)
    started = gateway.cleanup_test_failover(item)
    run_for(emulator.clock, 3600)
    assert gateway.get_job(JobRef(vault=vault, job_name=started.job.job_name)).succeeded
    assert emulator.test_vms() == []
    with pytest.raises(NotFoundError):
        compute.read_test_vm(vm)


# --- the Linux validation script, run by real bash --------------------------------------------------------------


def _run_linux(validation: TestVmValidation) -> Any:
    script = validation_script(validation, OsType.LINUX, VM)
    done = subprocess.run(
        ["bash", "-c", "\n".join(script.script)], check=False, capture_output=True, text=True, timeout=60
    )
    return parse_run_output([LINUX_MESSAGE.format(out=done.stdout.rstrip("\n"), err=done.stderr.rstrip("\n"))])


def test_the_linux_script_reports_exit_code_output_and_ports_for_real() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    try:
        open_port, closed_port = listener.getsockname()[1], closed.getsockname()[1]
        ok = TestVmValidation(smoke_command="echo 'app says hi' && test -d /", ports=[open_port, closed_port])
        outcome = _run_linux(ok)
        assert (outcome.exit_code, outcome.open_ports, outcome.closed_ports) == (0, [open_port], [closed_port])
        assert outcome.output == "app says hi"
        assert outcome.problem(ok) == (
            "PortsNotAnswering",
            f"TCP port(s) {closed_port} did not answer inside the test VM",
        )
        failing = TestVmValidation(smoke_command="echo 'it broke' >&2; echo 'password=hunter2'; exit 3")
        outcome = _run_linux(failing)
        assert outcome.exit_code == 3 and "it broke" in outcome.output
        assert "hunter2" not in outcome.output and "password=***" in outcome.output
        code, message = outcome.problem(failing) or ("", "")
        assert code == "SmokeTestFailed" and "exited 3" in message and "it broke" in message
    finally:
        listener.close()
        closed.close()


def test_output_without_an_exit_marker_is_a_failure_and_long_output_is_truncated() -> None:
    validation = TestVmValidation(smoke_command="run-it")
    outcome = parse_run_output([LINUX_MESSAGE.format(out="x" * 5000, err="")])
    assert outcome.exit_code is None and outcome.problem(validation) is not None
    assert len(outcome.output) <= 1500 and outcome.output.endswith("(truncated)")


@pytest.mark.parametrize(
    ("validation", "expected"),
    [
        ({"ports": [70000]}, "less than or equal to 65535"),
        ({"timeout_minutes": 0}, "greater than or equal to 1"),
        ({"timeout_minutes": 91}, "less than or equal to 90"),
        ({"smoke_command": ""}, "at least 1 character"),
        ({"smoke": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_validation_settings_are_refused_with_a_clear_reason(validation: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        TestVmValidation.model_validate(validation)


def test_the_target_groups_role_lets_the_pipeline_read_the_test_vm_and_run_commands_on_it() -> None:
    """infra/azure/modules/target-rg-role.bicep assigns Virtual Machine Contributor (Microsoft's definition)."""
    assert missing_actions(TEST_VM_ACTIONS, [VIRTUAL_MACHINE_CONTRIBUTOR.permission]) == ()
    assert missing_actions(TEST_VM_ACTIONS, [READER.permission]) == (TEST_VM_ACTIONS[2],), "planted: Reader cannot"


def test_a_run_command_whose_result_never_comes_is_an_error_not_a_pass(tested: Any) -> None:
    emulator, compute, vm, _item = tested
    emulator.inject(RequestFault(kind=FaultKind.JOB_FAILURE, operation=Operation.RUN_COMMAND, machine="web01"))
    started = compute.start_run_command(validation_script(TestVmValidation(smoke_command="true"), OsType.LINUX, vm))
    with pytest.raises(TransientError):
        compute.run_command_progress(started)
