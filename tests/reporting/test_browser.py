"""The HTML report in a real browser: headless Chromium renders the rows and the SVG, and runs nothing."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from reporting import write_report
from tests.reporting.builders import twelve_vm_report

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_SECONDS = 60
HOSTILE_NAME = '<img src=x onerror="document.title=`pwned`">"quoted" <script>document.title="pwned"</script>'

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is not installed (apt-get install -y chromium); the browser check needs it",
)


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"chromium did not finish within {TIMEOUT_SECONDS} s: {error}")


@pytest.fixture(scope="module")
def html_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = twelve_vm_report(special_name=HOSTILE_NAME)
    _, html = write_report(report, tmp_path_factory.mktemp("reports"))
    return html


def test_the_dom_has_every_row_the_svg_and_no_injected_element(html_path: Path, tmp_path: Path):
    done = _chromium(tmp_path / "profile", "--dump-dom", html_path.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert dom.count('<tr id="vm-i-0a') == 12
    assert dom.count('<g class="vm"') == 11
    assert "<svg" in dom and 'class="stage"' in dom
    assert "<title>Migration wave wave-2026-01-finance</title>" in dom, "an injected script changed the title"
    assert "<img" not in dom
    assert dom.count("<script") == 0
    assert "&lt;img src=x onerror=" in dom


def test_screenshot_renders(html_path: Path, tmp_path: Path):
    shot = tmp_path / "report.png"
    done = _chromium(
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1400,2200",
        f"--screenshot={shot}",
        html_path.as_uri(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 2200)
    assert len(data) > 50_000, "the screenshot is nearly blank"
