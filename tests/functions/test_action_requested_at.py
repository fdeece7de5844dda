"""A Site Recovery action's answer carries when the orchestration asked for it: the job it created cannot have
started earlier, so the replication watch reads the vault's job list from there (shared.watch.JOB_LOOKBACK)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.activities.site_recovery import ActionStarted
from functions.workflows.replication_steps import ReplicationSteps
from shared.site_recovery import JobRef, ProtectedItemRef, VaultRef

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
VAULT = VaultRef(subscription_id="sub", resource_group="rg", vault_name="vault")
ITEM = ProtectedItemRef(vault=VAULT, fabric_name="f", container_name="c", item_name="ec2-i-1")


class _Orchestration:
    """What ``start_action`` uses of a VM's orchestration: the time, and ``call`` (one activity, its answer)."""

    def __init__(self) -> None:
        self.now = T0

    def call(self, activity: Any, payload: Any, result_type: Any, policy: Any) -> Generator[Any, Any, Any]:
        answer = yield ("activity", activity)
        return result_type.model_validate(answer)


def test_the_action_answer_carries_the_time_it_was_asked_not_the_time_it_answered() -> None:
    orchestration = _Orchestration()
    flow = ReplicationSteps.start_action(orchestration, "enable_replication", ITEM)  # type: ignore[arg-type]
    assert next(flow) == ("activity", "enable_replication")
    orchestration.now = T0 + timedelta(minutes=4)  # the answer comes back in a later episode
    answer = {"item": ITEM.model_dump(mode="json"), "job": JobRef(vault=VAULT, job_name="job-1").model_dump()}
    try:
        flow.send(answer)
    except StopIteration as done:
        started: ActionStarted = done.value
    assert started.requested_at == T0
    assert started.job is not None and started.job.job_name == "job-1"
