"""Stage segments of each VM's lifecycle, their statistics, and the colours and formats both renderers share."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from reporting.model import VmRow, WaveReport, as_utc
from shared.lifecycle import MAIN_LINE, TERMINAL, VmState

#: One colour per stage, by phase: preparation blues, replication greens, test purples, approval sand,
#: cut-over oranges and reds.
STAGE_COLOURS: dict[VmState, str] = {
    VmState.QUEUED: "#b0b7c3",
    VmState.PREFLIGHT: "#8fb3e0",
    VmState.PREPARING_NETWORK: "#5b8fd6",
    VmState.PREPARING_GUEST: "#3a6fc4",
    VmState.INSTALLING_AGENT: "#2452a3",
    VmState.REGISTERING_AGENT: "#17387a",
    VmState.ENABLING_REPLICATION: "#9fd4a3",
    VmState.INITIAL_REPLICATION: "#4caf50",
    VmState.REPLICATING: "#2e7d32",
    VmState.TEST_MIGRATING: "#b39ddb",
    VmState.VALIDATING_TEST: "#7e57c2",
    VmState.CLEANING_UP_TEST: "#4a2c8f",
    VmState.AWAITING_APPROVAL: "#e0c27a",
    VmState.STOPPING_SOURCE: "#ffb74d",
    VmState.MIGRATING: "#fb8c00",
    VmState.COMMITTING: "#e65100",
    VmState.COMPLETING: "#a84300",
}

#: Terminal states in the order the report counts them, with their colours.
TERMINAL_ORDER: tuple[VmState, ...] = (
    VmState.COMPLETED,
    VmState.TEST_COMPLETED,
    VmState.REJECTED,
    VmState.FAILED,
    VmState.CANCELLED,
)
TERMINAL_COLOURS: dict[VmState, str] = {
    VmState.COMPLETED: "#2e7d32",
    VmState.TEST_COMPLETED: "#00838f",
    VmState.REJECTED: "#b7791f",
    VmState.FAILED: "#c62828",
    VmState.CANCELLED: "#616161",
}
#: The same colours as Markdown can show them.
TERMINAL_EMOJI: dict[VmState, str] = {
    VmState.COMPLETED: "🟢",
    VmState.TEST_COMPLETED: "🔵",
    VmState.REJECTED: "🟡",
    VmState.FAILED: "🔴",
    VmState.CANCELLED: "⚪",
}
HEALTH_COLOURS: dict[str, str] = {
    "healthy": "#2e7d32",
    "warning": "#b7791f",
    "stalled": "#e65100",
    "critical": "#c62828",
}
OTHER_COLOUR = "#9e9e9e"

#: Stages in lifecycle order (the main line without its terminal end).
STAGE_ORDER: tuple[VmState, ...] = tuple(state for state in MAIN_LINE if state not in TERMINAL)


def state_colour(state: VmState | str) -> str:
    try:
        state = VmState(state)
    except ValueError:
        return OTHER_COLOUR
    return TERMINAL_COLOURS.get(state) or STAGE_COLOURS.get(state, OTHER_COLOUR)


@dataclass(frozen=True)
class Segment:
    """A VM's stay in one stage, as offsets in seconds from the wave's start."""

    state: VmState
    start: float
    end: float
    started_at: datetime
    ended_at: datetime

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class TimelineRow:
    """One VM's stages; ``outcome`` is the terminal state it reached (None while it was still going)."""

    row: VmRow
    segments: tuple[Segment, ...]
    outcome: VmState | None
    outcome_at: float


def wave_window(report: WaveReport) -> tuple[datetime, datetime]:
    """The span the timeline covers: the wave's start to the latest of its finish and any stage."""
    start = as_utc(report.summary.started_at)
    end = as_utc(report.summary.finished_at)
    for record in report.progress:
        for stage in record.stages:
            start = min(start, as_utc(stage.at))
            end = max(end, as_utc(stage.at))
    return start, max(end, start)


def timeline_rows(report: WaveReport) -> list[TimelineRow]:
    """A row per VM with a progress record, ordered by when the VM started (then instance id)."""
    origin, _ = wave_window(report)
    rows: list[TimelineRow] = []
    for row in report.rows():
        if row.progress is None or not row.progress.stages:
            continue
        stages = sorted(row.progress.stages, key=lambda stage: as_utc(stage.at))
        open_end = max(as_utc(row.result.finished_at), as_utc(row.progress.updated_at))
        segments: list[Segment] = []
        outcome: VmState | None = None
        outcome_at = 0.0
        for index, stage in enumerate(stages):
            began = as_utc(stage.at)
            if stage.state in TERMINAL:
                outcome, outcome_at = stage.state, (began - origin).total_seconds()
                continue
            ended = as_utc(stages[index + 1].at) if index + 1 < len(stages) else max(open_end, began)
            segments.append(
                Segment(
                    state=stage.state,
                    start=(began - origin).total_seconds(),
                    end=(ended - origin).total_seconds(),
                    started_at=began,
                    ended_at=ended,
                )
            )
        rows.append(TimelineRow(row=row, segments=tuple(segments), outcome=outcome, outcome_at=outcome_at))
    rows.sort(
        key=lambda item: (item.segments[0].start if item.segments else item.outcome_at, item.row.result.instance_id)
    )
    return rows


@dataclass(frozen=True)
class StageStats:
    state: VmState
    vms: int
    median: float
    longest: float
    total: float


def stage_statistics(rows: list[TimelineRow]) -> list[StageStats]:
    """Per stage, in lifecycle order: how many VMs went through it and how long they stayed (seconds)."""
    per_stage: dict[VmState, list[float]] = {}
    for row in rows:
        spent: dict[VmState, float] = {}
        for segment in row.segments:
            spent[segment.state] = spent.get(segment.state, 0.0) + segment.seconds
        for state, seconds in spent.items():
            per_stage.setdefault(state, []).append(seconds)
    order = {state: index for index, state in enumerate(STAGE_ORDER)}
    return [
        StageStats(
            state=state,
            vms=len(values),
            median=statistics.median(values),
            longest=max(values),
            total=sum(values),
        )
        for state, values in sorted(per_stage.items(), key=lambda item: order.get(item[0], len(order)))
    ]


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def format_time(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%SZ")


def format_hours(hours: float) -> str:
    text = f"{hours:.2f}".rstrip("0").rstrip(".")
    return f"{text} h"
