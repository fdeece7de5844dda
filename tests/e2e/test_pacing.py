"""A wave starts its VMs one every ``start_interval_seconds`` (shared.pacing): the security-group calls of their
first step are spread over time instead of spending EC2's burst at one instant."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from shared.lifecycle import VmState
from shared.pacing import START_INTERVAL_SECONDS

from .helpers import open_stack, run_wave, wave


def test_the_vms_of_a_wave_start_their_changes_one_interval_apart(tmp_path: Path) -> None:
    with open_stack(tmp_path) as stack:
        names = ["rcm-lin", "v2-lin", "rcm-win"]
        outcome = run_wave(stack, wave(stack, "e2e-paced", names, mode="replicate_only"))
    starts = sorted(
        next(stage.at for stage in progress.stages if stage.state is VmState.PREPARING_NETWORK)
        for progress in outcome.progress
    )
    assert len(starts) == len(names)
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(starts)]
    assert min(gaps) >= START_INTERVAL_SECONDS >= 1.0, gaps
    assert all(progress.state is VmState.COMPLETED for progress in outcome.progress), outcome.progress
