"""A host reopened on its state directory continues its own timeline (its virtual clock never runs backwards)."""

from __future__ import annotations

from datetime import timedelta

from local.host import LocalHost, VirtualClock
from local.host.engine import COMPLETED
from local.host.history import parse_timestamp
from tests.local_host.conftest import PATTERNS_APP


def _stamps(host: LocalHost, instance_id: str) -> list:
    status = host.status(instance_id, show_history=True)
    assert status is not None
    return [parse_timestamp(e["Timestamp"]) for e in status.history]


def test_a_reopened_host_resumes_its_clock_from_the_store(tmp_path, app_module):
    state = tmp_path / "state"
    with LocalHost.open(PATTERNS_APP, state, clock=VirtualClock()) as first:
        first.advance(timedelta(hours=5))
        earlier = first.start("monitor", {"count": 0, "max": 2})
        first.run_until_idle()
        assert first.status(earlier).runtime_status == COMPLETED
        ended = first.clock.now()

    fresh = VirtualClock()  # starts at the epoch, hours before what the store holds
    assert fresh.now() < ended
    with LocalHost.open(PATTERNS_APP, state, clock=fresh) as reopened:
        assert reopened.clock.now() == ended
        later = reopened.start("chaining", None)
        reopened.run_until_idle()
        earlier_stamps = _stamps(reopened, earlier)
        later_stamps = _stamps(reopened, later)
        assert later_stamps == sorted(later_stamps)
        assert min(later_stamps) >= max(earlier_stamps)
        assert reopened.status(later).created_time >= reopened.status(earlier).last_updated_time


def test_an_empty_state_directory_keeps_the_given_start(tmp_path, app_module):
    clock = VirtualClock()
    start = clock.now()
    with LocalHost.open(PATTERNS_APP, tmp_path / "state", clock=clock) as host:
        assert host.clock.now() == start
