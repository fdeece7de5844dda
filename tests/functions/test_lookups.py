"""Operator and queue lookups cost O(VMs asked), not O(task hub history) (issue 16, item 10).

The real ``DurableOrchestrationClient`` talks to the local host's client API; every status lookup and every
listing the host serves is counted while the task hub holds a short and then a long history.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import azure.durable_functions as df
import pytest

from functions import operations
from functions.orchestrators import WAVE_ORCHESTRATOR
from functions.triggers import queue
from local.app import APP_PATH, DEFAULT_APP_SETTINGS, app_settings
from local.host import LocalHost, VirtualClock
from local.host.loop import run_on_loop
from shared.request import MigrationRequest, claim_instance_id, parse_request, vm_instance_id, wave_instance_id
from tests.unit.requests import request

VMS = [f"i-0c{n:015x}" for n in range(1, 4)]


@pytest.fixture
def host(tmp_path) -> Iterator[LocalHost]:
    with (
        app_settings(DEFAULT_APP_SETTINGS),
        LocalHost.open(APP_PATH, tmp_path / "host", clock=VirtualClock()) as opened,
    ):
        yield opened


def _counting(host: LocalHost, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    for name in ("status", "instances"):
        original = getattr(host, name)

        def counted(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(host, name, counted)
    return calls


def _client(host: LocalHost) -> df.DurableOrchestrationClient:
    return df.DurableOrchestrationClient(host.client_binding_json)


def _request(request_id: str, vms: list[str]) -> MigrationRequest:
    body = request(
        request_id=request_id, vms=[{"instance_id": vm, "target_vm_name": f"vm-{n}"} for n, vm in enumerate(vms)]
    )
    return parse_request(json.dumps(body).encode())


ANN = operations.Caller(principal_id="local:ann", principal_name="ann")


def _history(host: LocalHost, size: int, offset: int) -> None:
    """Instances of old waves: a wave, and per VM its orchestration and its claim (never run: status is enough)."""
    for n in range(offset, offset + size):
        old = f"old-{n}"
        ec2 = f"i-0d{n:015x}"
        host.start(
            WAVE_ORCHESTRATOR, {"request": {"request_id": old, "vms": [{"instance_id": ec2}]}}, wave_instance_id(old)
        )
        host.start("migrate_vm", {"n": n}, vm_instance_id(old, ec2))
        host.start(queue.CLAIM_ORCHESTRATOR, {"request_id": old, "instance_id": ec2}, claim_instance_id(ec2))


def _measure(host: LocalHost, calls: Counter[str]) -> dict[str, Counter[str]]:
    client = _client(host)
    incoming = _request("w-new", [*VMS, "i-0d000000000000002"])  # the last one is held by old-2
    measured = {}
    for name, lookup in {
        "queue": lambda: queue._instances_in_other_waves(client, incoming),
        "status": lambda: operations.wave_status(client, "w-live"),
        "approve": lambda: operations.approve(client, "w-live", ANN),
        "cancel": lambda: operations.cancel(client, "w-live", ANN, VMS[0]),
    }.items():
        calls.clear()
        run_on_loop(lookup(), timeout=60)
        measured[name] = Counter(calls)
    return measured


def test_lookups_do_not_grow_with_the_task_hubs_history(host, monkeypatch):
    live = _request("w-live", VMS)
    host.start(WAVE_ORCHESTRATOR, {"request": live.model_dump(mode="json")}, wave_instance_id("w-live"))
    for vm in VMS[:2]:  # the third VM has not started yet
        host.start("migrate_vm", {"vm": vm}, vm_instance_id("w-live", vm))
    _history(host, 5, offset=0)
    calls = _counting(host, monkeypatch)

    short = _measure(host, calls)
    _history(host, 400, offset=5)
    long = _measure(host, calls)

    assert long == short
    # No listing of the task hub: one listing call returns every instance ever run, so its cost is the history.
    assert all(counted["instances"] == 0 for counted in long.values())
    # Per VM asked: the queue reads each VM's claim, and for the held one its VM orchestration.
    assert short["queue"]["status"] == len(VMS) + 1 + 1
    # The wave (with its input), then each of its VMs.
    assert short["status"]["status"] == 1 + len(VMS)
    assert short["approve"]["status"] == 1 + len(VMS)
    assert short["cancel"]["status"] == 1


def test_the_claim_lookup_still_refuses_an_instance_in_another_active_wave(host):
    client = _client(host)
    _history(host, 3, offset=0)  # old-0..2 hold i-0d0..2; their VM orchestrations are still Pending (active)
    host.start(WAVE_ORCHESTRATOR, {"request": {"request_id": "queued", "vms": []}}, wave_instance_id("queued"))
    host.start(
        queue.CLAIM_ORCHESTRATOR,
        {"request_id": "queued", "instance_id": "i-0e000000000000001"},
        claim_instance_id("i-0e000000000000001"),
    )
    host.start(
        queue.CLAIM_ORCHESTRATOR,
        {"request_id": "gone", "instance_id": "i-0e000000000000002"},
        claim_instance_id("i-0e000000000000002"),
    )

    asked = _request(
        "w-new", ["i-0d000000000000001", "i-0e000000000000001", "i-0e000000000000002", "i-0e000000000000003"]
    )
    busy, claimed = run_on_loop(queue._instances_in_other_waves(client, asked), timeout=60)

    assert busy == [
        "i-0d000000000000001 is already migrating in vm-old-1-i-0d000000000000001",
        "i-0e000000000000001 is waiting to migrate in wave-queued",  # claimed, its wave active, its VM not started yet
    ]  # ...02: the claim's request has no wave any more; ...03: never claimed
    assert claimed == set()


def test_the_claim_orchestrator_is_registered_under_the_name_the_trigger_starts():
    import function_app  # noqa: F401 - registers the blueprints

    assert queue.claim_instance._function._name == queue.CLAIM_ORCHESTRATOR
