"""Orchestrators replayed in worker processes (FUNCTIONS_WORKER_PROCESS_COUNT > 1) decide exactly what they decide
in the host's process: same outputs, same histories; the replays ran in the workers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from local.host import LocalHost, VirtualClock
from local.host.workers import OrchestratorWorkers
from tests.local_host.conftest import PATTERNS_APP


def _run(state: Path, processes: int) -> tuple[Any, list[Any], int, int]:
    with LocalHost.open(PATTERNS_APP, state, clock=VirtualClock(), worker_processes=processes) as host:
        wave = host.start("wave", {"vms": 24, "steps": 3}, instance_id="wave-1")
        chain = host.start("chaining", None, instance_id="chain-1")
        host.run_until_idle()
        children = [host.status(f"wave-1-vm-{i}", show_history=True) for i in range(24)]
        outputs = [host.status(wave), host.status(chain)]
        histories = [[e["EventType"] for e in child.history or []] for child in children if child]
        usage = host.worker_usage()
        assert len({u.pid for u in usage} - {os.getpid()}) == (processes if processes > 1 else 0)
        return (
            [(s.runtime_status, s.output) for s in outputs if s],
            histories,
            host.stats.episodes,
            host.stats.worker_replays,
        )


def test_replays_in_two_worker_processes_decide_what_the_host_decides(tmp_path: Path, app_module: Any) -> None:
    alone = _run(tmp_path / "alone", 1)
    shared = _run(tmp_path / "shared", 2)
    assert alone[0] == shared[0] and alone[0][0] == ("Completed", {"vms": 24})
    assert alone[1] == shared[1]  # each child's history, event by event (the wave's own depends on arrival order)
    assert alone[3] == 0 and shared[3] > alone[2] // 2  # most replays ran in the workers (one-instance batches here)


def test_a_worker_that_dies_mid_batch_is_replaced_and_its_replays_run_in_the_host(tmp_path: Path) -> None:
    replayed_here: list[str] = []

    def here(name: str, body: str) -> tuple[dict[str, Any] | None, str | None]:
        replayed_here.append(name)
        return None, "replayed in the host"

    workers = OrchestratorWorkers(PATTERNS_APP, 2, fallback=here)
    try:
        workers.replay_all([])
        first = workers._started()[0]
        first.process.kill()
        first.process.join()
        answers = workers.replay_all([("no_such_orchestrator", "{}")] * 4)
        assert replayed_here == ["no_such_orchestrator"] * 2  # the dead worker's half
        assert [a[1] for a in answers[:2]] == ["replayed in the host"] * 2
        assert all(a[0] is None and a[1] for a in answers[2:])  # the live worker's: it names the missing function
        assert workers._workers[0].process.is_alive()  # replaced
    finally:
        workers.close()


def test_a_worker_count_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="worker_processes"):
        LocalHost(PATTERNS_APP, tmp_path, worker_processes=0)
