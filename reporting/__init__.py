"""The wave report the operator CLI writes: Markdown and a self-contained HTML page per wave."""

from __future__ import annotations

import re
from pathlib import Path

from reporting.markdown import render_markdown
from reporting.model import WaveReport
from reporting.render import render_html

__all__ = ["WaveReport", "render_html", "render_markdown", "report_paths", "write_report"]

_SAFE_FILE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def report_paths(request_id: str, directory: Path) -> tuple[Path, Path]:
    """Where :func:`write_report` puts ``<request_id>.md`` and ``<request_id>.html``."""
    if not _SAFE_FILE_STEM.fullmatch(request_id):
        raise ValueError(
            f"request id {request_id!r} cannot name a report file: expected letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit, at most 128 characters)"
        )
    return directory / f"{request_id}.md", directory / f"{request_id}.html"


def write_report(report: WaveReport, directory: Path) -> tuple[Path, Path]:
    """Write the Markdown and HTML reports into ``directory`` (created if missing); return their paths."""
    markdown_path, html_path = report_paths(report.summary.request_id, directory)
    directory.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(render_markdown(report), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return markdown_path, html_path
