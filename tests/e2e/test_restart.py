"""The Functions host dies mid-wave and a new one starts on the same state: the wave ends as if nothing happened."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.site_recovery.estate import FaultKind, Operation, RequestFault
from local.stack import LocalStack, WaveOutcome

from .helpers import appliance_rules, by_name, item_operations, open_stack, run_wave, times_stopped, wave


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-restart")) as opened:
        yield opened


def _fail_failover(stack: LocalStack, machine: str) -> None:
    stack.site_recovery.inject(
        RequestFault(kind=FaultKind.JOB_FAILURE, operation=Operation.FAILOVER, machine=machine, error_code="Boom")
    )


def _results(outcome: WaveOutcome, names: list[str]) -> list[tuple[str, str | None, str | None]]:
    found = by_name(outcome)
    errors = {n: found[n].error for n in names}
    return [
        (found[n].state.value, e.step.value if (e := errors[n]) else None, e.code if (e := errors[n]) else None)
        for n in names
    ]


def test_host_restarts_mid_wave_end_with_the_same_outcome(stack: LocalStack) -> None:
    rules_before = appliance_rules(stack)
    plain: list[str | dict[str, Any]] = ["rcm-lin", {"instance": "rcm-win", "os_type": "windows"}, "canc-lin"]
    _fail_failover(stack, "canc-lin")
    uninterrupted = run_wave(stack, wave(stack, "e2e-steady", plain))

    crashed_names = ["v2-lin", "v2-win", "fail-lin"]
    _fail_failover(stack, "fail-lin")
    stack.use_request(wave(stack, "e2e-crashing", ["v2-lin", {"instance": "v2-win", "os_type": "windows"}, "fail-lin"]))
    stack.submit()
    for episodes in (3, 7, 11, 13, 17, 23):
        stack.host.run_until_idle(max_episodes=episodes)
        stack.restart_host()
    assert stack.host_restarts == 6
    crashed = stack.run(operator=[])
    assert crashed.runtime_status == "Completed"

    assert _results(crashed, crashed_names) == _results(uninterrupted, ["rcm-lin", "rcm-win", "canc-lin"])
    assert [state for state, _, _ in _results(crashed, crashed_names)] == ["completed", "completed", "failed"]
    for name in crashed_names:
        instance_id = stack.seeded.instance_id(name)
        operations = item_operations(stack, instance_id)
        assert operations.count("enable") == 1, (name, operations)
        assert times_stopped(stack, instance_id) == 1
    assert appliance_rules(stack) == rules_before  # nothing duplicated or left behind
