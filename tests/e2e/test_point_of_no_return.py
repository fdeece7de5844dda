"""The point of no return, over every lifecycle state: an operator's cancel and an injected failure at each state,
run on the local stack, never end with the source running while an Azure VM from the failover exists.

Each table is one wave with one VM per state. A listener on the host acts on a VM as soon as its status reaches (or
passes) its state: it raises the cancel (as the orchestration would receive it: the HTTP refusal is tested apart) or
makes every later Site Recovery and Lambda call for that VM fail. The emulator says whether a failover created an
Azure VM that no ``failoverCancel`` removed (``failed_over_vm``); EC2 says whether the source runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.host import InstanceChange
from local.site_recovery.estate import FaultKind, RequestFault
from local.stack import LocalStack
from shared.lifecycle import MAIN_LINE, TERMINAL, Cutover, VmProgress, VmState
from shared.pipeline import APPROVAL_EVENT, CANCEL_EVENT, Approval, WaveSummary

from .helpers import open_stack, run_wave, scenario, source, wave

S = VmState
#: Every state a VM can be in before it ends (COMPLETED is where the main line stops).
STATES = MAIN_LINE[:-1]
ORDER = {state: index for index, state in enumerate(MAIN_LINE)}
LAMBDAS = (
    *("prepare_network", "prepare_guest", "install_agent", "command_status"),
    *("stop_source", "start_source", "revert_changes", "inventory"),
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-cutover"), scenario("cutover")) as opened:
        yield opened


@dataclass
class AtState:
    """Acts on VMs of a wave when their status first reaches (or passes) a state; approves the others' cutover."""

    stack: LocalStack
    request_id: str
    plan: dict[str, tuple[VmState, Callable[[str, str], None]]]  # estate name -> (state, action(name, vm_id))
    acted_at: dict[str, str] = field(default_factory=dict)
    approved: set[str] = field(default_factory=set)

    def __call__(self, change: InstanceChange) -> None:
        custom = change.custom_status
        if not isinstance(custom, dict) or not change.instance_id.startswith(f"vm-{self.request_id}-"):
            return
        name, state = str(custom.get("name")), VmState(custom["state"])
        target = self.plan.get(name)
        reached = target is not None and state not in TERMINAL and ORDER[state] >= ORDER[target[0]]
        if target is not None and reached and name not in self.acted_at:
            self.acted_at[name] = state.value
            target[1](name, change.instance_id)
        if state is S.AWAITING_APPROVAL and change.instance_id not in self.approved:
            if target is not None and target[0] is S.AWAITING_APPROVAL and target[1].__name__ == "cancel":
                return  # its cancel is what it waits for
            self.approved.add(change.instance_id)
            approval = Approval(by="table", principal_id="local:table", awaiting_since=custom["stages"][-1]["at"])
            self.stack.host.raise_event(change.instance_id, APPROVAL_EVENT, approval.model_dump(mode="json"))


def _canceller(stack: LocalStack, *, rollback: bool) -> Callable[[str, str], None]:
    def cancel(_name: str, vm_id: str) -> None:
        stack.host.raise_event(vm_id, CANCEL_EVENT, {"by": "table", "rollback": rollback})

    return cancel


def _breaker(stack: LocalStack) -> Callable[[str, str], None]:
    def fail(name: str, _vm_id: str) -> None:
        stack.site_recovery.inject(RequestFault(kind=FaultKind.UNAVAILABLE, machine=name, times=None))
        instance_id = stack.seeded.instance_id(name)
        for function in LAMBDAS:
            stack.invoker.throttles[(function, instance_id)] = 10**6

    return fail


def _run(stack: LocalStack, request_id: str, plan: dict[str, tuple[VmState, Callable[[str, str], None]]]) -> Any:
    actor = AtState(stack, request_id, plan)
    stack.host.add_listener(actor)
    outcome = run_wave(stack, wave(stack, request_id, list(plan), approval="manual", approval_timeout_hours=24))
    stack.site_recovery.clear_faults()
    stack.invoker.throttles.clear()
    return outcome, actor


def _never_two_live_copies(stack: LocalStack, names: list[str]) -> dict[str, tuple[str, str | None]]:
    """Per VM: (source state, Azure VM from the failover); asserts no source runs beside a failed-over VM."""
    seen = {name: (source(stack, name)["state"], stack.site_recovery.failed_over_vm(name)) for name in names}
    both = {name: found for name, found in seen.items() if found[0] == "running" and found[1] is not None}
    assert not both, f"source running while an Azure VM from the failover exists: {both}"
    return seen


def _by_name(outcome: Any) -> dict[str, VmProgress]:
    return {progress.name: progress for progress in outcome.progress}


def test_a_cancel_at_every_state_never_leaves_two_live_copies(stack: LocalStack) -> None:
    cancel, rollback = _canceller(stack, rollback=False), _canceller(stack, rollback=True)
    plan = {f"c{index:02d}": (state, cancel) for index, state in enumerate(STATES)}
    plan |= {"r14": (S.MIGRATING, rollback), "r15": (S.COMMITTING, rollback)}
    outcome, actor = _run(stack, "e2e-pnr-cancel", plan)
    seen = _never_two_live_copies(stack, list(plan))
    progress = _by_name(outcome)
    for name, (state, _action) in plan.items():
        final, (power, azure_vm) = progress[name], seen[name]
        where = f"{name}: cancelled at {actor.acted_at.get(name)} (planned {state.value}) -> {final.state.value}"
        if name == "r14":  # a rollback asked for: failoverCancel removed the VM, then the source started
            assert final.state is S.CANCELLED, where
            assert (power, azure_vm) == ("running", None), where
            assert "failover cancelled: the migrated VM was removed" in final.rolled_back, where
        elif ORDER[state] >= ORDER[S.MIGRATING]:  # refused: accepted failover (no rollback asked) or commit
            assert final.state is S.COMPLETED, where
            assert power == "stopped" and azure_vm is not None, where
            assert final.cutover is Cutover.COMMITTED, where
        else:
            assert final.state is S.CANCELLED, where
            assert (power, azure_vm) == ("running", None), where


def test_a_failure_at_every_state_never_leaves_two_live_copies(stack: LocalStack) -> None:
    plan = {f"f{index:02d}": (state, _breaker(stack)) for index, state in enumerate(STATES)}
    outcome, actor = _run(stack, "e2e-pnr-failure", plan)
    seen = _never_two_live_copies(stack, list(plan))
    summary: WaveSummary = outcome.summary
    results = {result.name: result for result in summary.vms}
    for name, (state, _action) in plan.items():
        result, (power, azure_vm) = results[name], seen[name]
        where = f"{name}: broken at {actor.acted_at.get(name)} (planned {state.value}) -> {result.state.value}"
        assert result.state is S.FAILED, where
        if result.cutover is Cutover.COMMITTED:  # the Azure VM is authoritative, and the result says so
            assert power == "stopped" and azure_vm is not None, where
            assert any("the Azure VM is authoritative" in line for line in result.rolled_back), where
        if ORDER[state] < ORDER[S.STOPPING_SOURCE]:
            assert azure_vm is None, where
    assert results["f16"].cutover is Cutover.COMMITTED  # broken while completing: after the commit
