"""A wave in flight survives `local down` / `local up` (issue #17): the orchestrations resume from the host's
store and the emulated clouds (moto, the guests, Site Recovery, ARM) from the state directory, so the same VMs
continue from where they were and complete, with the same instance ids.

Driven as a user would, through the CLI in subprocesses, on the environment's own state directory; whatever the
test started is stopped (`local down`, then its process group killed if anything is left).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "cli" / "small.yaml"
REQUEST_ID = "resume-1"
#: VM states showing that replication is under way in Site Recovery (what must survive the restart).
REPLICATING = {"initial_replication", "replicating"}


def _scenario(path: Path) -> Path:
    """Two Ubuntu instances that both migrate, a replication long enough to stop in the middle of it."""
    small = yaml.safe_load(SMALL.read_text(encoding="utf-8"))
    scenario = {
        "name": "resume",
        "description": "two VMs replicating across a restart",
        "estate": {
            "region": "eu-west-1",
            "instances": [
                {"name": "app-01", "os_name": "Ubuntu", "os_version": "22.04", "tags": {"App": "resume"}},
                {"name": "app-02", "os_name": "Ubuntu", "os_version": "22.04", "tags": {"App": "resume"}},
            ],
        },
        "site_recovery": {"initial_replication_seconds": 4 * 3600},
        "request": {**small["request"], "request_id": "scenario-wave", "vms": [{"instance": "app-01"}]},
    }
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


class _Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.state = tmp_path / "state"
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("EC2AZ_", "ServiceBusConnection", "AWS_"))}
        self.env = {**keep, "EC2AZ_LOCAL_STATE": str(self.state), "COLUMNS": "200"}

    def __call__(self, *argv: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "cli", *argv],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = result.stdout + result.stderr
        said = f"cli {' '.join(argv)} exited {result.returncode}:\n{output[-4000:]}\n{self.log()}"
        assert result.returncode == 0, said
        return result.stdout

    def json(self, *argv: str) -> Any:
        return json.loads(self(*argv))

    def log(self) -> str:
        log = self.state / "daemon.log"
        return log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""

    def daemon_pid(self) -> int | None:
        try:
            return int((self.state / "daemon.pid").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def _vms(status: dict[str, Any]) -> dict[str, str]:
    return {vm["instance_id"]: vm["state"] for vm in status.get("vms") or []}


@pytest.mark.slow
def test_a_wave_in_flight_continues_after_down_and_up(tmp_path: Path) -> None:
    cli = _Cli(tmp_path)
    pids: list[int | None] = []
    try:
        cli("local", "up", "--scenario", str(_scenario(tmp_path / "scenario.yaml")), "--speed", "1")
        pids.append(cli.daemon_pid())
        estate = cli.json("local", "estate", "--json")
        ids = {item["name"]: item["instance_id"] for item in estate["instances"]}
        request = {
            **estate["request_defaults"],
            "request_id": REQUEST_ID,
            "region": estate["region"],
            "approval": "auto",
            "vms": [{"instance_id": ids["app-01"]}, {"instance_id": ids["app-02"]}],
        }
        (tmp_path / "request.yaml").write_text(yaml.safe_dump(request), encoding="utf-8")
        cli("submit", str(tmp_path / "request.yaml"))

        for _ in range(24):  # until both VMs replicate in Site Recovery (each step: 15 virtual minutes)
            vms = _vms(cli.json("status", REQUEST_ID, "--json"))
            if len(vms) == 2 and set(vms.values()) <= REPLICATING:
                break
            cli("local", "advance", "15m")
        assert len(vms) == 2 and set(vms.values()) <= REPLICATING, f"{vms}\n{cli.log()}"
        assert set(vms) == {ids["app-01"], ids["app-02"]}

        cli("local", "down")
        assert (cli.state / "run" / "clouds.pickle").exists()
        cli("local", "up")
        pids.append(cli.daemon_pid())
        assert "the emulated clouds resumed" in cli.log()

        cli("local", "wait", REQUEST_ID, "--until", "end", "--step", "1h", "--max", "3d")
        status = cli.json("status", REQUEST_ID, "--json")
        assert status["runtime_status"] == "Completed", f"{status}\n{cli.log()}"
        assert _vms(status) == {ids["app-01"]: "completed", ids["app-02"]: "completed"}, status
        after = cli.json("local", "estate", "--json")
        assert {item["name"]: item["instance_id"] for item in after["instances"]} == ids
    finally:
        down = [sys.executable, "-m", "cli", "local", "down"]
        subprocess.run(down, cwd=ROOT, env=cli.env, capture_output=True, timeout=120, check=False)
        for pid in pids:  # only the process groups this test's `local up` started (each its session leader)
            if pid is None or pid <= 1:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
