"""What an operator can ask of running migrations, over the Durable client: status, approve, cancel.

Used by the HTTP triggers in the cloud and by the CLI on the local host, so both answer the same way.
"""

from __future__ import annotations

import json
from typing import Any

from shared.lifecycle import TERMINAL, VmState
from shared.pipeline import APPROVAL_EVENT, CANCEL_EVENT
from shared.request import vm_instance_id, wave_instance_id

_RUNNING = {"Running", "Pending", "ContinuedAsNew"}


def runtime_status_of(status: Any) -> str:
    value = getattr(status, "runtime_status", None)
    return str(getattr(value, "value", value) or "")


def _vm_state(status: Any) -> str:
    custom = status.custom_status
    return str(custom.get("state", "")) if isinstance(custom, dict) else ""


def input_of(status: Any) -> Any:
    """An orchestration's input from its status (None if unknown; a JSON text is parsed)."""
    data = status.input_ if status else None
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return None
    return data


def wave_vm_ids(wave: Any) -> list[str]:
    """The EC2 instance ids a wave was asked to migrate, read from its input (a ``WaveInput``)."""
    data = input_of(wave)
    request = data.get("request") if isinstance(data, dict) else None
    vms = request.get("vms") if isinstance(request, dict) else None
    return [str(vm["instance_id"]) for vm in vms or [] if isinstance(vm, dict) and vm.get("instance_id")]


async def vm_statuses(client: Any, request_id: str, wave: Any = None) -> list[Any]:
    """The status of every VM orchestration of a wave: one lookup for the wave, one per VM it names.

    The VM orchestration ids are derived (``vm-{request_id}-{instance_id}``) from the wave's input, so the cost
    is O(VMs in the wave), not O(every instance the task hub ever ran). VMs not started yet are left out.
    """
    wave = wave or await client.get_status(wave_instance_id(request_id), show_input=True)
    statuses = []
    for instance_id in wave_vm_ids(wave):
        status = await client.get_status(vm_instance_id(request_id, instance_id))
        if status:
            statuses.append(status)
    return statuses


async def wave_status(client: Any, request_id: str) -> dict[str, Any] | None:
    """The wave's own status with every VM's progress record, or None if no such wave."""
    wave = await client.get_status(wave_instance_id(request_id), show_input=True)
    if not wave:
        return None
    vms = [
        {"orchestration_id": s.instance_id, "runtime_status": runtime_status_of(s), **(s.custom_status or {})}
        for s in await vm_statuses(client, request_id, wave)
    ]
    vms.sort(key=lambda vm: str(vm.get("instance_id", "")))
    return {
        "request_id": request_id,
        "orchestration_id": wave.instance_id,
        "runtime_status": runtime_status_of(wave),
        "custom_status": wave.custom_status,
        "output": wave.output,
        "created": wave.created_time.isoformat() if wave.created_time else None,
        "updated": wave.last_updated_time.isoformat() if wave.last_updated_time else None,
        "vms": vms,
    }


async def approve(client: Any, request_id: str, by: str, instance_id: str | None = None) -> list[str]:
    """Approve cutover for one VM, or for every VM of the wave waiting for it; returns the VMs approved."""
    return await _send(client, request_id, instance_id, APPROVAL_EVENT, {"approved": True, "by": by}, approval=True)


async def cancel(client: Any, request_id: str, by: str, instance_id: str | None = None) -> list[str]:
    """Cancel one VM's migration, or every unfinished VM of the wave; returns the VMs told to cancel."""
    return await _send(client, request_id, instance_id, CANCEL_EVENT, {"by": by}, approval=False)


async def _send(
    client: Any, request_id: str, instance_id: str | None, event: str, data: dict[str, Any], *, approval: bool
) -> list[str]:
    if instance_id:
        status = await client.get_status(vm_instance_id(request_id, instance_id))
        candidates = [status] if status else []
    else:
        candidates = await vm_statuses(client, request_id)
    sent = []
    for status in candidates:
        if runtime_status_of(status) not in _RUNNING or _vm_state(status) in {state.value for state in TERMINAL}:
            continue
        if approval and not instance_id and _vm_state(status) != VmState.AWAITING_APPROVAL.value:
            continue
        await client.raise_event(status.instance_id, event, data)
        sent.append(str(status.instance_id))
    return sent
