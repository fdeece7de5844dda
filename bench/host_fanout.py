"""Benchmark the local durable host: a fan-out of activities, or a wave of sub-orchestrations (virtual clock).

    .venv/bin/python bench/host_fanout.py --activities 1000
    .venv/bin/python bench/host_fanout.py --wave 1000 --steps 20

Prints wall time, episodes per second and history events replayed (figures, not assertions).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local.host import LocalHost, VirtualClock  # noqa: E402

APP = ROOT / "tests" / "local_host" / "apps" / "patterns_app.py"


def run(activities: int, wave: int, steps: int, workers: int) -> dict[str, float]:
    """Run one benchmark in a fresh state directory; returns its figures."""
    with (
        tempfile.TemporaryDirectory() as state_dir,
        LocalHost.open(APP, state_dir, clock=VirtualClock(), activity_workers=workers) as host,
    ):
        if wave:
            instance_id = host.start("wave", {"vms": wave, "steps": steps})
        else:
            instance_id = host.start("fan_out_fan_in", {"size": activities})
        started = time.perf_counter()
        host.run_until_idle()
        elapsed = time.perf_counter() - started
        status = host.status(instance_id)
        if status is None or status.runtime_status != "Completed":
            raise SystemExit(f"benchmark orchestration did not complete: {status}")
        stats = host.stats
        return {
            "seconds": elapsed,
            "episodes": stats.episodes,
            "episodes_per_second": stats.episodes / elapsed if elapsed else 0.0,
            "events_replayed": stats.events_replayed,
            "activities": stats.activities_executed,
            "parent_history_events": status.history_length,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=1000, help="activities in the fan-out (default 1000)")
    parser.add_argument("--wave", type=int, default=0, help="sub-orchestrations in a wave instead of a fan-out")
    parser.add_argument("--steps", type=int, default=20, help="activities per sub-orchestration in a wave")
    parser.add_argument("--workers", type=int, default=4, help="activity worker threads")
    args = parser.parse_args(argv)
    figures = run(args.activities, args.wave, args.steps, args.workers)
    shape = f"wave of {args.wave} x {args.steps} steps" if args.wave else f"fan-out of {args.activities} activities"
    print(
        f"{shape}: {figures['seconds']:.2f}s, {figures['episodes']} episodes "
        f"({figures['episodes_per_second']:.1f}/s), {figures['events_replayed']} history events replayed, "
        f"{figures['activities']} activities, parent history {figures['parent_history_events']} events"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
