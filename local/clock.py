"""Clocks for the local host and the emulators.

Everything local that needs the time (durable timers, the Site Recovery emulator's replication progress, the
guest emulator's delays) reads one :class:`Clock`. :class:`VirtualClock` makes hours of replication pass in
milliseconds: time moves only when someone advances it or sleeps on it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass (advances a virtual clock; blocks on the wall clock)."""
        ...


class VirtualClock:
    """A thread-safe clock that only moves when told to."""

    virtual = True

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards by {seconds}s")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def advance_to(self, when: datetime) -> datetime:
        """Move forward to ``when``; a time in the past leaves the clock where it is."""
        with self._lock:
            self._now = max(self._now, when)
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


class WallClock:
    """Real time, for running the local host against the wall clock."""

    virtual = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))
