"""The timeline as an inline SVG Gantt chart: one row per VM, one coloured bar per lifecycle stage.

Initial replication takes hours while preparing the guest takes minutes, so every bar is at least
:data:`MIN_BAR` pixels wide; a short stage pushes the following bars right by the difference, and the next long
stage absorbs the shift (its end stays at its true time). Exact times are in each bar's ``<title>`` tooltip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from reporting.timeline import (
    OTHER_COLOUR,
    STAGE_COLOURS,
    TERMINAL_COLOURS,
    TimelineRow,
    format_duration,
    format_hours,
    state_colour,
)

MIN_BAR = 3.0
LABEL_WIDTH = 240
PLOT_WIDTH = 880
RIGHT_MARGIN = 70
ROW_HEIGHT = 18
BAR_HEIGHT = 12
AXIS_HEIGHT = 26
LABEL_CHARS = 34
#: Tick steps in hours, smallest first; the chart takes the first that needs at most :data:`MAX_TICKS` ticks.
TICK_STEPS_HOURS: tuple[float, ...] = (1 / 60, 1 / 12, 0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720)
MAX_TICKS = 12


@dataclass(frozen=True)
class Gantt:
    svg: str
    shown: int
    total: int


def tick_step_hours(span_hours: float) -> float:
    for step in TICK_STEPS_HOURS:
        if span_hours / step <= MAX_TICKS:
            return step
    return math.ceil(span_hours / MAX_TICKS / 720) * 720


def _label(row: TimelineRow) -> str:
    text = row.row.name or row.row.result.instance_id
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def render_gantt(rows: list[TimelineRow], span_seconds: float, clock: str, max_rows: int) -> Gantt:
    """The chart for the first ``max_rows`` rows (already ordered); ``span_seconds`` is the time axis length."""
    shown = rows[:max_rows]
    span = max(span_seconds, 60.0)
    scale = PLOT_WIDTH / span
    step = tick_step_hours(span / 3600)
    ticks = [index * step for index in range(int(span / 3600 / step) + 1)]
    plot_left = LABEL_WIDTH
    plot_top = AXIS_HEIGHT
    plot_height = max(1, len(shown)) * ROW_HEIGHT
    width = LABEL_WIDTH + PLOT_WIDTH + RIGHT_MARGIN
    height = plot_top + plot_height + AXIS_HEIGHT + 18
    limit = plot_left + PLOT_WIDTH + RIGHT_MARGIN - 6

    def x_of(seconds: float) -> float:
        return plot_left + seconds * scale

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Lifecycle stages per VM over time">',
        "<title>Lifecycle stages per VM over time</title>",
    ]
    for index in range(len(shown)):
        if index % 2 == 0:
            y = plot_top + index * ROW_HEIGHT
            out.append(f'<rect class="stripe" x="0" y="{y}" width="{width}" height="{ROW_HEIGHT}" fill="#f3f5f9"/>')
    bottom = plot_top + plot_height
    for hours in ticks:
        x = round(x_of(hours * 3600), 1)
        label = escape(format_hours(hours))
        out.append(f'<line x1="{x}" y1="{plot_top - 4}" x2="{x}" y2="{bottom + 4}" stroke="#d5dae3"/>')
        out.append(f'<text class="tick" x="{x}" y="{plot_top - 8}" text-anchor="middle">{label}</text>')
        out.append(f'<text class="tick" x="{x}" y="{bottom + 16}" text-anchor="middle">{label}</text>')
    axis = "hours of migration time since the wave started" + (
        " (virtual clock)" if clock == "virtual" else " (wall clock)"
    )
    centre = plot_left + PLOT_WIDTH / 2
    out.append(f'<text class="axis" x="{centre}" y="{height - 4}" text-anchor="middle">{escape(axis)}</text>')
    for index, row in enumerate(shown):
        y = plot_top + index * ROW_HEIGHT
        bar_y = y + (ROW_HEIGHT - BAR_HEIGHT) / 2
        result = row.row.result
        who = f"{row.row.name} ({result.instance_id})" if row.row.name else result.instance_id
        out.append(
            f'<g class="vm" data-instance="{escape(result.instance_id)}">'
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{y + ROW_HEIGHT - 5}" text-anchor="end">'
            f"<title>{escape(who)}: {escape(result.state.value)}</title>{escape(_label(row))}</text>"
        )
        cursor = float(plot_left)
        for segment in row.segments:
            left = min(max(x_of(segment.start), cursor), limit - MIN_BAR)
            right = min(max(x_of(segment.end), left + MIN_BAR), limit)
            cursor = right
            colour = STAGE_COLOURS.get(segment.state, OTHER_COLOUR)
            tip = (
                f"{who}: {segment.state.value}, {format_hours(segment.start / 3600)} to "
                f"{format_hours(segment.end / 3600)} ({format_duration(segment.seconds)})"
            )
            out.append(
                f'<rect class="stage" data-state="{segment.state.value}" x="{left:.1f}" y="{bar_y:.1f}" '
                f'width="{right - left:.1f}" height="{BAR_HEIGHT}" fill="{colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        if row.outcome is not None:
            left = min(max(x_of(row.outcome_at), cursor), limit - 4)
            tip = f"{who}: {row.outcome.value} at {format_hours(row.outcome_at / 3600)}"
            out.append(
                f'<rect class="outcome" data-state="{row.outcome.value}" x="{left:.1f}" y="{y + 1}" width="4" '
                f'height="{ROW_HEIGHT - 2}" fill="{TERMINAL_COLOURS.get(row.outcome, state_colour(row.outcome))}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        out.append("</g>")
    out.append(
        f'<line x1="{plot_left}" y1="{plot_top}" x2="{plot_left}" y2="{bottom}" stroke="#8a94a6" stroke-width="1"/>'
    )
    out.append("</svg>")
    return Gantt(svg="".join(out), shown=len(shown), total=len(rows))
