"""The Makefile's setup logic, checked with ``make -n`` on a copy: `make demo` installs the runtime only, and
`make test` still installs the dev tools after a `make demo` (its stamp is not the demo's)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = ("Makefile", "requirements.txt", "requirements-dev.txt", "requirements-infra.txt")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    for name in FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _plan(where: Path, target: str) -> str:
    done = subprocess.run(["make", "-n", target], cwd=where, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def test_demo_on_a_fresh_clone_installs_only_the_runtime_with_progress(clone: Path) -> None:
    plan = _plan(clone, "demo")
    assert "-r requirements.txt" in plan
    assert "requirements-dev.txt" not in plan
    assert "--quiet" not in plan
    assert "-m cli demo" in plan


def test_test_after_demo_still_installs_the_dev_tools(clone: Path) -> None:
    (clone / ".venv").mkdir()
    (clone / ".venv" / ".runtime").touch()  # what `make demo` leaves behind
    plan = _plan(clone, "test")
    assert "-r requirements-dev.txt" in plan
    assert "-r requirements.txt" not in plan  # the runtime stamp is current: not installed twice


def test_test_on_a_fresh_clone_installs_runtime_then_dev_tools(clone: Path) -> None:
    plan = _plan(clone, "test")
    assert plan.index("-r requirements.txt") < plan.index("-r requirements-dev.txt")


def test_the_embedded_default_needs_nothing_from_the_dev_requirements() -> None:
    """moto serves the demo's AWS: it is a runtime dependency, not a dev tool."""
    runtime = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "moto[server]==" in runtime
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    assert "moto" not in dev
