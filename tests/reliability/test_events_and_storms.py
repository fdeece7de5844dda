"""Duplicate and reordered external events, throttling storms across a wave, and a host killed mid-wave."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local.scenario import OperatorAction, Scenario
from local.site_recovery.estate import FaultKind, Operation, RequestFault
from local.stack import LocalStack
from shared.lifecycle import VmState
from shared.pipeline import APPROVAL_EVENT, HEALTH_EVENT
from shared.request import vm_instance_id, wave_instance_id
from tests.reliability.conftest import rule_key, small_scenario, wave

S = VmState


def _vm_state(stack: LocalStack, name: str) -> str:
    status = stack.host.status(vm_instance_id(stack.request_id, stack.seeded.instance_id(name)))
    assert status is not None
    return str((status.custom_status or {}).get("state"))


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Two VMs waiting for approval (manual), driven by hand."""
    scenario = small_scenario("reliability-events", 2, approval="manual")
    with LocalStack.open(scenario, tmp_path_factory.mktemp("events")) as stack:
        stack.submit()
        stack.host.run_until_idle(horizon=timedelta(hours=8))
        yield stack


def test_duplicate_and_reordered_events_change_nothing_they_should_not(gated: LocalStack) -> None:
    stack = gated
    assert [_vm_state(stack, n) for n in ("vm-000", "vm-001")] == [S.AWAITING_APPROVAL.value] * 2
    first = stack.seeded.instance_id("vm-000")
    orchestration = vm_instance_id(stack.request_id, first)

    # A stale health event (initial replication at 10%, critical) arrives after the VM moved on.
    stack.host.raise_event(
        orchestration,
        HEALTH_EVENT,
        {"level": "critical", "progress_percent": 10, "initial_replication_complete": False, "reasons": ["stale"]},
    )
    stack.host.run_until_idle(horizon=timedelta(minutes=30))
    assert _vm_state(stack, "vm-000") == S.AWAITING_APPROVAL.value

    # The approval is raised twice for the same VM (a retried HTTP call).
    approve = OperatorAction(at_hours=0, action="approve", by="alice@contoso.example", vm="vm-000")
    assert stack.operate(approve)["approved"] == [orchestration]
    stack.host.raise_event(orchestration, APPROVAL_EVENT, {"approved": True, "by": "alice@contoso.example"})
    stack.host.run_until_idle(horizon=timedelta(hours=6))
    assert _vm_state(stack, "vm-000") == S.COMPLETED.value
    assert _vm_state(stack, "vm-001") == S.AWAITING_APPROVAL.value  # the duplicate did not spill over

    # Approving the whole wave now reaches only the VM still waiting.
    answer = stack.operate(OperatorAction(at_hours=0, action="approve", by="bob@contoso.example"))
    assert answer["approved"] == [vm_instance_id(stack.request_id, stack.seeded.instance_id("vm-001"))]
    assert list(answer["refused"]) == [first]  # reported with its state, not approved
    outcome = stack.run()
    assert outcome.summary is not None
    assert {vm.state for vm in outcome.summary.vms} == {S.COMPLETED}
    by = {stack.names[p.instance_id]: p.approved_by for p in outcome.progress}
    assert by == {"vm-000": "alice@contoso.example", "vm-001": "bob@contoso.example"}
    assert stack.site_recovery.count_requests(operation=Operation.FAILOVER) == 2
    assert stack.site_recovery.count_requests(operation=Operation.ENABLE) == 2


def test_cancel_approve_and_resubmit_after_completion_change_nothing(gated: LocalStack) -> None:
    stack = gated
    wave_id = wave_instance_id(stack.request_id)
    if not stack.finished():
        stack.operate(OperatorAction(at_hours=0, action="approve", by="bob@contoso.example"))
        stack.run()
    before = stack.host.status(wave_id)
    assert before is not None and before.runtime_status == "Completed"
    events_before = len(list(stack.events.read()))
    requests_before = len(stack.site_recovery.requests)

    for action, vm in (("cancel", None), ("cancel", "vm-000"), ("approve", None)):
        answer = stack.operate(OperatorAction(at_hours=0, action=action, by="mallory", vm=vm))  # type: ignore[arg-type]
        assert answer["http_status"] == 409, answer
        assert answer.get("approved", answer.get("cancelled", [])) == [], answer
    stack.submit()  # the same request again, under a new message id
    stack.submit(message_id=stack.request_id)  # and the very same message
    stack.host.run_until_idle(horizon=timedelta(hours=2))

    after = stack.host.status(wave_id)
    assert after is not None
    assert (after.runtime_status, after.output) == (before.runtime_status, before.output)
    assert [_vm_state(stack, n) for n in ("vm-000", "vm-001")] == [S.COMPLETED.value] * 2
    assert len(list(stack.events.read())) == events_before
    assert len(stack.site_recovery.requests) - requests_before <= 2  # at most the health timer's listing
    assert stack.host.dead_letters("migration-requests") == []


STORM_THROTTLES = {"prepare_network": 4, "prepare_guest": 4, "install_agent": 3, "command_watch": 3, "stop_source": 3}


def _storm_scenario(count: int) -> Scenario:
    behaviour = {f"vm-{i:03d}": {"aws_throttles": STORM_THROTTLES} for i in range(count)}
    return small_scenario("reliability-storm", count, behaviour=behaviour)


def _site_recovery_storm(stack: LocalStack) -> None:
    """Every kind of Site Recovery call is throttled or refused, many times over, for whichever VM comes next."""
    for operation, kind, times in [
        (Operation.ENABLE, FaultKind.THROTTLE, 30),
        (Operation.LIST_JOBS, FaultKind.THROTTLE, 40),  # the replication watch (jobs are not polled per VM)
        (Operation.LIST_MACHINES, FaultKind.UNAVAILABLE, 20),
        (Operation.TEST_FAILOVER, FaultKind.CONFLICT, 20),
        (Operation.FAILOVER, FaultKind.THROTTLE_NO_RETRY_AFTER, 20),
        (Operation.LIST_ITEMS, FaultKind.UNAVAILABLE, 10),
    ]:
        stack.site_recovery.inject(RequestFault(kind=kind, operation=operation, times=times, retry_after_seconds=15))


@pytest.mark.slow
def test_a_throttling_storm_on_every_cloud_api_for_many_vms_still_migrates_them_all(tmp_path: Path) -> None:
    count = 20
    with wave(_storm_scenario(count), tmp_path, on_open=_site_recovery_storm) as run:
        assert run.outcome.runtime_status == "Completed"
        states = Counter(vm.state for vm in run.results.values())
        assert states == Counter({S.COMPLETED: count}), [vm.error for vm in run.results.values() if vm.error]
        assert all(left == 0 for left in run.stack.invoker.throttles.values())
        failures = Counter(r.status for r in run.stack.site_recovery.requests if r.status >= 400)
        assert failures[429] >= 50 and failures[503] >= 20 and failures[409] >= 10, failures
        assert run.stack.site_recovery.count_requests(operation=Operation.ENABLE, method="PUT") >= count
        assert {rule_key(r) for r in run.appliance_rules()} == {
            rule_key(r) for r in run.rules_before if r["GroupId"] == run.stack.seeded.appliance.security_group_id
        }


def test_a_lambda_throttling_storm_for_a_small_wave_is_ridden_out(tmp_path: Path) -> None:
    with wave(_storm_scenario(4), tmp_path, on_open=_site_recovery_storm) as run:
        assert {vm.state for vm in run.results.values()} == {S.COMPLETED}
        assert all(left == 0 for left in run.stack.invoker.throttles.values())


# --- the host killed at random points --------------------------------------------------------------------------


class _Ledger:
    """What reached AWS and Site Recovery per VM, across host restarts."""

    def __init__(self, stack: LocalStack) -> None:
        self.rules_created: dict[str, set[tuple[Any, ...]]] = {}
        self.stops: Counter[str] = Counter()
        self._lock = threading.Lock()
        invoke = stack.invoker.invoke

        def recording(function: str, event: dict[str, Any]) -> dict[str, Any]:
            payload = invoke(function, event)
            with self._lock:
                if function == "prepare_network":
                    for rule in payload.get("created", []):
                        key = (rule.get("group_id"), rule.get("port"), rule.get("cidr"), rule.get("source_group_id"))
                        self.rules_created.setdefault(event["migration_id"], set()).add(
                            (str(rule.get("rule_id")), *key)
                        )
                if function == "stop_source":
                    for change in payload.get("instances", []):
                        if change.get("previous_state") == "running":
                            self.stops[change["instance_id"]] += 1
            return payload

        stack.invoker.invoke = recording  # type: ignore[method-assign]


def _terminal_states(stack: LocalStack) -> dict[str, str]:
    outcome = stack.outcome(stack.clock.now())
    assert outcome.summary is not None, outcome.runtime_status
    return {stack.names[vm.instance_id]: vm.state.value for vm in outcome.summary.vms}


def _crash_scenario() -> Scenario:
    behaviour: dict[str, Any] = {
        "vm-003": {"site_recovery_faults": [{"kind": "job_failure", "operation": "test_failover"}]},
        "vm-007": {"guest": {"scripts": {"install-agent": {"result": "fail"}}}},
        "vm-011": {"aws_throttles": {"prepare_network": 2, "stop_source": 2}},
    }
    return small_scenario("reliability-crash", 50, behaviour=behaviour, max_parallel=20)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    with wave(_crash_scenario(), tmp_path_factory.mktemp("uninterrupted")) as run:
        return {name: result.state.value for name, result in run.results.items()}


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_a_wave_killed_at_random_points_ends_as_an_uninterrupted_one(
    tmp_path: Path, uninterrupted: dict[str, str], seed: int
) -> None:
    chooser = random.Random(seed)
    with LocalStack.open(_crash_scenario(), tmp_path) as stack:
        ledger = _Ledger(stack)
        stack.submit()
        for _ in range(chooser.randint(3, 8)):
            stack.host.run_until_idle(max_episodes=chooser.randint(20, 400), horizon=timedelta(hours=96))
            if stack.finished():
                break
            stack.restart_host()
        stack.run()
        states = _terminal_states(stack)
        differing = {name: state for name, state in states.items() if uninterrupted.get(name) != state}
        errors = {
            stack.names[p.instance_id]: p.error
            for p in stack.outcome(stack.clock.now()).progress
            if stack.names[p.instance_id] in differing
        }
        assert states == uninterrupted, errors
        enables = Counter(
            r.path.rsplit("/", 1)[-1]
            for r in stack.site_recovery.requests
            if r.operation is Operation.ENABLE and r.status < 300
        )
        assert enables and max(enables.values()) == 1, enables
        assert ledger.stops and max(ledger.stops.values()) == 1, ledger.stops
        for migration, rules in ledger.rules_created.items():
            per_permission = Counter(rule[1:] for rule in rules)
            assert max(per_permission.values()) == 1, (migration, rules)
