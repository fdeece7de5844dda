"""The test VM a test failover creates, and how the pipeline decides it is good: pure domain, no SDK.

Sources (none of them ours):

- The VM's instance view (Compute REST ``VirtualMachines_InstanceView``; example
  ``VirtualMachine_Get_InstanceView.json`` in Azure/azure-rest-api-specs, copied into ``tests/fixtures/compute/``):
  ``statuses[]`` carries ``ProvisioningState/<state>`` and ``PowerState/<state>`` codes; ``vmAgent.statuses[]``
  carries the guest agent's state (``ProvisioningState/succeeded``, display status ``Ready``, when it accepts
  configurations). The power states are listed in Microsoft's "States and billing status of Azure Virtual
  Machines" (``PowerState/starting|running|stopping|stopped|deallocating|deallocated``).
- Action Run Command (``VirtualMachines_RunCommand``, ``POST …/runCommand`` with ``commandId`` ``RunShellScript`` /
  ``RunPowerShellScript`` and ``script`` lines; example ``VirtualMachineRunCommand.json``): the result is
  ``value[]`` of instance-view statuses whose ``message`` holds the output (``ComponentStatus/StdOut/succeeded``,
  ``ComponentStatus/StdErr/succeeded``). It reports no exit code, so the script prints one on a marker line.
- Where the test VM is: the test failover job's details (SDK model ``TestFailoverJobDetails.protected_item_details``
  → ``FailoverReplicationProtectedItemDetails.test_vm_name``), in the target resource group.
"""

from __future__ import annotations

import base64
import re
import shlex
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.request import OsType, TestVmValidation

#: What the pipeline's identity does to the test VM, in the target resource group (Microsoft.Compute operations:
#: the VM and its instance view are read, Run Command is an action). Virtual Machine Contributor grants them.
TEST_VM_ACTIONS = (
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/instanceView/read",
    "Microsoft.Compute/virtualMachines/runCommand/action",
)
#: Marker lines the validation script prints (the exit code of the smoke command; one line per port).
EXIT_MARKER = "EC2AZ-EXIT"
PORT_MARKER = "EC2AZ-PORT"
#: How much of the smoke command's output is kept (in the VM's progress and events).
OUTPUT_LIMIT = 1500
#: Seconds a port check may take inside the VM.
PORT_CHECK_SECONDS = 5

_EXIT_LINE = re.compile(rf"^{EXIT_MARKER} (-?\d+)\s*$", re.MULTILINE)
_PORT_LINE = re.compile(rf"^{PORT_MARKER} (\d+) (open|closed)\s*$", re.MULTILINE)
#: Linux Run Command's framing of the streams: ``Enable succeeded: \n[stdout]\n…\n[stderr]\n…``.
_ENVELOPE = re.compile(r"^(?:Enable succeeded: *|\[stdout\]|\[stderr\])\s*$\n?", re.MULTILINE)
#: ``name=value`` / ``name: value`` pairs whose name says secret: their values never leave the activity.
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w.-]*(?:password|passwd|pwd|secret|token|passphrase|apikey|api_key|accountkey|sharedaccesskey|sig)"
    r"[\w.-]*)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s;&,]+)"
)
_MARKER_LINE = re.compile(rf"^(?:{EXIT_MARKER}|{PORT_MARKER}) .*$\n?", re.MULTILINE)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TestVmRef(_Model):
    """The test VM of one VM's test failover."""

    __test__ = False  # not a pytest class

    subscription_id: str
    resource_group: str
    vm_name: str

    def describe(self) -> str:
        return f"test VM {self.vm_name} (resource group {self.resource_group})"


class Readiness(StrEnum):
    READY = "ready"
    WAITING = "waiting"  # still booting: look again later
    FAILED = "failed"  # will not get better: provisioning failed


class TestVmView(_Model):
    """What the instance view says: the codes as Azure reports them (lower-cased state part)."""

    __test__ = False

    provisioning_state: str = ""
    power_state: str = ""
    agent_state: str = ""
    agent_display_status: str = ""
    agent_message: str = ""
    problem_message: str = ""

    @classmethod
    def from_statuses(
        cls, statuses: list[tuple[str, str, str]], agent_statuses: list[tuple[str, str, str]]
    ) -> TestVmView:
        """From ``(code, displayStatus, message)`` of ``statuses[]`` and ``vmAgent.statuses[]``."""
        provisioning = power = problem = ""
        for code, _display, message in statuses:
            kind, _, state = code.partition("/")
            if kind == "ProvisioningState":
                head, _, reason = state.partition("/")  # e.g. failed/OSProvisioningTimedOut
                provisioning = f"{head.lower()} ({reason})" if reason else head.lower()
                problem = message or problem
            elif kind == "PowerState":
                power = state.lower()
        agent = agent_display = agent_message = ""
        for code, display, message in agent_statuses[:1]:
            agent = code.partition("/")[2].lower()
            agent_display, agent_message = display, message
        return cls(
            provisioning_state=provisioning,
            power_state=power,
            agent_state=agent,
            agent_display_status=agent_display,
            agent_message=agent_message,
            problem_message=problem,
        )

    def assess(self) -> tuple[Readiness, str, str]:
        """Ready, still waiting, or failed; with an error code and a sentence for the operator."""
        if self.provisioning_state.startswith("failed"):
            detail = f": {self.problem_message}" if self.problem_message else ""
            return Readiness.FAILED, "TestVmNotBooted", f"provisioning {self.provisioning_state}{detail}"
        if self.provisioning_state != "succeeded":
            return Readiness.WAITING, "TestVmNotBooted", f"provisioning {self.provisioning_state or 'unknown'}"
        if self.power_state != "running":
            return Readiness.WAITING, "TestVmNotBooted", f"power state {self.power_state or 'unknown'}, not running"
        if not self.agent_ready:
            status = self.agent_display_status or self.agent_state or "no status"
            detail = f" ({self.agent_message})" if self.agent_message else ""
            return Readiness.WAITING, "TestVmAgentNotReady", f"VM agent {status}{detail}"
        return Readiness.READY, "", "running, VM agent ready"

    @property
    def agent_ready(self) -> bool:
        return self.agent_state == "succeeded" and self.agent_display_status.lower() == "ready"


class RunCommandSpec(_Model):
    """One action Run Command on the test VM."""

    vm: TestVmRef
    command_id: str  # RunShellScript | RunPowerShellScript
    script: list[str]


class RunCommandStarted(_Model):
    """Run Command accepted: where its result will be (the ``Location`` of the 202)."""

    vm: TestVmRef
    result_url: str


class RunCommandProgress(_Model):
    done: bool
    messages: list[str] = Field(default_factory=list)


class ValidationOutcome(_Model):
    """What the validation script reported."""

    exit_code: int | None
    open_ports: list[int] = Field(default_factory=list)
    closed_ports: list[int] = Field(default_factory=list)
    output: str = ""

    def problem(self, validation: TestVmValidation) -> tuple[str, str] | None:
        """``(code, message)`` of a failed check, or None."""
        if validation.smoke_command and self.exit_code != 0:
            ended = "reported no exit code" if self.exit_code is None else f"exited {self.exit_code}"
            return "SmokeTestFailed", f"the smoke command {ended}; output: {self.output or '(none)'}"
        unanswered = [p for p in validation.ports if p not in self.open_ports]
        if unanswered:
            listed = ", ".join(str(p) for p in unanswered)
            return "PortsNotAnswering", f"TCP port(s) {listed} did not answer inside the test VM"
        return None


class ComputeGateway(Protocol):
    """Reads of the test VM and Run Command on it (Microsoft.Compute)."""

    def read_test_vm(self, vm: TestVmRef) -> TestVmView: ...

    def start_run_command(self, spec: RunCommandSpec) -> RunCommandStarted: ...

    def run_command_progress(self, started: RunCommandStarted) -> RunCommandProgress: ...


def validation_script(validation: TestVmValidation, os_type: OsType, vm: TestVmRef) -> RunCommandSpec:
    """The Run Command that runs the smoke command (bounded by the validation's timeout) and checks each port on
    the VM itself, printing the exit code and each port's answer on marker lines."""
    seconds = validation.timeout_minutes * 60
    if os_type is OsType.WINDOWS:
        lines = [
            "function Ec2azPort([int]$Port) {",
            "  $client = New-Object System.Net.Sockets.TcpClient",
            f"  $ok = $client.ConnectAsync('localhost', $Port).Wait({PORT_CHECK_SECONDS * 1000})",
            "  $client.Dispose()",
            f'  if ($ok) {{ "{PORT_MARKER} $Port open" }} else {{ "{PORT_MARKER} $Port closed" }}',
            "}",
        ]
        if validation.smoke_command:
            encoded = base64.b64encode(validation.smoke_command.encode("utf-16-le")).decode()
            lines += [
                "$p = Start-Process -FilePath powershell.exe -NoNewWindow -PassThru"
                f" -ArgumentList '-NoProfile -NonInteractive -EncodedCommand {encoded}'",
                f"if ($p.WaitForExit({seconds * 1000})) {{ $code = $p.ExitCode }} else {{ $p.Kill(); $code = 124 }}",
                f'"{EXIT_MARKER} $code"',
            ]
        lines += [f"Ec2azPort {port}" for port in validation.ports]
        return RunCommandSpec(vm=vm, command_id="RunPowerShellScript", script=lines)
    lines = [
        "ec2az_port() {",
        f'  if timeout {PORT_CHECK_SECONDS} bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then',
        f'    echo "{PORT_MARKER} $1 open"',
        "  else",
        f'    echo "{PORT_MARKER} $1 closed"',
        "  fi",
        "}",
    ]
    if validation.smoke_command:
        lines += [
            f"timeout {seconds} bash -c {shlex.quote(validation.smoke_command)}",
            f'echo "{EXIT_MARKER} $?"',
        ]
    lines += [f"ec2az_port {port}" for port in validation.ports]
    return RunCommandSpec(vm=vm, command_id="RunShellScript", script=lines)


def parse_run_output(messages: list[str]) -> ValidationOutcome:
    """Read the markers from Run Command's ``value[].message`` and keep the rest (truncated) as the output.

    Linux answers one message (``Enable succeeded: [stdout] … [stderr] …``), Windows one per stream."""
    text = "\n".join(m for m in messages if m)
    exits = _EXIT_LINE.findall(text)
    ports = {int(port): answer for port, answer in _PORT_LINE.findall(text)}
    output = redact(_ENVELOPE.sub("", _MARKER_LINE.sub("", text)).strip())
    if len(output) > OUTPUT_LIMIT:
        output = output[: OUTPUT_LIMIT - 15] + " …(truncated)"
    return ValidationOutcome(
        exit_code=int(exits[-1]) if exits else None,
        open_ports=sorted(p for p, a in ports.items() if a == "open"),
        closed_ports=sorted(p for p, a in ports.items() if a == "closed"),
        output=output,
    )


def redact(text: str) -> str:
    """Mask the value of every ``name=value`` / ``name: value`` whose name says secret (password, token, key…)."""
    return _SECRET_PAIR.sub(lambda m: f"{m[1]}{m[2]}***", text)
