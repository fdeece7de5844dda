"""Activities on the test VM through the Compute gateway: read it, start Run Command, read Run Command's result.

None of them waits: the orchestration polls with durable timers (:mod:`functions.workflows.test_vm_steps`)."""

from __future__ import annotations

from typing import Any

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from shared.errors import PermanentError
from shared.test_vm import ComputeGateway, RunCommandSpec, RunCommandStarted, TestVmRef


def _gateway(subscription_id: str) -> ComputeGateway:
    compute = runtime.current().compute
    if compute is None:
        raise PermanentError("no Compute gateway is configured: the test VM cannot be read", code="NoComputeGateway")
    return compute(subscription_id)


@bp.activity_trigger(input_name="payload")
def read_test_vm(payload: dict[str, Any]) -> dict[str, Any]:
    """The test VM's provisioning, power and VM agent state (its instance view)."""
    return run_step(payload, TestVmRef, lambda vm: _gateway(vm.subscription_id).read_test_vm(vm))


@bp.activity_trigger(input_name="payload")
def start_test_vm_command(payload: dict[str, Any]) -> dict[str, Any]:
    """Start the validation script through Run Command; answers where its result will be."""
    return run_step(payload, RunCommandSpec, lambda spec: _gateway(spec.vm.subscription_id).start_run_command(spec))


@bp.activity_trigger(input_name="payload")
def test_vm_command_result(payload: dict[str, Any]) -> dict[str, Any]:
    """Whether the Run Command finished, and its output messages if it did."""
    return run_step(
        payload, RunCommandStarted, lambda started: _gateway(started.vm.subscription_id).run_command_progress(started)
    )
