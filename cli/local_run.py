"""Running scenarios on the embedded default, and reading what a local run left behind."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from cli.live import LiveView
from local.events import EventLog
from local.scenario import Scenario, resolve_request
from local.stack import LocalStack, WaveOutcome
from reporting import WaveReport, write_report
from shared.lifecycle import VmState
from shared.request import parse_request

STATE_ROOT = Path(".state")
LAST_RUN = STATE_ROOT / "last-run"


@dataclass
class RunResult:
    outcome: WaveOutcome
    names: dict[str, str]
    report_paths: tuple[Path, Path] | None
    mismatches: list[str]
    real_seconds: float
    state_dir: Path


def run_scenario(
    scenario: Scenario,
    *,
    console: Console,
    state_dir: Path | None = None,
    report_dir: Path | None = Path("reports"),
    live: bool = True,
    request: dict[str, Any] | None = None,
) -> RunResult:
    """Run ``scenario`` (or ``request`` against its estate) to the end; write the report; check ``expect``."""
    state_dir = state_dir or STATE_ROOT / "runs" / scenario.name
    shutil.rmtree(state_dir, ignore_errors=True)
    started = time.monotonic()
    with LocalStack.open(scenario, state_dir) as stack:
        names = dict(stack.names)
        if request is not None:
            stack.use_request(request)
        stack.submit()
        if live and console.is_terminal:
            with LiveView(console, names, stack.clock) as view:
                outcome = stack.run(on_progress=view.on_change)
        else:
            outcome = stack.run()
        events = list(stack.events.read())
    LAST_RUN.parent.mkdir(parents=True, exist_ok=True)
    LAST_RUN.write_text(str(state_dir.resolve()), encoding="utf-8")
    (state_dir / "names.json").write_text(json.dumps(names), encoding="utf-8")
    paths = None
    if outcome.summary is not None and report_dir is not None:
        report = WaveReport.from_run(outcome.summary, outcome.progress, events, environment="local", clock="virtual")
        paths = write_report(report, report_dir)
    return RunResult(
        outcome=outcome,
        names=names,
        report_paths=paths,
        mismatches=_mismatches(scenario, outcome, names) if request is None else [],
        real_seconds=time.monotonic() - started,
        state_dir=state_dir,
    )


def check_request_for_estate(scenario: Scenario, request: dict[str, Any]) -> None:
    """Refuse a bad request before the embedded default starts (seeding takes a while on a busy machine).

    Estate names get stand-in EC2 ids here (one per name, shaped like EC2's); after seeding the stack resolves
    the real ids and the request is parsed again. ``select:`` needs the seeded EC2, so it is checked there only.
    """
    if "select" in request:
        return
    ids = {item.name: f"i-{index + 1:017x}" for index, item in enumerate(scenario.estate.instances)}
    stand_in = {"instance_id": "i-" + "f" * 17, "private_ip": "10.0.0.4", "security_group_id": "sg-" + "f" * 17}
    parse_request(resolve_request(request, scenario.estate.region, ids, stand_in))


def _mismatches(scenario: Scenario, outcome: WaveOutcome, names: dict[str, str]) -> list[str]:
    if outcome.summary is None:
        return [f"the wave did not finish (status {outcome.runtime_status})"] if scenario.expect else []
    got = {names.get(vm.instance_id, vm.instance_id): vm.state for vm in outcome.summary.vms}
    return [
        f"{name}: expected {want.value}, got {got.get(name, VmState.QUEUED).value}"
        for name, want in scenario.expect.items()
        if got.get(name) is not want
    ]


def last_state_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    if not LAST_RUN.exists():
        raise FileNotFoundError("no local run yet: run `python -m cli demo` or `python -m cli simulate FILE` first")
    return Path(LAST_RUN.read_text(encoding="utf-8").strip())


def run_names(state_dir: Path) -> dict[str, str]:
    """EC2 instance id → estate name of a local run (``names.json``, written when the run ends)."""
    path = state_dir / "names.json"
    try:
        names = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


def read_events(state_dir: Path) -> EventLog:
    return EventLog(state_dir / "events.jsonl")
