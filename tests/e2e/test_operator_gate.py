"""The operator's gate over the function app's HTTP API: approvals only in ``awaiting_approval`` and only from an
authenticated caller, cancels refused past the accepted failover unless a rollback is asked for; and what a VM
leaves when it will not cut over (``keep_replicating`` / ``roll_back``), adoption by a later request, the outcome
tag of a rejected VM, and a wave whose setup fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from local.clock import VirtualClock
from local.env.identity import local_principal_headers
from local.site_recovery.estate import FaultKind, Operation, RequestFault
from local.stack import LocalStack
from shared.aws_contracts import OUTCOME_TAG
from shared.lifecycle import VmState
from shared.pipeline import APPROVAL_EVENT, EventType
from shared.request import vm_instance_id

from .helpers import appliance_rules, by_name, item_operations, open_stack, run_wave, scenario, source, stages, wave

S = VmState


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-gate"), scenario("cutover")) as opened:
        yield opened


def _status(stack: LocalStack, name: str) -> dict[str, Any]:
    found = stack.host.status(vm_instance_id(stack.request_id, stack.seeded.instance_id(name)))
    return found.custom_status if found and isinstance(found.custom_status, dict) else {}


def _step_until(stack: LocalStack, done: Callable[[], bool], *, step: float = 60, hours: float = 48) -> None:
    """Run the host a virtual minute at a time until ``done()`` (so the test can act between episodes)."""
    limit = stack.clock.now() + timedelta(hours=hours)
    while not done():
        assert stack.clock.now() < limit, "the state was never reached"
        until = stack.clock.now() + timedelta(seconds=step)
        stack.host.run_until_idle(horizon=timedelta(seconds=step))
        if isinstance(stack.clock, VirtualClock):
            stack.clock.advance_to(until)


def _post(stack: LocalStack, action: str, body: dict[str, Any], *, authenticated: bool = True) -> tuple[int, Any]:
    headers = local_principal_headers() if authenticated else {}
    response = stack.host.invoke_http(f"waves/{stack.request_id}/{action}", "POST", body, headers=headers)
    return response.status_code, json.loads(response.get_body() or b"{}")


def test_approvals_only_while_awaiting_approval_and_only_from_the_authenticated_caller(stack: LocalStack) -> None:
    a, b = stack.seeded.instance_id("gate-a"), stack.seeded.instance_id("gate-b")
    stack.use_request(wave(stack, "e2e-gate-approve", ["gate-a", "gate-b"], approval="manual"))
    stack.submit()
    _step_until(stack, lambda: _status(stack, "gate-a").get("state") == S.INITIAL_REPLICATION.value)

    code, answer = _post(stack, "approve", {"by": "Ann", "vm": a})
    assert code == 409
    assert answer["error"].startswith(f"approve refused: VM {a} is initial_replication"), answer
    # An approval raised straight at the orchestration (Durable would keep it until the VM waits) counts for nothing.
    stack.host.raise_event(vm_instance_id(stack.request_id, a), APPROVAL_EVENT, {"approved": True, "by": "early"})

    _step_until(stack, lambda: all(_status(stack, n).get("state") == "awaiting_approval" for n in ("gate-a", "gate-b")))
    later = stack.clock.now() + timedelta(hours=2)
    _step_until(stack, lambda: stack.clock.now() >= later, step=900)
    assert _status(stack, "gate-a")["state"] == "awaiting_approval"  # the early approval did not cut it over

    code, answer = _post(stack, "approve", {"by": "Ann", "vm": a}, authenticated=False)
    assert (code, answer["error"].split(":")[0]) == (401, "approve"), answer
    code, answer = _post(stack, "approve", {"by": "Ann", "vm": a})
    assert (code, answer["approved"]) == (202, [vm_instance_id(stack.request_id, a)]), answer
    _step_until(stack, lambda: _status(stack, "gate-a").get("state") != "awaiting_approval")
    code, answer = _post(stack, "approve", {"by": "Bob"})  # the whole wave: B is approved, A reported
    assert code == 202, answer
    assert answer["approved"] == [vm_instance_id(stack.request_id, b)]
    assert list(answer["refused"]) == [a] and "not awaiting approval" in answer["refused"][a], answer

    outcome = stack.run(operator=[])
    progress = by_name(outcome)
    principal = local_principal_headers()
    for name, display in (("gate-a", "Ann"), ("gate-b", "Bob")):
        assert progress[name].state is S.COMPLETED
        assert (progress[name].approved_by, progress[name].approver_name) == (
            display,
            principal["X-MS-CLIENT-PRINCIPAL-NAME"],
        )
        assert progress[name].approver_id == principal["X-MS-CLIENT-PRINCIPAL-ID"]
    approvals = [
        e for e in stack.events.read() if e.type is EventType.VM_APPROVED and e.request_id == "e2e-gate-approve"
    ]
    assert sorted((e.instance_id, e.data["by"], e.data["principal_id"]) for e in approvals) == sorted(
        [(a, "Ann", principal["X-MS-CLIENT-PRINCIPAL-ID"]), (b, "Bob", principal["X-MS-CLIENT-PRINCIPAL-ID"])]
    )


def test_a_cancel_after_the_failover_was_accepted_is_refused_unless_a_rollback_is_asked(stack: LocalStack) -> None:
    c = stack.seeded.instance_id("gate-c")
    stack.use_request(wave(stack, "e2e-gate-cancel", ["gate-c"], approval="auto"))
    stack.submit()
    _step_until(stack, lambda: _status(stack, "gate-c").get("cutover") == "failed_over", step=15)

    code, answer = _post(stack, "cancel", {"by": "Ann", "vm": c})
    assert code == 409, answer
    assert answer["error"].startswith(f"cancel refused: VM {c} is migrating and Site Recovery accepted its failover")
    code, answer = _post(stack, "cancel", {"by": "Ann", "vm": c, "rollback": True})
    assert code == 202, answer

    outcome = stack.run(operator=[])
    progress = by_name(outcome)["gate-c"]
    assert progress.state is S.CANCELLED, progress
    assert "failover cancelled: the migrated VM was removed" in progress.rolled_back
    assert source(stack, "gate-c")["state"] == "running"
    assert stack.site_recovery.failed_over_vm("gate-c") is None
    actions = {Operation.FAILOVER, Operation.CANCEL_FAILOVER, Operation.COMMIT, Operation.REMOVE}
    done = [
        r.operation.value
        for r in stack.site_recovery.requests
        if r.operation in actions and f"/ec2-{c}" in r.path and r.status < 300
    ]
    assert done == ["failover", "cancel_failover", "remove"], done


def test_no_approval_keeps_replicating_and_a_later_request_adopts_the_replication(stack: LocalStack) -> None:
    instance_id = stack.seeded.instance_id("keep-appr")
    rules_before = appliance_rules(stack)
    outcome = run_wave(
        stack, wave(stack, "e2e-keep-approval", ["keep-appr"], approval="manual", approval_timeout_hours=2)
    )
    progress = by_name(outcome)["keep-appr"]
    assert progress.state is S.KEPT_REPLICATING, progress
    assert progress.error is not None and progress.error.code == "ApprovalTimedOut"
    assert "replication kept" in progress.detail
    assert item_operations(stack, instance_id) == ["enable", "test_failover", "test_failover_cleanup"]
    assert source(stack, "keep-appr")["state"] == "running"
    assert source(stack, "keep-appr")["tags"][OUTCOME_TAG] == "kept-replicating"
    # The temporary access is reverted, but not what replication goes through: 443/9443 to the appliance stay.
    added = [rule for rule in appliance_rules(stack) if rule not in rules_before]
    assert sorted(rule["FromPort"] for rule in added) == [443, 9443], added
    assert "kept 2 replication rule(s) to the appliance: replication goes on" in progress.rolled_back

    adopted = by_name(run_wave(stack, wave(stack, "e2e-adopt", ["keep-appr"], approval="auto")))["keep-appr"]
    assert adopted.state is S.COMPLETED, adopted
    # Enabled once, by the first request: the second found the protected item and went on from replicating.
    assert item_operations(stack, instance_id) == [
        *("enable", "test_failover", "test_failover_cleanup"),
        *("test_failover", "test_failover_cleanup", "failover", "commit", "remove"),
    ]
    durations = adopted.durations()
    assert durations[S.INITIAL_REPLICATION] == 0, durations
    assert "replicating" in stages(adopted)
    assert appliance_rules(stack) == rules_before  # the adopting request took the rules over and removed them


@pytest.mark.parametrize(
    ("name", "setting", "final"),
    [("keep-test", "keep_replicating", S.KEPT_REPLICATING), ("back-test", "roll_back", S.FAILED)],
)
def test_a_failed_test_migration_keeps_replicating_or_rolls_back(
    stack: LocalStack, name: str, setting: str, final: VmState
) -> None:
    instance_id = stack.seeded.instance_id(name)
    stack.site_recovery.inject(
        RequestFault(
            kind=FaultKind.JOB_FAILURE,
            operation=Operation.TEST_FAILOVER,
            machine=name,
            error_code="TestFailoverVmCreationFailed",
            error_message="The test VM could not be created",
        )
    )
    outcome = run_wave(stack, wave(stack, f"e2e-test-{setting.replace('_', '-')}", [name], on_test_failure=setting))
    progress = by_name(outcome)[name]
    assert progress.state is final, progress
    assert progress.error is not None and progress.error.code == "TestFailoverVmCreationFailed"
    kept = ["enable", "test_failover"]  # a failed test failover leaves nothing to clean up
    assert item_operations(stack, instance_id) == (kept if setting == "keep_replicating" else [*kept, "remove"])
    assert source(stack, name)["state"] == "running"


def test_a_rejected_vm_gets_its_outcome_tag(stack: LocalStack) -> None:
    outcome = run_wave(stack, wave(stack, "e2e-rejected", ["legacy"]))
    progress = by_name(outcome)["legacy"]
    assert progress.state is S.REJECTED, progress
    assert source(stack, "legacy")["tags"][OUTCOME_TAG] == "rejected"


def test_a_wave_whose_preflight_never_succeeds_ends_with_every_vm_failed(stack: LocalStack) -> None:
    names: list[str | dict[str, Any]] = ["f00", "f01"]
    for name in names:
        stack.invoker.throttles[("inventory", stack.seeded.instance_id(str(name)))] = 10**6
    try:
        outcome = run_wave(stack, wave(stack, "e2e-setup-fails", names))
    finally:
        stack.invoker.throttles.clear()
    assert outcome.summary is not None
    assert outcome.summary.counts == {"failed": 2}
    for result in outcome.summary.vms:
        assert result.error is not None
        assert (result.error.step, result.error.code) == (S.PREFLIGHT, "WaveSetupFailed")
        assert "[RetriesExhausted] preflight: gave up after" in result.error.message, result.error.message
    completed = [e for e in stack.events.read() if e.type is EventType.WAVE_COMPLETED]
    assert any(e.request_id == "e2e-setup-fails" and e.data["counts"] == {"failed": 2} for e in completed)
