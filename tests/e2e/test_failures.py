"""Waves that do not go to plan: approval timeout, operator cancel, a failed migration after the source stopped.

Each ends with the VM rolled back: replication stopped, the security group rules gone, the source running.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.scenario import OperatorAction
from local.site_recovery.estate import FaultKind, Operation, RequestFault
from local.stack import LocalStack
from shared.aws_contracts import OUTCOME_TAG
from shared.lifecycle import VmState

from .helpers import appliance_rules, by_name, item_operations, lambda_results, open_stack, run_wave, source, wave


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-failures")) as opened:
        yield opened


def test_approval_timeout_fails_at_awaiting_approval_and_leaves_the_source_intact(stack: LocalStack) -> None:
    rules_before = appliance_rules(stack)
    outcome = run_wave(
        stack,
        wave(
            stack,
            "e2e-approval-timeout",
            ["appr-lin"],
            approval="manual",
            approval_timeout_hours=2,
            on_no_approval="roll_back",
        ),
    )
    progress = by_name(outcome)["appr-lin"]
    instance_id = stack.seeded.instance_id("appr-lin")
    assert progress.state is VmState.FAILED
    assert progress.error is not None
    assert (progress.error.step, progress.error.code) == (VmState.AWAITING_APPROVAL, "ApprovalTimedOut")
    waited = progress.stages[-1].at - next(s.at for s in progress.stages if s.state is VmState.AWAITING_APPROVAL)
    assert waited.total_seconds() >= 2 * 3600
    assert item_operations(stack, instance_id) == ["enable", "test_failover", "test_failover_cleanup", "remove"]
    assert lambda_results(stack, "stop_source", instance_id) == []
    assert source(stack, "appr-lin")["state"] == "running"
    assert source(stack, "appr-lin")["tags"][OUTCOME_TAG] == "failed"
    assert appliance_rules(stack) == rules_before


def test_cancel_during_initial_replication_rolls_back(stack: LocalStack) -> None:
    rules_before = appliance_rules(stack)
    outcome = run_wave(
        stack,
        wave(stack, "e2e-cancel", ["canc-lin"], approval="manual"),
        operator=[OperatorAction(at_hours=0.5, action="cancel", by="bob@contoso.example")],
    )
    progress = by_name(outcome)["canc-lin"]
    instance_id = stack.seeded.instance_id("canc-lin")
    assert progress.state is VmState.CANCELLED
    assert progress.error is not None
    assert progress.error.step is VmState.INITIAL_REPLICATION
    assert "bob@contoso.example" in progress.error.message
    assert "test_migrating" not in [stage.state.value for stage in progress.stages]
    assert item_operations(stack, instance_id) == ["enable", "remove"]
    assert "replication stopped" in progress.rolled_back
    assert source(stack, "canc-lin")["state"] == "running"
    assert source(stack, "canc-lin")["tags"][OUTCOME_TAG] == "cancelled"
    assert appliance_rules(stack) == rules_before


def test_failed_migration_after_the_source_stopped_starts_it_again(stack: LocalStack) -> None:
    rules_before = appliance_rules(stack)
    stack.site_recovery.inject(
        RequestFault(
            kind=FaultKind.JOB_FAILURE,
            operation=Operation.FAILOVER,
            machine="fail-lin",
            error_code="FailoverVmCreationFailed",
            error_message="The target VM could not be created",
        )
    )
    outcome = run_wave(stack, wave(stack, "e2e-failover-fails", ["fail-lin"]))
    progress = by_name(outcome)["fail-lin"]
    instance_id = stack.seeded.instance_id("fail-lin")
    assert progress.state is VmState.FAILED
    assert progress.error is not None
    assert (progress.error.step, progress.error.code) == (VmState.MIGRATING, "FailoverVmCreationFailed")
    assert item_operations(stack, instance_id) == [
        "enable",
        "test_failover",
        "test_failover_cleanup",
        "failover",
        "remove",
    ]
    assert len(lambda_results(stack, "start_source", instance_id)) == 1
    assert any(line.startswith("source started again") for line in progress.rolled_back), progress.rolled_back
    described = source(stack, "fail-lin")
    assert described["state"] == "running"
    assert described["tags"][OUTCOME_TAG] == "failed"
    assert appliance_rules(stack) == rules_before
