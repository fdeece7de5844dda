"""Run the crash app on a state directory until idle (a subprocess the crash test kills and restarts)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from local.host import LocalHost, VirtualClock  # noqa: E402

APP = Path(__file__).parent / "apps" / "crash_app.py"


def main() -> None:
    state_dir, instances = sys.argv[1], int(sys.argv[2])
    with LocalHost.open(APP, state_dir, clock=VirtualClock(), activity_workers=2) as host:
        for n in range(instances):
            if host.status(f"chain-{n}") is None:
                host.start("chain", n * 100, instance_id=f"chain-{n}")
        host.run_until_idle()
        print("idle", flush=True)


if __name__ == "__main__":
    main()
