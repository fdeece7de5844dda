"""The function app as the local host loads it: its path and the app settings its bindings name."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from functions.settings import (
    DEFAULT_DISCOVERY_WATCH_SCHEDULE,
    DEFAULT_HEALTH_SCHEDULE,
    DEFAULT_WATCH_SCHEDULE,
    DISCOVERY_WATCH_SCHEDULE_SETTING,
    HEALTH_SCHEDULE_SETTING,
    REQUESTS_QUEUE,
    WATCH_SCHEDULE_SETTING,
)
from local.host import LocalHost, QueueOptions

APP_PATH = Path(__file__).resolve().parents[1] / "function_app.py"

#: App settings that binding expressions (``%NAME%``) resolve on the local host, as infra sets them in Azure.
DEFAULT_APP_SETTINGS: dict[str, str] = {
    HEALTH_SCHEDULE_SETTING: DEFAULT_HEALTH_SCHEDULE,
    WATCH_SCHEDULE_SETTING: DEFAULT_WATCH_SCHEDULE,
    DISCOVERY_WATCH_SCHEDULE_SETTING: DEFAULT_DISCOVERY_WATCH_SCHEDULE,
}

#: The requests queue as infra deploys it (``infra/azure/*.bicepparam``; tests/local_host/test_queue_contract.py
#: keeps them equal): max delivery count 5, and the longest duplicate-detection window of any environment (prod's
#: P1D), so a resend with the same message id is dropped locally whenever a deployed queue would drop it.
REQUEST_QUEUE_OPTIONS = QueueOptions(max_delivery_count=5, duplicate_detection_window=timedelta(days=1))


@contextmanager
def app_settings(values: Mapping[str, str]) -> Iterator[None]:
    """Set app settings (environment variables) for the duration, restoring what was there before."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def open_stored_host(state_dir: Path) -> Iterator[LocalHost]:
    """The local host over a finished (or interrupted) run's state, for reading status, reports and dead letters."""
    if not (state_dir / "host").exists():
        raise FileNotFoundError(f"no local host state in {state_dir}")
    settings = {name: os.environ.get(name, default) for name, default in DEFAULT_APP_SETTINGS.items()}
    queues = {REQUESTS_QUEUE: REQUEST_QUEUE_OPTIONS}
    with app_settings(settings), LocalHost.open(APP_PATH, state_dir / "host", queues=queues) as host:
        yield host
