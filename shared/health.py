"""Replication health: classify one protected item from its status and the previous sweep's snapshot.

The replication-health timer reads each protected item (Site Recovery's ``replication_health``, ``health_errors``,
the provider's RPO and initial-replication progress), builds a :class:`ReplicationHealthInput` with the snapshot
it stored at the previous sweep, and calls :func:`assess_health`. The assessment carries the snapshot to store
for the next sweep, and :func:`degraded` says whether to publish an alert.

Levels, least to most severe: ``healthy < warning < stalled < critical``. Stalled is worse than warning because
nothing moves until someone acts (a blocked port, a dead process server), but better than critical, which is Site
Recovery itself (or the RPO) saying replication is failing. The most severe signal wins; every signal is a reason.

- Initial replication (progress reported and below 100 %): stalled when the progress percentage has not changed
  for longer than ``stall_after`` since the snapshot, or when Site Recovery itself reports no progress
  (``initialReplicationProgressHealth`` ``NoProgress``; ``SlowProgress`` is a warning). The sweep stores a new
  snapshot only when it wakes the VM for a change (see :mod:`functions.triggers.health`), so Site Recovery's own
  verdict is what sees a stall after progress moved. RPO thresholds do not apply yet (Site Recovery computes RPO in
  delta).
- Delta replication: warning / critical when the RPO is *above* the thresholds; stalled when the RPO has not been
  recalculated for longer than ``stall_after`` (when no RPO was ever reported, counted from when the pipeline
  last saw progress, or first saw the item).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class HealthLevel(StrEnum):
    HEALTHY = "healthy"
    WARNING = "warning"
    STALLED = "stalled"
    CRITICAL = "critical"


SEVERITY_ORDER: tuple[HealthLevel, ...] = (
    HealthLevel.HEALTHY,
    HealthLevel.WARNING,
    HealthLevel.STALLED,
    HealthLevel.CRITICAL,
)


def severity_rank(level: HealthLevel | str) -> int:
    """0 for healthy up to 3 for critical; raises ValueError naming the bad value otherwise."""
    try:
        return SEVERITY_ORDER.index(HealthLevel(level))
    except ValueError:
        expected = ", ".join(item.value for item in SEVERITY_ORDER)
        raise ValueError(f"unknown health level {level!r}: expected one of {expected}") from None


def degraded(previous_level: HealthLevel | str | None, new_level: HealthLevel | str) -> bool:
    """True when health got worse since the previous sweep (first sighting: anything but healthy)."""
    before = severity_rank(previous_level) if previous_level is not None else 0
    return severity_rank(new_level) > before


class HealthThresholds(BaseModel):
    """When the RPO becomes a warning or critical, and how long without progress counts as stalled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpo_warning_seconds: int = Field(default=15 * 60, gt=0)
    rpo_critical_seconds: int = Field(default=60 * 60, gt=0)
    stall_after: timedelta = timedelta(minutes=30)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.rpo_critical_seconds < self.rpo_warning_seconds:
            raise ValueError(
                f"rpo_critical_seconds ({self.rpo_critical_seconds}) must not be below rpo_warning_seconds "
                f"({self.rpo_warning_seconds})"
            )
        if self.stall_after <= timedelta(0):
            raise ValueError(f"stall_after must be positive, got {self.stall_after}")
        return self


class HealthErrorDetail(BaseModel):
    """One entry of the protected item's ``health_errors`` (severity as Site Recovery spells it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = ""
    message: str = ""
    severity: str = ""  # Error | Warning | Info | None


class ProgressSnapshot(BaseModel):
    """What the previous sweep saw; stored by the timer between sweeps, one per protected item.

    ``last_progress_at`` is the last time replication was seen moving: the progress percentage changed, or the
    RPO was recalculated.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    observed_at: AwareDatetime
    progress_percent: int | None = Field(default=None, ge=0, le=100)
    last_rpo_calculated_at: AwareDatetime | None = None
    last_progress_at: AwareDatetime


class ReplicationHealthInput(BaseModel):
    """A protected item's replication status at ``now``, with the previous sweep's snapshot if there was one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_name: str = ""
    replication_health: str = ""  # Normal | Warning | Critical | "" (not reported)
    health_errors: list[HealthErrorDetail] = []
    rpo_seconds: int | None = Field(default=None, ge=0)
    last_rpo_calculated_at: AwareDatetime | None = None
    initial_replication_progress_percent: int | None = Field(default=None, ge=0, le=100)
    initial_replication_health: str = ""  # InMageRcm initialReplicationProgressHealth: InProgress | NoProgress | ...
    previous: ProgressSnapshot | None = None
    now: AwareDatetime
    thresholds: HealthThresholds = HealthThresholds()


Phase = Literal["initial", "delta"]


class HealthAssessment(BaseModel):
    """The level, every reason behind it, and the snapshot to store for the next sweep."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: HealthLevel
    reasons: list[str]
    rpo_seconds: int | None
    progress_percent: int | None
    phase: Phase
    snapshot: ProgressSnapshot


def assess_health(status: ReplicationHealthInput) -> HealthAssessment:
    """Classify one protected item; see the module docstring for the rules."""
    signals: list[tuple[HealthLevel, str]] = []
    signals += _site_recovery_signals(status)
    progress = status.initial_replication_progress_percent
    phase: Phase = "initial" if progress is not None and progress < 100 else "delta"
    if phase == "initial":
        signals += _initial_progress_health(status)
        last_progress_at, stall = _initial_progress(status)
    else:
        signals += _rpo_signals(status)
        last_progress_at, stall = _rpo_recalculation(status)
    if stall:
        signals.append((HealthLevel.STALLED, stall))
    level = max((level for level, _ in signals), key=severity_rank, default=HealthLevel.HEALTHY)
    ordered = sorted(signals, key=lambda signal: -severity_rank(signal[0]))
    snapshot = ProgressSnapshot(
        observed_at=status.now,
        progress_percent=progress,
        last_rpo_calculated_at=status.last_rpo_calculated_at
        or (status.previous.last_rpo_calculated_at if status.previous else None),
        last_progress_at=last_progress_at,
    )
    return HealthAssessment(
        level=level,
        reasons=[reason for _, reason in ordered],
        rpo_seconds=status.rpo_seconds,
        progress_percent=progress,
        phase=phase,
        snapshot=snapshot,
    )


_REPORTED_HEALTH = {"normal": HealthLevel.HEALTHY, "warning": HealthLevel.WARNING, "critical": HealthLevel.CRITICAL}
_ERROR_SEVERITY = {"error": HealthLevel.CRITICAL, "critical": HealthLevel.CRITICAL, "warning": HealthLevel.WARNING}
_IGNORED_SEVERITIES = {"info", "none", ""}


def _site_recovery_signals(status: ReplicationHealthInput) -> list[tuple[HealthLevel, str]]:
    signals: list[tuple[HealthLevel, str]] = []
    reported = status.replication_health.strip()
    if reported:
        level = _REPORTED_HEALTH.get(reported.lower())
        if level is None:
            signals.append(
                (HealthLevel.WARNING, f"Site Recovery reports an unrecognised replication health {reported!r}")
            )
        elif level is not HealthLevel.HEALTHY:
            signals.append((level, f"Site Recovery reports replication health {reported}"))
    for error in status.health_errors:
        severity = error.severity.strip().lower()
        if severity in _IGNORED_SEVERITIES:
            continue
        level = _ERROR_SEVERITY.get(severity, HealthLevel.WARNING)
        code = f" {error.code}" if error.code else ""
        signals.append((level, f"health error{code} ({error.severity}): {error.message or 'no message'}"))
    return signals


_IR_PROGRESS_HEALTH = {"noprogress": HealthLevel.STALLED, "slowprogress": HealthLevel.WARNING}


def _initial_progress_health(status: ReplicationHealthInput) -> list[tuple[HealthLevel, str]]:
    reported = status.initial_replication_health.strip()
    level = _IR_PROGRESS_HEALTH.get(reported.lower())
    if level is None:
        return []
    return [(level, f"Site Recovery reports initial replication progress {reported}")]


def _rpo_signals(status: ReplicationHealthInput) -> list[tuple[HealthLevel, str]]:
    rpo, thresholds = status.rpo_seconds, status.thresholds
    if rpo is None:
        return []
    if rpo > thresholds.rpo_critical_seconds:
        return [
            (
                HealthLevel.CRITICAL,
                f"RPO {_duration(rpo)} is above the critical threshold of {_duration(thresholds.rpo_critical_seconds)}",
            )
        ]
    if rpo > thresholds.rpo_warning_seconds:
        return [
            (
                HealthLevel.WARNING,
                f"RPO {_duration(rpo)} is above the warning threshold of {_duration(thresholds.rpo_warning_seconds)}",
            )
        ]
    return []


def _initial_progress(status: ReplicationHealthInput) -> tuple[datetime, str]:
    previous, progress = status.previous, status.initial_replication_progress_percent
    if previous is None or previous.progress_percent != progress:
        return status.now, ""
    still_for = status.now - previous.last_progress_at
    if still_for <= status.thresholds.stall_after:
        return previous.last_progress_at, ""
    return previous.last_progress_at, (
        f"initial replication has stayed at {progress}% for {_duration(still_for)} (since "
        f"{_timestamp(previous.last_progress_at)}), longer than {_duration(status.thresholds.stall_after)}"
    )


def _rpo_recalculation(status: ReplicationHealthInput) -> tuple[datetime, str]:
    evidence = [moment for moment in (status.last_rpo_calculated_at,) if moment is not None]
    if status.previous is not None:
        evidence.append(status.previous.last_progress_at)
    if not evidence:
        return status.now, ""
    last = max(evidence)
    quiet_for = status.now - last
    if quiet_for <= status.thresholds.stall_after:
        return last, ""
    what = "the RPO was last calculated" if last == status.last_rpo_calculated_at else "progress was last seen"
    return last, (
        f"no RPO recalculation for {_duration(quiet_for)} ({what} at {_timestamp(last)}), longer than "
        f"{_duration(status.thresholds.stall_after)}"
    )


def _duration(value: int | timedelta) -> str:
    seconds = int(value.total_seconds()) if isinstance(value, timedelta) else value
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(part for part in parts if part) or "0 s"


def _timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
