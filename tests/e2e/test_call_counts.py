"""Site Recovery calls per VM do not grow with the initial replication's duration: the orchestration waits on
events raised by one paged sweep per vault (health) and the replication watch (jobs, final sync), not on polls of
its own."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from local.scenario import VmBehaviour
from local.site_recovery.estate import MachineBehaviour
from local.stack import LocalStack

from .helpers import SWEEP_OPERATIONS, by_name, open_stack, run_wave, scenario, wave


def _calls(stack: LocalStack, request_id: str, name: str) -> tuple[Counter[str], Counter[str]]:
    first = len(stack.site_recovery.requests)
    outcome = run_wave(stack, wave(stack, request_id, [name]))
    assert by_name(outcome)[name].state.value == "completed"
    seen = stack.site_recovery.requests[first:]
    per_vm = Counter(r.operation.value for r in seen if r.operation not in SWEEP_OPERATIONS)
    sweep = Counter(r.operation.value for r in seen if r.operation in SWEEP_OPERATIONS)
    return per_vm, sweep


def test_calls_per_vm_are_the_same_for_one_hour_and_twenty_four_hours_of_initial_replication(tmp_path: Path) -> None:
    day = MachineBehaviour(initial_replication_seconds=24 * 3600)
    base = scenario()
    # The VM's own read of the site (its safety net) comes after a minute tick of the discovery watch has seen the
    # machine: the emulator shows it 120 s after the agent registered, the VM learns of the registration within a
    # tick of the replication watch.
    timings = base.timings.model_copy(update={"registration_first_poll": base.site_recovery.discovery_seconds + 60})
    estate = base.model_copy(update={"behaviour": {"v2-lin": VmBehaviour(replication=day)}, "timings": timings})
    with open_stack(tmp_path, estate) as stack:
        hour_calls, hour_sweep = _calls(stack, "e2e-ir-1h", "rcm-lin")
        day_calls, day_sweep = _calls(stack, "e2e-ir-24h", "v2-lin")
        woken = stack.host.stats.episodes_by_trigger
    print(f"per VM, 1 h: {dict(hour_calls)}; sweep pages {dict(hour_sweep)}")
    print(f"per VM, 24 h: {dict(day_calls)}; sweep pages {dict(day_sweep)}")
    # The discovery watch reads the fabric and the site's machines once a minute while the VM waits for discovery
    # (the emulator's discovery delay, 120 s from the agent's registration, which the VM learns of within a watch
    # tick): two or three reads, as the wait falls on the minute (the wave's readiness and topology read them once).
    discovery = ("get_fabric", "list_machines")
    assert {k: v for k, v in day_calls.items() if k not in discovery} == {
        k: v for k, v in hour_calls.items() if k not in discovery
    }
    for calls in (hour_calls, day_calls):
        assert calls["list_machines"] <= 4 and calls["get_fabric"] <= 5, calls
    # ... and it is the discovery watch that wakes the VMs, not their own safety-net reads of the site
    assert woken["migrate_vm: event_raised:machine_discovered"] == 2, woken
    # Jobs and the final sync are awaited on the watch's events: no get_job poll, one read of the recovery points
    # to confirm the final one (was: < 60 calls, 14 get_job and 8 recovery point polls per VM).
    assert "get_job" not in hour_calls and hour_calls["recovery_points"] == 1
    assert sum(hour_calls.values()) < 30
    # The health sweep is per page of the vault, on its schedule: it grows with time, not with VMs.
    assert day_sweep["list_vault_items"] > hour_sweep["list_vault_items"]
    # The watch reads the job list only while a VM waits for a job: not longer for a longer initial replication.
    assert day_sweep["list_jobs"] <= hour_sweep["list_jobs"] * 1.1
