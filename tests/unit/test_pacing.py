"""A wave starts its VMs one by one (shared.pacing), so their calls stay inside the clouds' rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.pacing import START_GROUP_SECONDS, START_INTERVAL_SECONDS, start_groups, start_slots

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_vms_of_one_launch_start_an_interval_apart() -> None:
    slots, next_free = start_slots(T0, T0, 3, 2.0)
    assert slots == [T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=4)]
    assert next_free == T0 + timedelta(seconds=6)


def test_a_second_launch_at_the_same_time_continues_after_the_first() -> None:
    first, next_free = start_slots(T0, T0, 2, 1.0)
    second, _ = start_slots(T0, next_free, 2, 1.0)
    assert second[0] == first[-1] + timedelta(seconds=1)


def test_a_launch_after_a_quiet_spell_starts_now_not_in_the_past() -> None:
    later = T0 + timedelta(hours=2)
    slots, _ = start_slots(later, T0 + timedelta(seconds=5), 1, 1.0)
    assert slots == [later]


def test_the_default_keeps_security_group_calls_under_ec2s_refill() -> None:
    # up to 2 rule mutations per VM start (replication, discovery) against EC2's refill of 5 per second
    assert 2 / START_INTERVAL_SECONDS <= 5


def test_starts_are_grouped_by_the_span_each_group_at_its_earliest_slot() -> None:
    slots, _ = start_slots(T0, T0, 25, 1.0)
    groups = start_groups(list(reversed(slots)), 10.0)  # any order in, earliest first out
    assert [start for start, _ in groups] == [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]
    assert [len(members) for _, members in groups] == [10, 10, 5]
    assert sorted(i for _, members in groups for i in members) == list(range(25))
    # no VM starts later than its slot, nor more than a span earlier
    reverse = list(reversed(slots))
    for start, members in groups:
        assert all(timedelta(0) <= reverse[i] - start < timedelta(seconds=10) for i in members)


def test_a_group_spends_at_most_twenty_of_the_security_group_bucket_s_burst_of_fifty() -> None:
    # up to 2 rule mutations per VM start, the VMs of a group start together; EC2's burst is 50
    assert 2 * START_GROUP_SECONDS / START_INTERVAL_SECONDS <= 20
