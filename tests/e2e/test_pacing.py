"""A wave starts its VMs paced, one every ``start_interval_seconds`` on average (shared.pacing), in groups of the
VMs whose slots fall within ``START_GROUP_SECONDS``: the security-group calls of their first step are spread over
time instead of spending EC2's burst at one instant, and no VM waits on a durable timer of its own to start."""

from __future__ import annotations

from pathlib import Path

from shared.lifecycle import VmState
from shared.pacing import START_GROUP_SECONDS, START_INTERVAL_SECONDS
from shared.request import vm_instance_id

from .helpers import open_stack, run_wave, wave

#: The estate's eleven VMs: in one batch (max_parallel 22), one more than a group holds at one VM a second.
NAMES = [
    *("rcm-lin", "rcm-win", "v2-lin", "v2-win", "test-lin", "test-win"),
    *("repl-lin", "appr-lin", "canc-lin", "fail-lin", "dup-lin"),
]


def test_the_vms_of_a_wave_start_their_changes_paced_in_groups(tmp_path: Path) -> None:
    with open_stack(tmp_path) as stack:
        outcome = run_wave(stack, wave(stack, "e2e-paced", NAMES, mode="replicate_only", max_parallel=22))
        woken = stack.host.stats.episodes_by_trigger
        inputs = [stack.host.status(vm_instance_id("e2e-paced", p.instance_id)) for p in outcome.progress]
    assert all(progress.state is VmState.COMPLETED for progress in outcome.progress), outcome.progress
    starts = sorted(
        next(stage.at for stage in progress.stages if stage.state is VmState.PREPARING_NETWORK)
        for progress in outcome.progress
    )
    assert len(starts) == len(NAMES)
    # the k-th start is never a group's span (or more) earlier than one-per-interval pacing would start it
    for k, start in enumerate(starts):
        ahead = (starts[0] - start).total_seconds() + k * START_INTERVAL_SECONDS
        assert ahead < START_GROUP_SECONDS, (k, starts)
    assert len(set(starts)) < len(starts)  # some VMs started together, in a group
    assert woken["migrate_batch: timer_fired"] >= 1, woken  # the batch waited for a later group's start ...
    # ... and started each VM when its time came: no VM has a start to wait for on a timer of its own
    assert all(status is not None and status.input["not_before"] is None for status in inputs)
