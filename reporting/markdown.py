"""Render a :class:`~reporting.model.WaveReport` as GitHub-flavoured Markdown.

Every string from the models is escaped (VM names, tags and messages come from users); ids (instances, requests)
are code spans, which need no escaping and read as ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from reporting.landing import LANDING_HEADER, landing_rows, next_step_rows
from reporting.model import VmRow, WaveReport
from reporting.render import (
    MAX_LISTED_EVENTS,
    _clock_note,
    _counts,
    _degradations,
    _event_counts,
    _failure_cells,
    _names,
    _rejected_messages,
    _stats_cells,
    _total_duration,
)
from reporting.timeline import TERMINAL_EMOJI, format_duration, format_time, stage_statistics, timeline_rows
from shared.lifecycle import VmState

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


class Code(str):
    """An id shown as a Markdown code span: verbatim, never backslash-escaped."""

    __slots__ = ()


def cell(value: object) -> str:
    """A table cell or inline text: a :class:`Code` as a code span (when it can be one), anything else :func:`md`."""
    if isinstance(value, Code) and value and "`" not in value and "|" not in value and "\n" not in value:
        return f"`{value}`"
    return md(value)


def md(text: object) -> str:
    """Markdown-safe inline text: HTML entities for ``& < >``, backslash before Markdown punctuation, one line."""
    value = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = " ".join(value.split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", value)


def _vm_label(row: VmRow) -> str:
    """Markdown: the instance id as a code span, then the VM's name."""
    label = cell(Code(row.result.instance_id))
    return f"{label} ({md(row.name)})" if row.name else label


def _emoji(state: str) -> str:
    try:
        return TERMINAL_EMOJI.get(VmState(state), "◻️")
    except ValueError:
        return "◻️"


def _md_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    columns = list(header)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines.extend("| " + " | ".join(cell(value) for value in row) + " |" for row in rows)
    return lines


def render_markdown(report: WaveReport) -> str:
    """The report as GitHub-flavoured Markdown."""
    summary = report.summary
    rows = report.rows()
    heading = md(report.title) if report.title else f"Migration wave {cell(Code(summary.request_id))}"
    lines: list[str] = [f"# {heading}", ""]
    lines += [
        f"- **Request:** {cell(Code(summary.request_id))}",
        f"- **Environment:** {md(report.environment_label)}",
        f"- **Started:** {md(format_time(summary.started_at))}",
        f"- **Finished:** {md(format_time(summary.finished_at))}",
        f"- **Total duration:** {md(format_duration(_total_duration(report)))}",
        f"- **Clock:** {md(_clock_note(report))}",
        f"- **VMs:** {len(rows)}",
        f"- **Generated:** {md(format_time(report.generated_at))}",
        "",
        "## Outcome",
        "",
        " · ".join(f"{_emoji(key)} **{md(key)}**: {count}" for key, count in _counts(report)),
        "",
        "## VMs",
        "",
    ]
    lines += _md_table(
        ["Instance", "Name", "Target VM", "Final state", "Duration", "Approved by", "Health"],
        (
            (
                Code(row.result.instance_id),
                row.name,
                row.result.target_vm_name,
                row.result.state.value,
                format_duration(row.duration_seconds),
                row.progress.approved_by if row.progress else "",
                row.progress.health if row.progress else "",
            )
            for row in rows
        ),
    )
    lines += ["", "## Where each VM landed", ""]
    lines += _md_table(LANDING_HEADER, landing_rows(report, Code))
    lines += _md_timeline(report, rows)
    lines += _md_problems(rows)
    steps = next_step_rows(report, Code)
    lines += ["", "## Next steps", ""]
    lines += (
        _md_table(["Instance", "Name", "Final state", "Next step"], steps) if steps else ["None: every VM made it."]
    )
    lines += _md_events(report)
    return "\n".join(lines).rstrip() + "\n"


def _md_timeline(report: WaveReport, rows: list[VmRow]) -> list[str]:
    timeline = timeline_rows(report)
    lines = ["", "## Timeline", ""]
    stats = stage_statistics(timeline)
    if stats:
        lines.append(
            f"Time spent per lifecycle stage across {len(timeline)} VMs. "
            "The HTML report draws every VM's stages as a Gantt chart."
        )
        lines.append("")
        lines += _md_table(["Stage", "VMs", "Median", "Longest", "Total"], _stats_cells(stats))
    else:
        lines.append("No VM recorded a timeline.")
    missing = len(rows) - len(timeline)
    if missing:
        lines += ["", f"{missing} VM(s) never started, so have no timeline."]
    return lines


def _md_problems(rows: list[VmRow]) -> list[str]:
    rejected = [row for row in rows if row.result.state is VmState.REJECTED]
    lines = ["", "## Rejections", ""]
    if not rejected:
        lines.append("None.")
    for row in rejected:
        lines.append(f"### {_vm_label(row)}")
        lines.append("")
        lines += [f"- {md(reason)}" for reason in row.reasons] or ["- (no reason recorded)"]
        lines.append("")

    failed = [row for row in rows if row.result.state is VmState.FAILED]
    lines += ["", "## Failures", ""]
    if failed:
        lines += _md_table(
            ["Instance", "Name", "Step", "Code", "Transient", "Cause"],
            ((Code(c[0]), *c[1:]) for c in map(_failure_cells, failed)),
        )
    else:
        lines.append("None.")

    reverted = [row for row in rows if row.rolled_back]
    lines += ["", "## Rolled back / reverted", ""]
    if not reverted:
        lines.append("Nothing was rolled back.")
    for row in reverted:
        lines.append(f"- **{_vm_label(row)}** ({md(row.result.state.value)}):")
        lines += [f"  - {md(item)}" for item in row.rolled_back]
    return lines


def _md_events(report: WaveReport) -> list[str]:
    lines = ["", "## Events", ""]
    counts = _event_counts(report)
    if counts:
        lines += _md_table(["Type", "Count"], counts)
    else:
        lines.append("No events recorded.")
    names = _names(report)
    degradations = _degradations(report)
    if degradations:
        lines += ["", "### Health degradations", ""]
        lines += _md_table(
            ["At", "Instance", "Name", "From", "To", "Detail"],
            (
                (
                    format_time(event.at),
                    Code(event.instance_id),
                    names.get(event.instance_id, ""),
                    event.previous_state or "(first sighting)",
                    event.state,
                    event.detail,
                )
                for event in degradations[:MAX_LISTED_EVENTS]
            ),
        )
        if len(degradations) > MAX_LISTED_EVENTS:
            lines += ["", f"… and {len(degradations) - MAX_LISTED_EVENTS} more."]
    rejected_messages = _rejected_messages(report)
    if rejected_messages:
        lines += ["", "### Rejected request messages", ""]
        lines += _md_table(
            ["At", "Reason", "Detail"],
            ((format_time(event.at), event.state, event.detail) for event in rejected_messages[:MAX_LISTED_EVENTS]),
        )
    return lines
