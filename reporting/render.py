"""Render a :class:`~reporting.model.WaveReport` as Markdown and as a self-contained HTML page.

The HTML page has inline CSS and an inline SVG timeline, and needs no script, font or image from anywhere.
Every string from the models is escaped: VM names, tags and messages come from users.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from html import escape

from reporting.gantt import render_gantt
from reporting.landing import LANDING_HEADER, landing_rows, next_step_rows
from reporting.model import VmRow, WaveReport, as_utc
from reporting.timeline import (
    HEALTH_COLOURS,
    OTHER_COLOUR,
    STAGE_COLOURS,
    TERMINAL_COLOURS,
    TERMINAL_ORDER,
    StageStats,
    format_duration,
    format_time,
    stage_statistics,
    state_colour,
    timeline_rows,
    wave_window,
)
from shared.lifecycle import VmState
from shared.pipeline import EventType, MigrationEvent

#: Rows of the Gantt chart; beyond this the chart notes how many it left out (the VM table lists all).
MAX_GANTT_ROWS = 200
#: Health degradations and rejected messages listed one by one; beyond this the report counts them.
MAX_LISTED_EVENTS = 200


def _counts(report: WaveReport) -> list[tuple[str, int]]:
    """Counts per terminal state in the report's order (zeros included), then any other key the summary has."""
    counts = dict(report.summary.counts)
    ordered = [(state.value, counts.pop(state.value, 0)) for state in TERMINAL_ORDER]
    return ordered + sorted(counts.items())


def _degradations(report: WaveReport) -> list[MigrationEvent]:
    return [event for event in report.events if event.type is EventType.VM_HEALTH_DEGRADED]


def _rejected_messages(report: WaveReport) -> list[MigrationEvent]:
    return [event for event in report.events if event.type is EventType.REQUEST_REJECTED]


def _event_counts(report: WaveReport) -> list[tuple[str, int]]:
    counter = Counter(event.type.value for event in report.events)
    order = {event_type.value: index for index, event_type in enumerate(EventType)}
    return sorted(counter.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def _names(report: WaveReport) -> dict[str, str]:
    return {row.result.instance_id: row.name for row in report.rows()}


def _total_duration(report: WaveReport) -> float:
    return max(0.0, (as_utc(report.summary.finished_at) - as_utc(report.summary.started_at)).total_seconds())


def _clock_note(report: WaveReport) -> str:
    if report.clock == "virtual":
        return "virtual (the local host's simulated time: hours of replication pass in seconds)"
    return "wall clock"


def _vm_label(row: VmRow) -> str:
    return f"{row.result.instance_id} ({row.name})" if row.name else row.result.instance_id


def _stats_cells(stats: list[StageStats]) -> list[tuple[str, int, str, str, str]]:
    return [
        (
            item.state.value,
            item.vms,
            format_duration(item.median),
            format_duration(item.longest),
            format_duration(item.total),
        )
        for item in stats
    ]


def _failure_cells(row: VmRow) -> tuple[str, str, str, str, str, str]:
    error = row.error
    if error is None:
        return (row.result.instance_id, row.name, "", "", "", "(no cause recorded)")
    return (
        row.result.instance_id,
        row.name,
        error.step,
        error.code,
        "yes" if error.transient else "no",
        error.message,
    )


# --- HTML -------------------------------------------------------------------------------------------------------

_CSS = """
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:24px;
color:#1f2933;background:#fff;font-size:14px;line-height:1.4}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e1e5ec;
padding-bottom:4px}h3{font-size:14px;margin:14px 0 4px}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0 0 12px}
dl.meta dt{color:#52606d;font-weight:600}dl.meta dd{margin:0}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.count{border-radius:6px;padding:6px 12px;color:#fff;font-weight:600;min-width:90px}
.count .n{font-size:20px;display:block}.count.zero{opacity:.45}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border:1px solid #e1e5ec;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f9;position:sticky;top:0}
tbody tr:nth-child(even){background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.num,td code,.pill,.nowrap{white-space:nowrap}
.pill{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:12px;font-weight:600}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
.gantt-wrap{overflow-x:auto;border:1px solid #e1e5ec;padding:6px 0}
svg.gantt text{font-family:inherit;font-size:11px;fill:#334155}
svg.gantt text.tick{fill:#64748b;font-size:10px}svg.gantt text.axis{fill:#475569;font-size:11px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:8px 0;font-size:12px}
.swatch{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle;border-radius:2px}
.note{color:#52606d;font-size:12px}
ul.reasons{margin:2px 0 8px 18px;padding:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
"""


def _h(text: object) -> str:
    return escape(str(text), quote=True)


def _code(text: str) -> str:
    return f"<code>{_h(text)}</code>"


def _pill(state: str) -> str:
    return f'<span class="pill" style="background:{state_colour(state)}">{_h(state)}</span>'


def _html_table(header: Iterable[str], rows: Iterable[Iterable[str]], classes: str = "") -> str:
    """A table whose cells are already HTML (escape before passing)."""
    head = "".join(f"<th>{_h(column)}</th>" for column in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _health_cell(row: VmRow) -> str:
    if row.progress is None or not row.progress.health:
        return ""
    level = row.progress.health
    colour = HEALTH_COLOURS.get(level, OTHER_COLOUR)
    reasons = "; ".join(row.progress.health_reasons)
    title = f' title="{_h(reasons)}"' if reasons else ""
    return f'<span class="nowrap"{title}><span class="dot" style="background:{colour}"></span>{_h(level)}</span>'


def _vm_rows_html(rows: list[VmRow]) -> str:
    out: list[str] = []
    for row in rows:
        result = row.result
        out.append(
            f'<tr id="vm-{_h(result.instance_id)}" data-state="{_h(result.state.value)}">'
            f"<td><code>{_h(result.instance_id)}</code></td><td>{_h(row.name)}</td>"
            f"<td>{_h(result.target_vm_name)}</td><td>{_pill(result.state.value)}</td>"
            f'<td class="num">{_h(format_duration(row.duration_seconds))}</td>'
            f"<td>{_h(row.progress.approved_by if row.progress else '')}</td><td>{_health_cell(row)}</td></tr>"
        )
    head = "".join(
        f"<th>{column}</th>"
        for column in ("Instance", "Name", "Target VM", "Final state", "Duration", "Approved by", "Health")
    )
    return f'<table class="vms"><thead><tr>{head}</tr></thead><tbody>{"".join(out)}</tbody></table>'


def render_html(report: WaveReport, *, max_gantt_rows: int = MAX_GANTT_ROWS) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no script)."""
    if max_gantt_rows < 1:
        raise ValueError(f"max_gantt_rows must be at least 1, got {max_gantt_rows}")
    summary = report.summary
    rows = report.rows()
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(report.heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_h(report.heading)}</h1>",
        '<dl class="meta">',
    ]
    meta = [
        ("Request", f"<code>{_h(summary.request_id)}</code>"),
        ("Environment", _h(report.environment_label)),
        ("Started", _h(format_time(summary.started_at))),
        ("Finished", _h(format_time(summary.finished_at))),
        ("Total duration", _h(format_duration(_total_duration(report)))),
        ("Clock", _h(_clock_note(report))),
        ("VMs", str(len(rows))),
        ("Generated", _h(format_time(report.generated_at))),
    ]
    parts += [f"<dt>{label}</dt><dd>{value}</dd>" for label, value in meta]
    parts.append("</dl>")

    parts.append('<h2 id="outcome">Outcome</h2><div class="counts">')
    for key, count in _counts(report):
        zero = " zero" if count == 0 else ""
        parts.append(
            f'<div class="count{zero}" data-state="{_h(key)}" style="background:{state_colour(key)}">'
            f'<span class="n">{count}</span>{_h(key)}</div>'
        )
    parts.append("</div>")

    parts.append('<h2 id="vms">VMs</h2>')
    parts.append(_vm_rows_html(rows))

    parts.append('<h2 id="landing">Where each VM landed</h2>')
    parts.append(
        _html_table(
            LANDING_HEADER,
            ((_h(c) if i else c for i, c in enumerate(r)) for r in landing_rows(report, _code)),
            "landing",
        )
    )
    parts += _html_timeline(report, rows, max_gantt_rows)
    parts += _html_problems(rows)
    steps = next_step_rows(report, _code)
    parts.append('<h2 id="next-steps">Next steps</h2>')
    parts.append(
        _html_table(
            ["Instance", "Name", "Final state", "Next step"],
            ((c, _h(n), _pill(s), _h(t)) for c, n, s, t in steps),
            "next-steps",
        )
        if steps
        else "<p>None: every VM made it.</p>"
    )
    parts.append('<h2 id="events">Events</h2>')
    counts = _event_counts(report)
    if counts:
        parts.append(_html_table(["Type", "Count"], ((_h(kind), str(count)) for kind, count in counts), "event-counts"))
    else:
        parts.append("<p>No events recorded.</p>")
    parts += _html_events(report)
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _html_timeline(report: WaveReport, rows: list[VmRow], max_gantt_rows: int) -> list[str]:
    timeline = timeline_rows(report)
    start, end = wave_window(report)
    parts = ['<h2 id="timeline">Timeline</h2>']
    if timeline:
        gantt = render_gantt(timeline, (end - start).total_seconds(), report.clock, max_gantt_rows)
        parts.append(
            '<p class="note">One row per VM, one bar per lifecycle stage; the mark at the end of a row is the '
            "outcome. Short stages are drawn at least 3 px wide and push later bars slightly right; hover a bar "
            "for its exact times.</p>"
        )
        parts.append(f'<div class="gantt-wrap">{gantt.svg}</div>')
        if gantt.shown < gantt.total:
            parts.append(
                f'<p class="note gantt-capped">The chart shows the first {gantt.shown} of {gantt.total} VMs by '
                "start time; the VM table above lists every VM.</p>"
            )
        used = {segment.state for item in timeline[: gantt.shown] for segment in item.segments}
        outcomes = {item.outcome for item in timeline[: gantt.shown] if item.outcome is not None}
        legend = [
            f'<span><span class="swatch" style="background:{colour}"></span>{_h(state.value)}</span>'
            for state, colour in STAGE_COLOURS.items()
            if state in used
        ]
        legend += [
            f'<span><span class="swatch" style="background:{TERMINAL_COLOURS[state]};width:5px;height:14px">'
            f"</span>{_h(state.value)} (outcome)</span>"
            for state in TERMINAL_ORDER
            if state in outcomes
        ]
        parts.append(f'<div class="legend">{"".join(legend)}</div>')
        parts.append("<h3>Time per stage</h3>")
        parts.append(
            _html_table(
                ["Stage", "VMs", "Median", "Longest", "Total"],
                (
                    (
                        f'<span class="swatch" style="background:{STAGE_COLOURS.get(item.state, OTHER_COLOUR)}">'
                        f"</span>{_h(item.state.value)}",
                        str(item.vms),
                        _h(format_duration(item.median)),
                        _h(format_duration(item.longest)),
                        _h(format_duration(item.total)),
                    )
                    for item in stage_statistics(timeline)
                ),
                "stages",
            )
        )
    else:
        parts.append('<p class="note">No VM recorded a timeline.</p>')
    missing = len(rows) - len(timeline)
    if missing:
        parts.append(f'<p class="note">{missing} VM(s) never started, so have no timeline.</p>')
    return parts


def _html_problems(rows: list[VmRow]) -> list[str]:
    parts = ['<h2 id="rejections">Rejections</h2>']
    rejected = [row for row in rows if row.result.state is VmState.REJECTED]
    if not rejected:
        parts.append("<p>None.</p>")
    for row in rejected:
        reasons = "".join(f"<li>{_h(reason)}</li>" for reason in row.reasons) or "<li>(no reason recorded)</li>"
        parts.append(
            f'<div class="rejection" data-instance="{_h(row.result.instance_id)}"><h3>{_h(_vm_label(row))}</h3>'
            f'<ul class="reasons">{reasons}</ul></div>'
        )

    parts.append('<h2 id="failures">Failures</h2>')
    failed = [row for row in rows if row.result.state is VmState.FAILED]
    if failed:
        parts.append(
            _html_table(
                ["Instance", "Name", "Step", "Code", "Transient", "Cause"],
                (tuple(_h(cell) for cell in _failure_cells(row)) for row in failed),
                "failures",
            )
        )
    else:
        parts.append("<p>None.</p>")

    parts.append('<h2 id="rolled-back">Rolled back / reverted</h2>')
    reverted = [row for row in rows if row.rolled_back]
    if reverted:
        parts.append(
            _html_table(
                ["Instance", "Name", "Final state", "Rolled back / reverted"],
                (
                    (
                        f"<code>{_h(row.result.instance_id)}</code>",
                        _h(row.name),
                        _pill(row.result.state.value),
                        "<ul class=reasons>" + "".join(f"<li>{_h(item)}</li>" for item in row.rolled_back) + "</ul>",
                    )
                    for row in reverted
                ),
                "rolled-back",
            )
        )
    else:
        parts.append("<p>Nothing was rolled back.</p>")
    return parts


def _html_events(report: WaveReport) -> list[str]:
    parts: list[str] = []
    names = _names(report)
    degradations = _degradations(report)
    if degradations:
        parts.append("<h3>Health degradations</h3>")
        parts.append(
            _html_table(
                ["At", "Instance", "Name", "From", "To", "Detail"],
                (
                    (
                        _h(format_time(event.at)),
                        f"<code>{_h(event.instance_id)}</code>",
                        _h(names.get(event.instance_id, "")),
                        _h(event.previous_state or "(first sighting)"),
                        f'<span class="dot" style="background:{HEALTH_COLOURS.get(event.state, OTHER_COLOUR)}">'
                        f"</span>{_h(event.state)}",
                        _h(event.detail),
                    )
                    for event in degradations[:MAX_LISTED_EVENTS]
                ),
                "degradations",
            )
        )
        if len(degradations) > MAX_LISTED_EVENTS:
            parts.append(f'<p class="note">… and {len(degradations) - MAX_LISTED_EVENTS} more.</p>')
    rejected_messages = _rejected_messages(report)
    if rejected_messages:
        parts.append("<h3>Rejected request messages</h3>")
        parts.append(
            _html_table(
                ["At", "Reason", "Detail"],
                (
                    (_h(format_time(event.at)), _h(event.state), _h(event.detail))
                    for event in rejected_messages[:MAX_LISTED_EVENTS]
                ),
                "rejected-messages",
            )
        )
    return parts
