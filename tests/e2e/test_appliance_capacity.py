"""The replication appliance's capacity through the whole pipeline (issue 18 item 4): one modernized appliance
protects at most 200 machines (Microsoft's appliance support matrix, "Sizing and capacity"). The fabric reports its
process server's ``protectedItemCount``; a wave bigger than the room left runs at most that many VMs at once and says
so (``wave.parallelism_capped``); with no room left, readiness refuses the wave with a gap naming the appliance, the
limit and the count. The emulated vault refuses any enable beyond the limit, so a wave that did not cap itself would
see its extra VMs fail.

Both Azure emulators sit behind one ARM limiter (same subscription, same principal), whose counts the stack
exposes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.site_recovery.estate import Operation
from local.stack import LocalStack
from shared.lifecycle import VmState
from shared.pipeline import EventType

from .helpers import open_stack, run_wave, wave

VMS = ["rcm-lin", "v2-lin", "repl-lin", "appr-lin"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-capacity")) as opened:
        yield opened


def _seed_protected(stack: LocalStack, first: int, last: int) -> None:
    """Machines of other waves, already replicating through the same appliance."""
    emulator = stack.site_recovery
    for index in range(first, last):
        name = f"other-{index:03d}"
        emulator.register_machine(name, f"10.9.{index // 250}.{index % 250 + 1}", f"0THER{index:03d}-0000", "linux")
        emulator.seed_protected_item(name)


def _protected(stack: LocalStack) -> int:
    fabric = stack.site_recovery.estate.fabrics[0]
    return int(stack.site_recovery._process_server_body(fabric)["protectedItemCount"])


def test_a_wave_bigger_than_the_room_left_runs_that_many_at_once_and_says_why(stack: LocalStack) -> None:
    _seed_protected(stack, 0, 198)
    assert _protected(stack) == 198
    outcome = run_wave(stack, wave(stack, "e2e-capacity-capped", VMS, max_parallel=10))
    assert outcome.summary is not None
    assert outcome.summary.counts == {"completed": len(VMS)}, [r.error for r in outcome.summary.vms]
    refused = [r for r in stack.site_recovery.requests if r.operation is Operation.ENABLE and r.status != 202]
    assert refused == []  # never more enables than the appliance had room for
    capped = [e for e in stack.events.read() if e.type is EventType.WAVE_PARALLELISM_CAPPED]
    assert len(capped) == 1
    assert capped[0].request_id == "e2e-capacity-capped"
    assert capped[0].data == {
        "value": 2,
        "limited_by": "appliance_capacity",
        "max_parallel": 10,
        "appliance_protected": 198,
        "appliance_limit": 200,
    }
    assert _protected(stack) == 198  # the wave's migrated VMs left the appliance
    # one ARM limiter in front of both emulators, its counts reported
    assert stack.site_recovery.arm_limits is stack.azure_resources.arm_limits is stack.arm_limits
    counts = stack.arm_limits.counts()
    assert counts["reads"].requests > 0 and counts["writes"].requests > 0


def test_a_full_appliance_fails_readiness_with_a_gap_naming_it_the_limit_and_the_count(stack: LocalStack) -> None:
    _seed_protected(stack, 198, 200)
    assert _protected(stack) == 200
    enables = stack.site_recovery.count_requests(operation=Operation.ENABLE)
    outcome = run_wave(stack, wave(stack, "e2e-capacity-full", VMS[:2]))
    assert outcome.summary is not None and outcome.summary.counts == {"failed": 2}
    for result in outcome.summary.vms:
        assert result.state is VmState.FAILED
        assert result.error is not None and result.error.code == "AzureNotReady"
        gap = next(reason for reason in result.reasons if "already protects" in reason)
        assert "replication appliance" in gap and "10.0.1.4" in gap
        assert "already protects 200 machines" in gap and "at most 200" in gap
    assert stack.site_recovery.count_requests(operation=Operation.ENABLE) == enables  # nothing was enabled
