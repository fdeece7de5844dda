"""A live per-VM progress view in the terminal, fed by the local host's instance-change listener."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from cli.status_view import finished, health
from shared.lifecycle import MAIN_LINE, VmState

#: From this terminal width on, the live view also shows each VM's EC2 instance id.
WIDE = 110

STATE_STYLE = {
    VmState.COMPLETED: "bold green",
    VmState.TEST_COMPLETED: "green",
    VmState.REJECTED: "yellow",
    VmState.FAILED: "bold red",
    VmState.CANCELLED: "magenta",
    VmState.AWAITING_APPROVAL: "bold cyan",
}


class LiveView:
    """Keeps the latest progress record of every VM and redraws a table at most a few times a second."""

    def __init__(self, console: Console, names: dict[str, str], clock: Any) -> None:
        self.console = console
        self.names = names
        self.clock = clock
        self.rows: dict[str, dict[str, Any]] = {}
        self.wave: dict[str, Any] = {}
        self.requested = 0
        self._lock = threading.Lock()
        self._live = Live(self.render(), console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.update(self.render())
        self._live.__exit__(*exc)  # type: ignore[arg-type]

    def on_change(self, change: Any) -> None:
        custom = change.custom_status
        if not isinstance(custom, dict):
            return
        with self._lock:
            if change.instance_id.startswith("vm-") and "state" in custom:
                self.rows[change.instance_id] = custom
            elif change.instance_id.startswith("wave-"):
                self.wave = custom
                if custom.get("stage") in {"readiness", "preflight"}:  # before preflight: the request's VM count
                    self.requested = max(self.requested, int(custom.get("vms") or 0))
        self._live.update(self.render())

    def render(self) -> Table:
        with self._lock:
            rows = sorted(self.rows.values(), key=lambda row: self.names.get(row.get("instance_id", ""), ""))
            wave = dict(self.wave)
            requested = self.requested
        done, total = finished(rows, wave, requested)
        title = f"wave: {wave.get('stage', 'starting')}  {done}/{total} VMs finished"
        if self.clock is not None:
            title += f"  migration time {self.clock.now():%Y-%m-%d %H:%M}"
        wide = self.console.width >= WIDE
        table = Table(title=title, expand=True, pad_edge=False)
        table.add_column("VM", no_wrap=True, max_width=18, overflow="ellipsis")
        if wide:
            table.add_column("instance", no_wrap=True)
        table.add_column("stage", no_wrap=True, max_width=20, overflow="ellipsis")
        table.add_column("progress", no_wrap=True)
        table.add_column("health", no_wrap=True, max_width=8, overflow="ellipsis")
        table.add_column("detail", no_wrap=True, overflow="ellipsis", ratio=1)
        for row in rows:
            state = VmState(row["state"])
            reached = [VmState(stage["state"]) for stage in row.get("stages", ())]
            step = max((MAIN_LINE.index(s) for s in reached if s in MAIN_LINE), default=0)
            bar = "█" * step + "·" * (len(MAIN_LINE) - 1 - step)
            detail = row.get("detail", "")
            if row.get("error"):
                detail = f"{row['error'].get('code')}: {row['error'].get('message')}"
            cells = [self.names.get(row.get("instance_id", ""), row.get("name", ""))]
            if wide:
                cells.append(row.get("instance_id", ""))
            cells += [f"[{STATE_STYLE.get(state, 'white')}]{state.value}[/]", bar, health(row), escape(detail[:160])]
            table.add_row(*cells)
        return table
