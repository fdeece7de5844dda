"""Replication health classification: levels, thresholds, stall detection, degradation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.health import (
    SEVERITY_ORDER,
    HealthAssessment,
    HealthErrorDetail,
    HealthLevel,
    HealthThresholds,
    ProgressSnapshot,
    ReplicationHealthInput,
    assess_health,
    degraded,
    severity_rank,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def delta(**changes: object) -> ReplicationHealthInput:
    """A healthy item in delta replication: RPO 2 min, recalculated a minute ago."""
    base: dict[str, object] = {
        "item_name": "vm-wave1-i-0abc",
        "replication_health": "Normal",
        "rpo_seconds": 120,
        "last_rpo_calculated_at": NOW - MINUTE,
        "initial_replication_progress_percent": 100,
        "now": NOW,
    }
    base.update(changes)
    return ReplicationHealthInput.model_validate(base)


def initial(progress: int, previous: ProgressSnapshot | None = None, **changes: object) -> ReplicationHealthInput:
    base: dict[str, object] = {
        "replication_health": "Normal",
        "initial_replication_progress_percent": progress,
        "previous": previous,
        "now": NOW,
    }
    base.update(changes)
    return ReplicationHealthInput.model_validate(base)


def snapshot(progress: int | None, last_progress_at: datetime, observed_at: datetime | None = None) -> ProgressSnapshot:
    return ProgressSnapshot(
        observed_at=observed_at or last_progress_at, progress_percent=progress, last_progress_at=last_progress_at
    )


# --- levels --------------------------------------------------------------------------------------------------


def test_healthy_delta_item() -> None:
    assessment = assess_health(delta())
    assert assessment.level is HealthLevel.HEALTHY
    assert assessment.reasons == []
    assert (assessment.rpo_seconds, assessment.progress_percent, assessment.phase) == (120, 100, "delta")


@pytest.mark.parametrize(
    ("reported", "level"),
    [
        ("Normal", HealthLevel.HEALTHY),
        ("Warning", HealthLevel.WARNING),
        ("Critical", HealthLevel.CRITICAL),
        ("", HealthLevel.HEALTHY),
    ],
)
def test_site_recovery_replication_health_maps_to_levels(reported: str, level: HealthLevel) -> None:
    assessment = assess_health(delta(replication_health=reported))
    assert assessment.level is level
    if level is not HealthLevel.HEALTHY:
        assert assessment.reasons == [f"Site Recovery reports replication health {reported}"]


def test_unrecognised_replication_health_is_a_warning_naming_it() -> None:
    assessment = assess_health(delta(replication_health="Degraded"))
    assert assessment.level is HealthLevel.WARNING
    assert "'Degraded'" in assessment.reasons[0]


def test_health_errors_raise_the_level_by_their_severity_and_info_is_ignored() -> None:
    errors = [
        HealthErrorDetail(
            code="78144", message="No app-consistent recovery point in the last 120 min", severity="Warning"
        ),
        HealthErrorDetail(code="0", message="Informational", severity="Info"),
    ]
    assessment = assess_health(delta(health_errors=errors))
    assert assessment.level is HealthLevel.WARNING
    assert assessment.reasons == ["health error 78144 (Warning): No app-consistent recovery point in the last 120 min"]

    errors.append(HealthErrorDetail(code="78025", message="Process server unreachable", severity="Error"))
    assessment = assess_health(delta(health_errors=errors))
    assert assessment.level is HealthLevel.CRITICAL
    assert assessment.reasons[0] == "health error 78025 (Error): Process server unreachable"  # most severe first
    assert len(assessment.reasons) == 2


# --- RPO thresholds -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rpo", "level"),
    [
        (0, HealthLevel.HEALTHY),
        (900, HealthLevel.HEALTHY),  # at the warning threshold: not above it
        (901, HealthLevel.WARNING),
        (3600, HealthLevel.WARNING),  # at the critical threshold
        (3601, HealthLevel.CRITICAL),
    ],
)
def test_rpo_threshold_boundaries(rpo: int, level: HealthLevel) -> None:
    assessment = assess_health(delta(rpo_seconds=rpo))
    assert assessment.level is level
    assert assessment.rpo_seconds == rpo


def test_rpo_reason_names_the_rpo_and_the_threshold() -> None:
    assert assess_health(delta(rpo_seconds=1250)).reasons == [
        "RPO 20 min 50 s is above the warning threshold of 15 min"
    ]
    assert assess_health(delta(rpo_seconds=5400)).reasons == ["RPO 1 h 30 min is above the critical threshold of 1 h"]


def test_custom_thresholds() -> None:
    thresholds = HealthThresholds(rpo_warning_seconds=60, rpo_critical_seconds=120, stall_after=timedelta(minutes=5))
    assert assess_health(delta(rpo_seconds=61, thresholds=thresholds)).level is HealthLevel.WARNING
    assert assess_health(delta(rpo_seconds=121, thresholds=thresholds)).level is HealthLevel.CRITICAL
    stale = delta(last_rpo_calculated_at=NOW - timedelta(minutes=6), thresholds=thresholds)
    assert assess_health(stale).level is HealthLevel.STALLED


def test_rpo_is_not_judged_during_initial_replication() -> None:
    assessment = assess_health(initial(40, rpo_seconds=50_000))
    assert assessment.level is HealthLevel.HEALTHY
    assert assessment.phase == "initial"


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValidationError, match="must not be below rpo_warning_seconds"):
        HealthThresholds(rpo_warning_seconds=600, rpo_critical_seconds=300)
    with pytest.raises(ValidationError, match="stall_after must be positive"):
        HealthThresholds(stall_after=timedelta(0))
    with pytest.raises(ValidationError):
        HealthThresholds(rpo_warning_seconds=0)


def test_input_needs_timezone_aware_times_and_a_sane_progress() -> None:
    with pytest.raises(ValidationError, match="now"):
        ReplicationHealthInput(now=datetime(2026, 11, 25, 12, 0))  # naive on purpose
    with pytest.raises(ValidationError, match="initial_replication_progress_percent"):
        ReplicationHealthInput(now=NOW, initial_replication_progress_percent=101)
    with pytest.raises(ValidationError, match="rpo_seconds"):
        ReplicationHealthInput(now=NOW, rpo_seconds=-1)


# --- stall detection: delta -------------------------------------------------------------------------------------


def test_delta_stalls_when_rpo_is_not_recalculated_for_longer_than_stall_after() -> None:
    at_limit = assess_health(delta(last_rpo_calculated_at=NOW - timedelta(minutes=30)))
    assert at_limit.level is HealthLevel.HEALTHY
    over = assess_health(delta(last_rpo_calculated_at=NOW - timedelta(minutes=30, seconds=1)))
    assert over.level is HealthLevel.STALLED
    assert over.reasons == [
        "no RPO recalculation for 30 min 1 s (the RPO was last calculated at 2026-11-25T11:29:59Z), longer than 30 min"
    ]


def test_delta_with_no_rpo_ever_stalls_after_stall_after_since_first_seen() -> None:
    first = assess_health(delta(rpo_seconds=None, last_rpo_calculated_at=None))
    assert first.level is HealthLevel.HEALTHY
    assert first.snapshot.last_progress_at == NOW
    later = NOW + timedelta(minutes=31)
    second = assess_health(delta(rpo_seconds=None, last_rpo_calculated_at=None, previous=first.snapshot, now=later))
    assert second.level is HealthLevel.STALLED
    assert "progress was last seen at 2026-11-25T12:00:00Z" in second.reasons[0]


def test_delta_recovers_when_the_rpo_is_recalculated() -> None:
    stalled = assess_health(delta(last_rpo_calculated_at=NOW - timedelta(hours=2)))
    assert stalled.level is HealthLevel.STALLED
    later = NOW + timedelta(minutes=10)
    recovered = assess_health(delta(last_rpo_calculated_at=later - MINUTE, previous=stalled.snapshot, now=later))
    assert recovered.level is HealthLevel.HEALTHY


def test_end_of_initial_replication_counts_as_progress_for_the_first_delta_sweep() -> None:
    last_initial = assess_health(initial(99, previous=snapshot(98, NOW - timedelta(minutes=5))))
    later = NOW + timedelta(minutes=20)
    first_delta = assess_health(
        delta(rpo_seconds=None, last_rpo_calculated_at=None, previous=last_initial.snapshot, now=later)
    )
    assert first_delta.level is HealthLevel.HEALTHY


# --- stall detection: initial ----------------------------------------------------------------------------------


def test_initial_replication_moving_is_healthy_and_resets_the_progress_time() -> None:
    assessment = assess_health(initial(45, previous=snapshot(30, NOW - timedelta(hours=3))))
    assert assessment.level is HealthLevel.HEALTHY
    assert assessment.phase == "initial"
    assert assessment.snapshot == ProgressSnapshot(observed_at=NOW, progress_percent=45, last_progress_at=NOW)


def test_initial_replication_first_sweep_starts_tracking() -> None:
    assessment = assess_health(initial(0))
    assert assessment.level is HealthLevel.HEALTHY
    assert assessment.snapshot.last_progress_at == NOW


def test_initial_replication_unchanged_for_longer_than_stall_after_is_stalled() -> None:
    since = NOW - timedelta(minutes=30)
    at_limit = assess_health(initial(42, previous=snapshot(42, since, observed_at=NOW - 5 * MINUTE)))
    assert at_limit.level is HealthLevel.HEALTHY
    assert at_limit.snapshot.last_progress_at == since  # unchanged progress keeps the old progress time

    since = NOW - timedelta(minutes=45)
    stalled = assess_health(initial(42, previous=snapshot(42, since, observed_at=NOW - 5 * MINUTE)))
    assert stalled.level is HealthLevel.STALLED
    assert stalled.reasons == [
        "initial replication has stayed at 42% for 45 min (since 2026-11-25T11:15:00Z), longer than 30 min"
    ]


def test_initial_replication_stall_is_found_across_several_sweeps() -> None:
    assessment = assess_health(initial(10, now=NOW))
    for minutes in (10, 20, 30):
        assessment = assess_health(initial(10, previous=assessment.snapshot, now=NOW + timedelta(minutes=minutes)))
        assert assessment.level is HealthLevel.HEALTHY
    assessment = assess_health(initial(10, previous=assessment.snapshot, now=NOW + timedelta(minutes=40)))
    assert assessment.level is HealthLevel.STALLED


# --- combined signals ------------------------------------------------------------------------------------------


def test_critical_wins_over_stalled_and_every_reason_is_kept() -> None:
    assessment = assess_health(
        delta(replication_health="Critical", rpo_seconds=7200, last_rpo_calculated_at=NOW - timedelta(hours=2))
    )
    assert assessment.level is HealthLevel.CRITICAL
    assert len(assessment.reasons) == 3
    assert assessment.reasons[-1].startswith("no RPO recalculation")  # stalled after the critical ones


def test_stalled_wins_over_warning() -> None:
    assessment = assess_health(
        delta(replication_health="Warning", rpo_seconds=1000, last_rpo_calculated_at=NOW - timedelta(hours=1))
    )
    assert assessment.level is HealthLevel.STALLED
    assert assessment.reasons[0].startswith("no RPO recalculation")


def test_assessment_round_trips_as_json_for_the_timer_to_store() -> None:
    assessment = assess_health(initial(42, previous=snapshot(42, NOW - timedelta(hours=1))))
    assert HealthAssessment.model_validate_json(assessment.model_dump_json()) == assessment


# --- degraded() ------------------------------------------------------------------------------------------------


def test_severity_order() -> None:
    assert [severity_rank(level) for level in SEVERITY_ORDER] == [0, 1, 2, 3]
    assert SEVERITY_ORDER == (HealthLevel.HEALTHY, HealthLevel.WARNING, HealthLevel.STALLED, HealthLevel.CRITICAL)


@pytest.mark.parametrize(
    ("previous", "new", "expected"),
    [
        (HealthLevel.HEALTHY, HealthLevel.WARNING, True),
        (HealthLevel.WARNING, HealthLevel.STALLED, True),
        (HealthLevel.STALLED, HealthLevel.CRITICAL, True),
        (HealthLevel.HEALTHY, HealthLevel.CRITICAL, True),
        (HealthLevel.WARNING, HealthLevel.WARNING, False),
        (HealthLevel.CRITICAL, HealthLevel.STALLED, False),
        (HealthLevel.WARNING, HealthLevel.HEALTHY, False),
        (None, HealthLevel.HEALTHY, False),
        (None, HealthLevel.WARNING, True),
        ("healthy", "critical", True),
    ],
)
def test_degraded(previous: HealthLevel | str | None, new: HealthLevel | str, expected: bool) -> None:
    assert degraded(previous, new) is expected


def test_degraded_rejects_unknown_levels_naming_them() -> None:
    with pytest.raises(ValueError, match="unknown health level 'sick'"):
        degraded("sick", HealthLevel.HEALTHY)


# --- properties ------------------------------------------------------------------------------------------------

_times = st.integers(min_value=-600, max_value=600).map(lambda minutes: NOW + timedelta(minutes=minutes))
_inputs = st.builds(
    ReplicationHealthInput,
    replication_health=st.sampled_from(["", "Normal", "Warning", "Critical"]) | st.text(max_size=10),
    health_errors=st.lists(
        st.builds(
            HealthErrorDetail, code=st.text(max_size=5), message=st.text(max_size=20), severity=st.text(max_size=8)
        ),
        max_size=3,
    ),
    rpo_seconds=st.none() | st.integers(min_value=0, max_value=10**6),
    last_rpo_calculated_at=st.none() | _times,
    initial_replication_progress_percent=st.none() | st.integers(min_value=0, max_value=100),
    previous=st.none()
    | st.builds(
        ProgressSnapshot,
        observed_at=_times,
        progress_percent=st.none() | st.integers(min_value=0, max_value=100),
        last_rpo_calculated_at=st.none() | _times,
        last_progress_at=_times,
    ),
    now=_times,
)


@settings(max_examples=300, deadline=None)
@given(_inputs)
def test_assessment_never_raises_and_is_healthy_exactly_when_there_is_no_reason(status: ReplicationHealthInput) -> None:
    assessment = assess_health(status)
    assert (assessment.level is HealthLevel.HEALTHY) == (assessment.reasons == [])
    assert assessment.snapshot.observed_at == status.now
    assert not degraded(assessment.level, assessment.level)


@settings(max_examples=200, deadline=None)
@given(_inputs)
def test_site_recovery_critical_is_always_critical(status: ReplicationHealthInput) -> None:
    assert assess_health(status.model_copy(update={"replication_health": "Critical"})).level is HealthLevel.CRITICAL
