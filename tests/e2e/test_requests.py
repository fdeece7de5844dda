"""What arrives on the queue: duplicates start one wave, bad messages are dead-lettered as Azure does it (retried to
the max delivery count, then the broker's generic reason; the trigger's cause in a ``request.rejected`` event),
busy instances are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from cli.dlq import rejection_causes
from functions.settings import REQUESTS_QUEUE
from local.app import REQUEST_QUEUE_OPTIONS
from local.host import MAX_DELIVERY_COUNT_EXCEEDED, QueueMessage
from local.scenario import OperatorAction
from local.stack import LocalStack
from shared.lifecycle import VmState
from shared.request import wave_instance_id

from .helpers import by_name, item_operations, open_stack, wave


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-requests")) as opened:
        yield opened


def _dead_letters(stack: LocalStack, message_id: str) -> list[QueueMessage]:
    return [m for m in stack.host.dead_letters(REQUESTS_QUEUE) if m.message_id == message_id]


def _cause(stack: LocalStack, message_id: str) -> str:
    return rejection_causes(stack.events.read()).get(message_id, "")


def test_the_same_request_twice_starts_one_wave_and_a_resubmission_starts_nothing(stack: LocalStack) -> None:
    request = wave(stack, "e2e-duplicate", ["dup-lin"])
    stack.use_request(request)
    stack.submit(message_id="first")
    stack.submit(message_id="first")  # duplicate detection on the message id
    stack.submit(message_id="second")  # same request, another message
    outcome = stack.run(operator=[])
    assert by_name(outcome)["dup-lin"].state is VmState.COMPLETED
    instance_id = stack.seeded.instance_id("dup-lin")
    assert [s.instance_id for s in stack.host.instances(prefix=wave_instance_id("e2e-duplicate"))] == [
        wave_instance_id("e2e-duplicate"),
        f"{wave_instance_id('e2e-duplicate')}-batch-0",
    ]
    assert len(stack.host.instances(prefix="vm-e2e-duplicate-")) == 1
    assert item_operations(stack, instance_id).count("enable") == 1
    finished = stack.host.status(wave_instance_id("e2e-duplicate"))
    requests_seen = len(stack.site_recovery.requests)
    lambda_calls = len(stack.invoker.history)

    stack.submit(message_id="after-the-wave")
    stack.host.run_until_idle()
    again = stack.host.status(wave_instance_id("e2e-duplicate"))
    assert again == finished
    assert len(stack.invoker.history) == lambda_calls
    assert [r.operation.value for r in stack.site_recovery.requests[requests_seen:]] == []
    assert not stack.host.dead_letters(REQUESTS_QUEUE) or all(
        m.message_id not in {"first", "second", "after-the-wave"} for m in stack.host.dead_letters(REQUESTS_QUEUE)
    )


@pytest.mark.parametrize(
    ("message_id", "body", "field"),
    [
        ("not-json", b"{this is not json", "JSON"),
        ("bad-parallel", "max_parallel", "max_parallel"),
        ("unknown-field", "colour", "colour"),
    ],
)
def test_a_malformed_message_is_dead_lettered_after_the_max_delivery_count_and_its_cause_published(
    stack: LocalStack, message_id: str, body: bytes | str, field: str
) -> None:
    before = len(stack.host.instances())
    if isinstance(body, str):
        request = stack.resolve(wave(stack, f"e2e-{message_id}", ["rcm-lin"]))
        request[body] = 0 if body == "max_parallel" else "blue"
        body = json.dumps(request).encode()
    stack.host.send(REQUESTS_QUEUE, body, message_id=message_id, content_type="application/json")
    stack.host.run_until_idle(advance_clock=False)
    [dead] = _dead_letters(stack, message_id)
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead.delivery_count == REQUEST_QUEUE_OPTIONS.max_delivery_count
    assert _cause(stack, message_id).startswith("InvalidRequest: ")
    assert field in _cause(stack, message_id)
    assert len(stack.host.instances()) == before


def test_an_instance_already_in_a_running_wave_is_refused(stack: LocalStack) -> None:
    stack.use_request(wave(stack, "e2e-busy-a", ["rcm-lin"], approval="manual"))
    stack.submit()
    stack.host.run_until_idle(horizon=timedelta(minutes=30))
    busy = stack.resolve(wave(stack, "e2e-busy-b", ["rcm-lin", "rcm-win"]))
    stack.host.send(REQUESTS_QUEUE, json.dumps(busy).encode(), message_id="busy-b", content_type="application/json")
    stack.host.run_until_idle(advance_clock=False)
    [dead] = _dead_letters(stack, "busy-b")
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    cause = _cause(stack, "busy-b")
    assert cause.startswith("InstanceInAnotherWave: ")
    assert stack.seeded.instance_id("rcm-lin") in cause
    assert "e2e-busy-a" in cause
    assert stack.host.status(wave_instance_id("e2e-busy-b")) is None
    # The first wave is unaffected; the operator cancels it to finish.
    outcome = stack.run(operator=[OperatorAction(at_hours=0, action="cancel")])
    assert by_name(outcome)["rcm-lin"].state is VmState.CANCELLED


def test_a_select_request_resolves_against_the_emulated_ec2_as_submit_does(stack: LocalStack) -> None:
    """`select:` (documented in the README) resolves locally as against AWS: matching instances, never the appliance."""
    request = {k: v for k, v in wave(stack, "e2e-select", []).items() if k != "vms"}
    request["select"] = {"filters": {"tag:Name": ["rcm-lin", "rcm-win"]}}
    resolved = stack.resolve(request)
    wanted = sorted(stack.seeded.instances[name].instance_id for name in ("rcm-lin", "rcm-win"))
    assert [vm["instance_id"] for vm in resolved["vms"]] == wanted
    assert "select" not in resolved
    appliance = stack.seeded.appliance.instance_id
    request["select"] = {
        "filters": {"instance-type": sorted({i.instance_type for i in stack.scenario.estate.instances})}
    }
    assert appliance not in {vm["instance_id"] for vm in stack.resolve(request)["vms"]}
