"""A host killed with SIGKILL mid-run and restarted on the same state directory finishes every instance."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from local.host import COMPLETED, LocalHost, VirtualClock

HERE = Path(__file__).parent
RUNNER = HERE / "crash_runner.py"
APP = HERE / "apps" / "crash_app.py"
INSTANCES = 12
STEPS = 8


def _completed_tasks(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
            row = db.execute("SELECT COUNT(*) FROM history WHERE event_json LIKE '{\"EventType\":5,%'").fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0


def test_killed_host_resumes_and_completes_every_instance(tmp_path):
    state = tmp_path / "state"
    env = {**os.environ, "CRASH_APP_LOG": str(tmp_path / "runs.log")}
    victim = subprocess.Popen([sys.executable, str(RUNNER), str(state), str(INSTANCES)], env=env)
    try:
        deadline = time.monotonic() + 60
        while _completed_tasks(state / "host.sqlite3") < INSTANCES * STEPS // 3:
            assert victim.poll() is None, "the host finished before it could be killed; make the work heavier"
            assert time.monotonic() < deadline, "the host made no progress"
            time.sleep(0.01)  # polling another process, not a durable timer
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    assert _completed_tasks(state / "host.sqlite3") < INSTANCES * STEPS

    resumed = subprocess.run(
        [sys.executable, str(RUNNER), str(state), str(INSTANCES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "idle" in resumed.stdout

    with LocalHost.open(APP, state, clock=VirtualClock()) as host:
        for n in range(INSTANCES):
            status = host.status(f"chain-{n}", show_history=True)
            assert status.runtime_status == COMPLETED, (n, status.output)
            assert status.output == n * 100 + sum(range(STEPS))
            completions = Counter(
                e.get("TaskScheduledId", e.get("TimerId")) for e in status.history if e["EventType"] in (5, 11)
            )
            scheduled = Counter(e["EventId"] for e in status.history if e["EventType"] in (4, 10))
            assert set(completions.values()) == {1}, "a completed step was duplicated in history"
            assert set(scheduled.values()) == {1}
            assert len(scheduled) == STEPS + 1
    runs = Counter((tmp_path / "runs.log").read_text().split())
    assert len(runs) == INSTANCES * STEPS  # every step ran; a few may have run twice (at-least-once)
