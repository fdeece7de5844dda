"""How a wave's status reads in the terminal, for `status` and the live view alike: a headline with counters that
move during the run, the outcome in words (a wave whose every VM failed did not "complete"), and a VM's health
only while it means something."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.lifecycle import TERMINAL, VmState

_TERMINAL = {state.value for state in TERMINAL}
_UNSUCCESSFUL = {VmState.FAILED.value, VmState.REJECTED.value, VmState.CANCELLED.value}
_SUCCESS = {VmState.COMPLETED.value, VmState.TEST_COMPLETED.value}


def finished(rows: Iterable[Mapping[str, Any]], wave: Mapping[str, Any], requested: int) -> tuple[int, int]:
    """(VMs finished, VMs in the wave) now: the VMs in a final state, plus those preflight kept out of the run.

    The wave's own ``done`` counts finished batches only (it stays 0 until a batch ends), so it is not used
    before the wave completes. ``requested`` is the request's VM count (the wave's first custom status).
    """
    rows = list(rows)
    total = max(requested, int(wave.get("vms") or 0), len(rows))
    if wave.get("stage") == "completed":
        return int(wave.get("done") or total), total
    kept_out = requested - int(wave.get("vms") or requested) if wave.get("stage") == "migrating" else 0
    return sum(1 for row in rows if row.get("state") in _TERMINAL) + max(kept_out, 0), total


def outcome_words(counts: Mapping[str, int]) -> str:
    """``13 failed`` / ``11 completed, 2 rejected``, largest first."""
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if n)


def headline(status: Mapping[str, Any]) -> str:
    """One line for a wave: its outcome when it ended, else its stage and how many VMs finished."""
    raw_custom, raw_output = status.get("custom_status"), status.get("output")
    custom: Mapping[str, Any] = raw_custom if isinstance(raw_custom, dict) else {}
    output: Mapping[str, Any] = raw_output if isinstance(raw_output, dict) else {}
    runtime = str(status.get("runtime_status") or "")
    vms = [vm for vm in status.get("vms") or [] if isinstance(vm, dict)]
    request_id = status.get("request_id", "")
    if runtime == "Completed":
        counts = output.get("counts") or custom.get("counts") or {}
        total = sum(counts.values())
        if total and not any(counts.get(state) for state in _SUCCESS):
            verdict = "ended, no VM migrated"
        elif any(counts.get(state) for state in _UNSUCCESSFUL):
            verdict = "ended with failures"
        else:
            verdict = "completed"
        return f"wave {request_id}: {verdict} ({outcome_words(counts) or 'no VMs'})"
    if runtime in {"Failed", "Terminated"}:
        return f"wave {request_id}: the orchestration {runtime.lower()}"
    done, total = finished(vms, custom, int(custom.get("vms") or len(vms)))
    stage = custom.get("stage", "starting")
    return f"wave {request_id}: {runtime.lower() or 'pending'}, stage {stage}, {done}/{total} VMs finished"


def health(vm: Mapping[str, Any]) -> str:
    """The replication health while it describes a replicating VM; '-' once the VM failed, was rejected or cancelled."""
    if vm.get("state") in _UNSUCCESSFUL:
        return "-"
    return str(vm.get("health") or "")


def find_vm(vms: Iterable[Mapping[str, Any]], wanted: str, names: Mapping[str, str]) -> str | None:
    """The EC2 instance id of the wave's VM called ``wanted``: its id, its name, its target VM name (any case)."""
    key = wanted.strip().lower()
    for vm in vms:
        instance_id = str(vm.get("instance_id", ""))
        candidates = {instance_id, str(vm.get("name") or ""), str(vm.get("target_vm_name") or "")}
        candidates.add(names.get(instance_id, ""))
        if key in {c.lower() for c in candidates if c}:
            return instance_id
    return None
