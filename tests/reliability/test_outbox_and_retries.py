"""Events never fail a migration, and only transient errors are retried — on the local stack, end to end.

* A 30-minute outage of the event topic in the middle of a 20-VM wave: every VM completes, and afterwards every
  event is in the log exactly once, in an unbroken sequence per orchestration (issue 16, item 5).
* A bug in an activity (a ``KeyError`` where a Lambda answer is read) fails the VM at once, after one attempt,
  with the cause; a throttled Lambda is retried with a ``step.retried`` event per retry at the AWS policy's gaps
  (5, 10, 20, 40 s) and, when the policy gives up, fails the VM with ``RetriesExhausted`` (issue 16, item 6).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from functions import retry
from local.scenario import Scenario
from local.stack import LocalStack
from shared.lifecycle import VmState
from shared.pipeline import EventType, MigrationEvent
from shared.request import vm_instance_id, wave_instance_id
from tests.reliability.conftest import small_scenario, wave

S = VmState

OUTAGE_AFTER_HOURS = 1.0
OUTAGE_MINUTES = 30


def _with_outage(scenario: Scenario) -> Scenario:
    outage = {"outages": [{"after_hours": OUTAGE_AFTER_HOURS, "minutes": OUTAGE_MINUTES}]}
    return Scenario.model_validate({**scenario.model_dump(mode="json"), "event_topic": outage})


def _logged(stack: LocalStack) -> list[MigrationEvent]:
    """Every line of the event log as written (not through the reader), duplicates included."""
    lines = (stack.state_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [MigrationEvent.model_validate(json.loads(line)) for line in lines if line.strip()]


def test_a_thirty_minute_topic_outage_mid_wave_fails_no_vm_and_loses_no_event(tmp_path: Path) -> None:
    scenario = _with_outage(small_scenario("reliability-outage", 20))
    opened: dict[str, Any] = {}
    with wave(scenario, tmp_path, on_open=lambda stack: opened.update(at=stack.clock.now())) as run:
        stack = run.stack
        outage_start = opened["at"] + timedelta(hours=OUTAGE_AFTER_HOURS)
        outage_end = outage_start + timedelta(minutes=OUTAGE_MINUTES)

        # Every VM completed, and the wave ended after the outage: it was in the middle of the wave.
        assert {name: vm.state for name, vm in run.results.items()} == {f"vm-{i:03d}": S.COMPLETED for i in range(20)}
        assert run.outcome.summary is not None and run.outcome.summary.finished_at > outage_end
        assert stack.events.refused > 0, "no publish met the outage: the scenario fault did not fire"

        logged = _logged(stack)
        # Exactly once: no event id twice in the log.
        assert [i for i, n in Counter(e.event_id for e in logged).items() if n > 1] == []
        # Nothing lost: each orchestration's events are numbered 1..n without a gap.
        by_orchestration: dict[str, list[MigrationEvent]] = defaultdict(list)
        for event in logged:
            by_orchestration[event.orchestration_id].append(event)
        vm_ids = {vm_instance_id(stack.request_id, stack.seeded.instance_id(f"vm-{i:03d}")) for i in range(20)}
        assert vm_ids | {wave_instance_id(stack.request_id)} == set(by_orchestration)
        for orchestration, events in by_orchestration.items():
            numbers = sorted(int(e.event_id.rsplit(":", 1)[1]) for e in events)
            assert numbers == list(range(1, len(numbers) + 1)), orchestration
        # ... and every state each VM went through was published.
        for progress in run.outcome.progress:
            orchestration = vm_instance_id(stack.request_id, progress.instance_id)
            published = [e.state for e in by_orchestration[orchestration] if e.type is EventType.VM_STATE_CHANGED]
            entered = [stage.state.value for stage in progress.stages if stage.state is not S.QUEUED]
            assert published == entered, orchestration
        # Events created during the outage were delivered after it.
        during = [e for e in logged if outage_start <= e.at < outage_end]
        assert during, "no event was created during the outage"
        waves = [e.type for e in by_orchestration[wave_instance_id(stack.request_id)]]
        assert waves.count(EventType.WAVE_STARTED) == 1 and waves.count(EventType.WAVE_COMPLETED) == 1
        print(
            f"outage {outage_start:%H:%M}-{outage_end:%H:%M}: {stack.events.refused} publishes refused, "
            f"{len(during)} events created during it, {len(logged)} events delivered once each"
        )


def _retried(stack: LocalStack, name: str) -> list[MigrationEvent]:
    orchestration = vm_instance_id(stack.request_id, stack.seeded.instance_id(name))
    return [e for e in _logged(stack) if e.orchestration_id == orchestration and e.type is EventType.STEP_RETRIED]


def _invocations(stack: LocalStack, function: str, name: str) -> int:
    instance_id = stack.seeded.instance_id(name)
    return sum(1 for c in stack.invoker.history if c.function == function and instance_id in c.event["instance_ids"])


def test_a_bug_fails_at_once_and_transient_errors_are_retried_visibly_at_the_policy_gaps(tmp_path: Path) -> None:
    scenario = small_scenario(
        "reliability-retries",
        3,
        behaviour={
            "vm-001": {"aws_throttles": {"prepare_network": 3}},  # retried three times, then it works
            "vm-002": {"aws_throttles": {"prepare_network": 6}},  # outlasts the AWS policy's six attempts
        },
    )

    def plant_bug(stack: LocalStack) -> None:
        """vm-000's prepare_network answer is read as if it lacked a key: a programming error in the activity."""
        invoke = stack.invoker.invoke
        buggy = stack.seeded.instance_id("vm-000")

        def invoke_with_bug(function: str, event: dict[str, Any]) -> dict[str, Any]:
            answer = invoke(function, event)
            if function == "prepare_network" and buggy in event.get("instance_ids", ()):
                return {**answer, "pre_existing": answer["pre_existing_rules"]}  # the key is "pre_existing"
            return answer

        stack.invoker.invoke = invoke_with_bug  # type: ignore[method-assign]

    with wave(scenario, tmp_path, on_open=plant_bug) as run:
        stack = run.stack
        results = run.results

        bug = results["vm-000"]
        assert bug.state is S.FAILED and bug.error is not None
        assert (bug.error.step, bug.error.code) == (S.PREPARING_NETWORK, "KeyError")
        assert "pre_existing_rules" in bug.error.message and "PrepareNetworkEvent" in bug.error.message
        assert _invocations(stack, "prepare_network", "vm-000") == 1  # one attempt, no retry
        assert _retried(stack, "vm-000") == []
        assert run.instance_state("vm-000") == "running"

        assert results["vm-001"].state is S.COMPLETED
        retried = _retried(stack, "vm-001")
        assert [e.data["attempt"] for e in retried] == [1, 2, 3]
        assert [e.data["retry_in_seconds"] for e in retried] == [5, 10, 20]
        assert [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(retried)] == [5, 10]
        assert {e.data["code"] for e in retried} == {"ThrottlingException"}
        assert all("Rate exceeded" in e.data["cause"] and e.state == S.PREPARING_NETWORK.value for e in retried)
        assert _invocations(stack, "prepare_network", "vm-001") == 4

        gave_up = results["vm-002"]
        assert gave_up.state is S.FAILED and gave_up.error is not None
        assert (gave_up.error.step, gave_up.error.code) == (S.PREPARING_NETWORK, "RetriesExhausted")
        assert "gave up after 6 attempts" in gave_up.error.message and "Rate exceeded" in gave_up.error.message
        retried = _retried(stack, "vm-002")
        assert [e.data["attempt"] for e in retried] == [1, 2, 3, 4, 5]
        gaps = [retry.AWS_CALL.delay_after(n) for n in range(1, 5)]
        assert gaps == [5, 10, 20, 40]
        assert [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(retried)] == gaps
        assert _invocations(stack, "prepare_network", "vm-002") == retry.AWS_CALL.attempts == 6
