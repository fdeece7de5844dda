"""``python -m cli local up|status|down|reset|estate|advance``: the local environment, driven like a deployment.

``up`` starts :mod:`local.env.daemon` detached (its own session, so it outlives the terminal) with its state in
``.state/local/`` (``EC2AZ_LOCAL_STATE`` overrides); the other commands reach it over HTTP through the endpoint
file it writes. submit, status, approve, cancel, report, dlq and discover find it through :mod:`cli.cloud` when
no deployment is configured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from local.env.endpoint import ENDPOINT_FILE, LocalEndpoint, process_alive, read_endpoint, state_dir

ROOT = Path(__file__).resolve().parents[1]
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3
PID_FILE = "daemon.pid"
SETTINGS_FILE = "settings.json"
LOG_FILE = "daemon.log"
#: Bounds (real seconds): starting takes moto's import and seeding; stopping drains the activity workers.
STARTUP_TIMEOUT = 240.0
SHUTDOWN_TIMEOUT = 60.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


class LocalEnvironmentError(Exception):
    """The local environment is not up, not reachable, or did not start/stop: exit code 3."""


def add_commands(commands: Any) -> None:
    """Register ``local`` and its actions on the CLI's subparsers."""
    local = commands.add_parser("local", help="the local environment: up, status, estate, advance, down, reset")
    actions = local.add_subparsers(dest="local_command", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the local environment in the background (idempotent)")
    up.add_argument("--speed", type=float, default=120.0, help="virtual seconds per real second (default 120)")
    up.add_argument("--scenario", type=Path, help="scenario file for the estate (default: the demo's, no faults)")
    up.add_argument("--port", type=int, default=0, help="port of the HTTP API on 127.0.0.1 (default: any free)")
    actions.add_parser("status", help="is it up, where, and its virtual time and waves")
    actions.add_parser("down", help="stop every process `local up` started")
    actions.add_parser("reset", help="stop it and delete its state")
    estate = actions.add_parser("estate", help="the emulated instances, the appliance and a target file")
    estate.add_argument("--json", action="store_true", help="print JSON")
    estate.add_argument("--target", type=Path, help="write request defaults valid for the emulated Azure here")
    advance = actions.add_parser("advance", help="jump virtual time, e.g. `local advance 2h` (s, m, h, d)")
    advance.add_argument("duration")
    wait = actions.add_parser("wait", help="advance virtual time step by step until a wave awaits approval or ends")
    wait.add_argument("request_id")
    wait.add_argument("--until", choices=["approval", "end"], default="end", help="what to wait for (default end)")
    wait.add_argument("--step", default="1h", help="virtual time per step (default 1h)")
    wait.add_argument("--max", dest="limit", default="7d", help="give up after this much virtual time (default 7d)")
    local.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    try:
        handler = {
            "up": _up,
            "status": _status,
            "down": _down,
            "reset": _reset,
            "estate": _estate,
            "advance": _advance,
            "wait": _wait,
        }[args.local_command]
        return handler(args, console)
    except LocalEnvironmentError as problem:
        console.print(f"[red]local environment:[/] {escape(str(problem))}")
        return EXIT_ENVIRONMENT
    except ValueError as error:
        console.print(f"[red]invalid:[/] {escape(str(error))}")
        return EXIT_USAGE


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``2h``, ``3d`` or combinations like ``1h30m`` → seconds."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != compact:
        raise ValueError(f"duration {text!r}: expected a number with a unit (s, m, h, d), e.g. 2h or 1h30m")
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"duration {text!r}: must be more than zero")
    return seconds


def control(endpoint: LocalEndpoint, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call one of the environment's own routes; any failure is an :class:`LocalEnvironmentError` in one line."""
    request = urllib.request.Request(  # noqa: S310 - loopback URL the daemon wrote
        f"{endpoint.control_url}/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=180) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        detail = (json.loads(error.read() or b"{}") or {}).get("error", "")
        if error.code in {400, 404, 409}:
            raise ValueError(detail or f"HTTP {error.code}") from None
        raise LocalEnvironmentError(f"{method} {path}: HTTP {error.code} {detail}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise LocalEnvironmentError(f"not reachable at {endpoint.control_url} ({reason})") from None


def require_endpoint() -> LocalEndpoint:
    endpoint = read_endpoint()
    if endpoint is None:
        raise LocalEnvironmentError("not running: start it with `python -m cli local up`")
    return endpoint


# --- commands ------------------------------------------------------------------------------------------------


def _up(args: argparse.Namespace, console: Console) -> int:
    state = state_dir()
    running = read_endpoint(state)
    if running is not None:
        console.print(f"local environment already up: {running.api_url} (virtual time x{running.speed:g})")
        return EXIT_OK
    if args.speed <= 0:
        raise ValueError(f"--speed must be positive, not {args.speed:g}")
    scenario = str(args.scenario.resolve()) if args.scenario else None
    if args.scenario is not None and not args.scenario.is_file():
        raise ValueError(f"--scenario {args.scenario}: no such file")
    state.mkdir(parents=True, exist_ok=True)
    settings_path = state / SETTINGS_FILE
    if settings_path.exists():
        kept = json.loads(settings_path.read_text(encoding="utf-8")).get("scenario")
        if args.scenario is not None and kept != scenario:
            raise ValueError(
                f"the state in {state} belongs to scenario {kept or 'demo (default)'}: "
                "`python -m cli local reset` first to start another one"
            )
        scenario = kept
    settings_path.write_text(json.dumps({"scenario": scenario}), encoding="utf-8")
    _stop_leftover(state)
    command = [sys.executable, "-m", "local.env.daemon", "--state", str(state.resolve())]
    command += ["--speed", str(args.speed), "--port", str(args.port)]
    command += ["--scenario", scenario] if scenario else []
    search_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with (state / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": search_path},
            start_new_session=True,  # its own process group: `local down` ends exactly it and its children
        )
    (state / PID_FILE).write_text(str(process.pid), encoding="utf-8")
    console.print(f"starting the local environment (log: {state / LOG_FILE}) ...")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        endpoint = read_endpoint(state)
        if endpoint is not None and endpoint.pid == process.pid:
            console.print(f"local environment up: {endpoint.api_url} (pid {endpoint.pid})")
            console.print(
                f"  virtual time x{endpoint.speed:g}; AWS (moto) {endpoint.aws_endpoint_url}; state {state}; "
                "stop it with `python -m cli local down`"
            )
            return EXIT_OK
        if process.poll() is not None:
            tail = (state / LOG_FILE).read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            raise LocalEnvironmentError(f"it exited while starting ({'; '.join(tail) or 'no output'})")
        time.sleep(0.25)
    _terminate_group(process.pid)
    raise LocalEnvironmentError(f"it did not come up within {STARTUP_TIMEOUT:g}s (log: {state / LOG_FILE})")


def _status(args: argparse.Namespace, console: Console) -> int:
    endpoint = require_endpoint()
    answer = control(endpoint, "GET", "status")
    console.print(f"local environment up: {endpoint.api_url}")
    console.print(f"  virtual time {answer['virtual_now']} (x{answer['speed']:g}), estate {answer['scenario']}")
    for wave in answer["waves"]:
        console.print(f"  wave {wave['request_id']}: {wave['runtime_status']}")
    return EXIT_OK


def _down(args: argparse.Namespace, console: Console) -> int:
    state = state_dir()
    pid = _recorded_pid(state)
    if pid is None or not process_alive(pid):
        (state / PID_FILE).unlink(missing_ok=True)
        console.print("local environment is not running")
        return EXIT_OK
    endpoint = read_endpoint(state)
    if endpoint is not None:
        try:
            _note_in_flight(endpoint, console)
            control(endpoint, "POST", "stop")
        except LocalEnvironmentError:
            os.kill(pid, signal.SIGTERM)
    else:
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, SHUTDOWN_TIMEOUT):
        console.print(f"[yellow]it did not stop within {SHUTDOWN_TIMEOUT:g}s: killing its process group[/]")
    _terminate_group(pid)
    (state / PID_FILE).unlink(missing_ok=True)
    (state / ENDPOINT_FILE).unlink(missing_ok=True)
    console.print("local environment stopped (state kept: `local up` resumes it, `local reset` deletes it)")
    return EXIT_OK


def _note_in_flight(endpoint: LocalEndpoint, console: Console) -> None:
    """Waves still running continue after `up`: the host's orchestrations and the emulated clouds are saved."""
    running = [w["request_id"] for w in control(endpoint, "GET", "status")["waves"] if w["runtime_status"] == "Running"]
    if running:
        console.print(
            f"waves in flight: {', '.join(running)}. They continue where they are after `local up` (orchestrations, "
            "emulated AWS, Site Recovery and Azure are saved in the state directory; virtual time stands still)."
        )


def _reset(args: argparse.Namespace, console: Console) -> int:
    _down(args, console)
    state = state_dir()
    shutil.rmtree(state, ignore_errors=True)
    console.print(f"deleted {state}")
    return EXIT_OK


def _estate(args: argparse.Namespace, console: Console) -> int:
    endpoint = require_endpoint()
    estate = control(endpoint, "GET", "estate")
    if args.target is not None:
        args.target.write_text(yaml.safe_dump(estate["request_defaults"], sort_keys=False), encoding="utf-8")
    if args.json:
        sys.stdout.write(json.dumps(estate, indent=2) + "\n")
        return EXIT_OK
    table = Table(title=f"estate {estate['scenario']} in {estate['region']} (moto {endpoint.aws_endpoint_url})")
    for column in ("name", "instance id", "private IP", "OS", "type", "tags"):
        table.add_column(column, overflow="fold")
    for item in estate["instances"]:
        tags = ", ".join(f"{k}={v}" for k, v in item["tags"].items())
        table.add_row(
            item["name"], item["instance_id"], item["private_ip"], item["os"], item["instance_type"], escape(tags)
        )
    console.print(table)
    appliance = estate["appliance"]
    console.print(
        f"appliance {appliance['name']}: {appliance['instance_id']}, {appliance['private_ip']}, "
        f"security group {appliance['security_group_id']}"
    )
    if args.target is not None:
        console.print(f"target file (request defaults for the emulated Azure): {args.target}")
    return EXIT_OK


def _advance(args: argparse.Namespace, console: Console) -> int:
    seconds = parse_duration(args.duration)
    endpoint = require_endpoint()
    moved = control(endpoint, "POST", "advance", {"seconds": seconds})
    console.print(f"virtual time {moved['from']} -> {moved['to']}")
    return EXIT_OK


#: Wave runtime statuses that end it; VM states a wave waiting for its operator may show.
_WAVE_ENDED = {"Completed", "Failed", "Terminated"}
_VM_FINAL = {"completed", "test_completed", "rejected", "failed", "cancelled"}


def _reached(status: dict[str, Any] | None, until: str) -> bool:
    if status is None:
        return False
    if status.get("runtime_status") in _WAVE_ENDED:
        return True
    states = [vm.get("state") for vm in status.get("vms") or []]
    return until == "approval" and "awaiting_approval" in states and set(states) <= _VM_FINAL | {"awaiting_approval"}


def _wait(args: argparse.Namespace, console: Console) -> int:
    """Reads the wave through the function app's API (as `status` does) and moves time with `advance`."""
    from cli import cloud  # noqa: PLC0415

    step, limit = parse_duration(args.step), parse_duration(args.limit)
    endpoint = require_endpoint()
    waited = 0.0
    while True:
        status = cloud.api("GET", f"waves/{args.request_id}")
        states = [vm.get("state", "") for vm in (status or {}).get("vms") or []]
        summary = ", ".join(f"{states.count(state)} {state}" for state in sorted(set(states))) or "no VMs yet"
        console.print(f"after {waited / 3600:g} h: {(status or {}).get('runtime_status', 'not started')}: {summary}")
        if _reached(status, args.until):
            return EXIT_OK
        if waited >= limit:
            console.print(f"[yellow]not reached after {args.limit} of virtual time[/]")
            return EXIT_FAILED
        control(endpoint, "POST", "advance", {"seconds": step})
        waited += step


# --- processes -----------------------------------------------------------------------------------------------


def _recorded_pid(state: Path) -> int | None:
    try:
        return int((state / PID_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid) or _is_zombie(pid):
            return True
        time.sleep(0.2)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except OSError:
        return False


def _terminate_group(pid: int) -> None:
    """End what is left of the process group ``local up`` started (its session leader's id), bounded."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def _stop_leftover(state: Path) -> None:
    """A daemon still starting (no endpoint yet) from an earlier `up` is ended before another starts."""
    pid = _recorded_pid(state)
    if pid is not None and process_alive(pid):
        _terminate_group(pid)


# --- what other commands read from it ------------------------------------------------------------------------


def latest_wave(endpoint: LocalEndpoint) -> str | None:
    """The request id of the local environment's most recent wave."""
    waves = control(endpoint, "GET", "status")["waves"]
    return str(waves[-1]["request_id"]) if waves else None


def report_inputs(endpoint: LocalEndpoint, request_id: str | None) -> tuple[Any, list[Any], list[Any]] | None:
    """A finished wave's summary, VM progress and events (what :class:`reporting.WaveReport` is built from)."""
    from shared.lifecycle import VmProgress  # noqa: PLC0415
    from shared.pipeline import MigrationEvent, WaveSummary  # noqa: PLC0415

    request_id = request_id or latest_wave(endpoint)
    if request_id is None:
        return None
    try:
        data = control(endpoint, "GET", f"report/{request_id}")
    except ValueError:
        return None
    if data["summary"] is None:
        return None
    return (
        WaveSummary.model_validate(data["summary"]),
        [VmProgress.model_validate(item) for item in data["progress"]],
        [MigrationEvent.model_validate(item) for item in data["events"]],
    )
