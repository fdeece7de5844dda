"""The README's `## Try it locally` block, extracted from README.md and run with bash as written, in a copy of
the repository (its own `.state/`, `reports/` and request files), against the real CLI and local environment.

Then: every process `local up` started is gone and its ports are closed (`local down` stops them, bounded).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What a fresh clone holds: everything but local state, builds and the venvs (linked to the one set up here).
_NOT_COPIED = {".git", ".venv", ".venv-infra", ".state", "reports", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_BLOCK_TIMEOUT = 1200


def try_it_locally_block(readme: str) -> str:
    """The first bash block of the `## Try it locally` section."""
    section = readme.split("\n## Try it locally\n", 1)
    if len(section) != 2:
        raise AssertionError("README.md has no `## Try it locally` section")
    body = section[1].split("\n## ", 1)[0]
    found = re.search(r"```bash\n(.*?)\n```", body, re.DOTALL)
    if found is None:
        raise AssertionError("the `## Try it locally` section has no ```bash block")
    return found.group(1) + "\n"


def _fresh_clone(target: Path) -> Path:
    clone = target / "clone"
    shutil.copytree(ROOT, clone, ignore=lambda _d, names: [n for n in names if n in _NOT_COPIED or n == "__pycache__"])
    venv = (ROOT / ".venv").resolve()
    (clone / ".venv").symlink_to(venv)
    # `make venv` is then up to date, as after a first `make venv` in a clone: it must not reinstall the shared venv.
    installed = (venv / ".runtime").stat().st_mtime
    for name in ("requirements.txt", "requirements-dev.txt", "Makefile"):
        os.utime(clone / name, (installed - 60, installed - 60))
    return clone


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port))) == 0


@pytest.mark.slow
def test_readme_try_it_locally_block_runs_as_written(tmp_path: Path) -> None:
    assert (ROOT / ".venv" / ".runtime").exists(), "needs the .venv `make venv` sets up (make test-slow does)"
    block = try_it_locally_block((ROOT / "README.md").read_text(encoding="utf-8"))
    clone = _fresh_clone(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EC2AZ_", "ServiceBusConnection", "AWS_"))}
    pid = None
    try:
        result = subprocess.run(
            ["bash", "-e", "-c", block],
            cwd=clone,
            env={**env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=_BLOCK_TIMEOUT,
            check=False,
        )
        output = result.stdout + result.stderr
        started = re.search(r"local environment up: (http://127\.0\.0\.1:\d+)/api \(pid (\d+)\)", output)
        pid = int(started.group(2)) if started else None
        assert result.returncode == 0, output[-4000:]
        assert started is not None, output[-4000:]
        assert re.search(r"│\s*i-[0-9a-f]{17}\s*│\s*web-01\s*│\s*completed\s*│", output), output[-4000:]
        assert (clone / "reports" / "try-1.md").exists()
        assert "Draft request with" in output, output[-4000:]
        assert "instance_id: i-" in (clone / "draft.yaml").read_text()  # discover read the local estate
        moto = re.search(r"AWS \(moto\) (http://127\.0\.0\.1:\d+)", output)
        assert moto is not None, output[-4000:]
        # `local down` stopped everything it started: the daemon's process group is empty, its ports closed.
        assert not _group_alive(pid), f"processes of group {pid} still running after `local down`"
        assert not _port_open(started.group(1)), "the function app API still listens after `local down`"
        assert not _port_open(moto.group(1)), "moto's server still listens after `local down`"
    finally:
        if pid is not None and _group_alive(pid):
            os.killpg(pid, signal.SIGKILL)  # only the group this test's block started
