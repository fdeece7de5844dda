"""Fixtures for the local host tests: a host on the patterns app with a virtual clock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from local.host import LocalHost, VirtualClock, load_function_index

APPS = Path(__file__).parent / "apps"
PATTERNS_APP = APPS / "patterns_app.py"


@pytest.fixture
def app_module():
    """The imported patterns app (its RECORD dict shows what functions saw); reset for each test."""
    module = sys.modules[load_function_index(PATTERNS_APP).module_name]
    module.RECORD.clear()
    module.NON_DETERMINISTIC["swap"] = False
    yield module
    module.NON_DETERMINISTIC["swap"] = False


@pytest.fixture
def host(tmp_path, app_module):
    with LocalHost.open(PATTERNS_APP, tmp_path / "state", clock=VirtualClock(), activity_workers=4) as opened:
        yield opened
