"""Where each VM landed in Azure and what to do next for each one that did not: the report's "Landing" and "Next
steps" sections, in Markdown and HTML. Built only from what the pipeline recorded (``VmResult.landing``, the
error's step and code, the rejection reasons)."""

from __future__ import annotations

from collections.abc import Callable

from reporting.model import VmRow, WaveReport
from shared.lifecycle import VmState

_SITE_RECOVERY_STEPS = {"enabling_replication", "initial_replication", "replicating", "registering_agent"}
_GUEST_STEPS = {"preparing_guest", "installing_agent"}
_TEST_STEPS = {"test_migrating", "validating_test", "cleaning_up_test"}
_CUTOVER_STEPS = {"stopping_source", "migrating", "committing", "completing"}


def next_step(row: VmRow) -> str:
    """What the operator does next for a VM that failed, was rejected or cancelled ('' for the others)."""
    state = row.result.state
    if state is VmState.REJECTED:
        return "fix what the rejection reasons name (or leave the VM out), then list it in a new request"
    if state is VmState.CANCELLED:
        return "cancelled by the operator: list it in a new request when it should migrate"
    if state is not VmState.FAILED:
        return ""
    error = row.error
    step, code = (error.step, error.code) if error else ("", "")
    if step == "readiness" or code.startswith("NotReady"):
        advice = "create or grant what the readiness check names in Azure"
    elif step == "preparing_network":
        advice = "check the appliance's security group (inbound rule quota, the pipeline's EC2 permissions)"
    elif step in _GUEST_STEPS:
        advice = "check SSM reaches the instance (agent online, instance profile) and the guest script's output"
    elif step in _SITE_RECOVERY_STEPS:
        advice = "check the vault's Site Recovery jobs and the appliance's health in the Azure portal"
    elif step in _TEST_STEPS:
        advice = "check the test failover job; clean up the test VM if one is left"
    elif step == "awaiting_approval":
        advice = "the approval window passed: approve within approval_timeout_hours next time"
    elif step in _CUTOVER_STEPS:
        advice = "check the Site Recovery item before anything else; start the EC2 source again if cutover is dropped"
    else:
        advice = "read the cause above"
    retry = "a transient error outlasted its retries: " if error and error.transient else ""
    return f"{retry}{advice}; then list the VM in a new request"


def landing_cells(row: VmRow) -> tuple[str, str, str, str, str, str, str]:
    """(VM name in Azure, subscription, resource group, region, size, disks, IP) for one VM; '' where unknown."""
    landing = row.result.landing
    if landing is None:
        return (row.result.target_vm_name, "", "", "", "", "", "")
    network = landing.network_id.rsplit("/", 1)[-1]
    ip = f"from {network}/{landing.subnet}" + (f" (source {landing.source_ip})" if landing.source_ip else "")
    return (
        landing.vm_name,
        landing.subscription_id,
        landing.resource_group,
        f"{landing.region}, {landing.availability}",
        landing.vm_size or "as the source",
        "; ".join(landing.disks) or "not enabled",
        ip,
    )


LANDING_HEADER = ("Instance", "Azure VM", "Subscription", "Resource group", "Region", "Size", "Disks", "IP")


def landing_rows(report: WaveReport, code: Callable[[str], str]) -> list[tuple[str, ...]]:
    """Every VM's landing, its instance id rendered by ``code`` (a code span in either format)."""
    return [(code(row.result.instance_id), *landing_cells(row)) for row in report.rows()]


def next_step_rows(report: WaveReport, code: Callable[[str], str]) -> list[tuple[str, str, str, str]]:
    """(instance, name, final state, next step) for every VM that needs one."""
    return [
        (code(row.result.instance_id), row.name, row.result.state.value, step)
        for row in report.rows()
        if (step := next_step(row))
    ]
