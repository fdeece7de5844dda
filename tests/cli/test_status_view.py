"""What `status` and the live view say while a wave runs and after it ended (cli/status_view.py, cli/live.py)."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from rich.console import Console

from cli.live import LiveView
from cli.status_view import find_vm, finished, headline, health

MIGRATING = {"stage": "migrating", "vms": 5, "batches": 1, "done": 0}  # 7 requested, 2 rejected at preflight


def _vm(n: int, state: str, **extra: Any) -> dict[str, Any]:
    return {"instance_id": f"i-{n:017x}", "name": f"vm-{n:02d}", "state": state, "stages": [], **extra}


ROWS = [
    _vm(1, "completed", health="healthy"),
    _vm(2, "failed", health="healthy", error={"code": "JobFailed", "message": "enable failed [boom]"}),
    _vm(3, "initial_replication", health="warning"),
    _vm(4, "awaiting_approval"),
    _vm(5, "replicating"),
]


def test_counters_move_during_the_run_not_only_at_its_end() -> None:
    assert finished(ROWS, MIGRATING, requested=7) == (4, 7)  # 2 rows final + 2 kept out by preflight
    assert finished(ROWS[:0], {"stage": "readiness", "vms": 7}, requested=7) == (0, 7)
    assert finished(ROWS, {"stage": "completed", "vms": 7, "done": 7}, requested=7) == (7, 7)


def test_a_wave_whose_vms_all_failed_does_not_say_completed() -> None:
    status = {
        "request_id": "w1",
        "runtime_status": "Completed",
        "custom_status": {"stage": "completed", "vms": 3, "done": 3, "counts": {"failed": 3}},
        "output": {"counts": {"failed": 3}},
        "vms": [],
    }
    line = headline(status)
    assert "completed" not in line.lower() and "3 failed" in line and "{" not in line
    status["output"] = {"counts": {"completed": 2, "rejected": 1}}
    assert headline(status) == "wave w1: ended with failures (2 completed, 1 rejected)"
    status["output"] = {"counts": {"completed": 3}}
    assert headline(status) == "wave w1: completed (3 completed)"


def test_a_running_wave_headline_is_words_not_a_dict() -> None:
    status = {"request_id": "w1", "runtime_status": "Running", "custom_status": MIGRATING, "vms": ROWS}
    assert headline(status) == "wave w1: running, stage migrating, 2/5 VMs finished"


def test_a_failed_vm_is_not_healthy() -> None:
    assert health(ROWS[1]) == "-"
    assert health(ROWS[0]) == "healthy"
    assert health(ROWS[2]) == "warning"


def test_a_vm_is_found_by_id_name_target_name_or_estate_name() -> None:
    vms = [*ROWS, _vm(6, "completed", target_vm_name="shop-db-01")]
    assert find_vm(vms, "i-00000000000000003", {}) == "i-00000000000000003"
    assert find_vm(vms, "VM-04", {}) == "i-00000000000000004"
    assert find_vm(vms, "shop-db-01", {}) == "i-00000000000000006"
    assert find_vm(vms, "web-01", {"i-00000000000000005": "web-01"}) == "i-00000000000000005"
    assert find_vm(vms, "nobody", {}) is None


def test_the_live_view_fits_80_columns_and_counts_as_it_goes() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    view = LiveView(console, {row["instance_id"]: row["name"] for row in ROWS}, clock=None)
    view.on_change(SimpleNamespace(instance_id="wave-w1", custom_status={"stage": "preflight", "vms": 7}))
    view.on_change(SimpleNamespace(instance_id="wave-w1", custom_status=MIGRATING))
    for row in ROWS:
        view.on_change(SimpleNamespace(instance_id=f"vm-w1-{row['instance_id']}", custom_status=row))
    console.print(view.render())
    lines = out.getvalue().splitlines()
    assert "4/7 VMs finished" in lines[0]
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert "[boom]" in out.getvalue() or "JobFailed" in out.getvalue()  # detail is text, not markup
