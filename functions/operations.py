"""What an operator can ask of running migrations, over the Durable client: status, approve, cancel.

Used by the HTTP triggers in the cloud and by the CLI on the local host, so both answer the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.lifecycle import Cutover, VmState, cancel_refusal
from shared.pipeline import APPROVAL_EVENT, CANCEL_EVENT, Approval
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


@dataclass(frozen=True)
class Caller:
    """Who asks: the principal the platform authenticated (App Service authentication's ``X-MS-CLIENT-PRINCIPAL-*``
    headers; locally the OS user) and the display name the body gave (``by``; a name, never an identity)."""

    principal_id: str
    principal_name: str
    display_name: str = ""

    def describe(self) -> str:
        name = self.principal_name or self.principal_id
        return f"{name} ({self.display_name})" if self.display_name and self.display_name != name else name


@dataclass
class Answer:
    """What an approve or cancel did: the VMs it reached, and the others with why not (their state)."""

    done: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


async def approve(client: Any, request_id: str, caller: Caller, instance_id: str | None = None) -> Answer:
    """Approve cutover for one VM, or for every VM of the wave now in ``awaiting_approval``.

    Only a VM in ``awaiting_approval`` is approved; any other is refused with its state (nothing is buffered for
    later). The event carries the time the VM entered that state, which the orchestration checks.
    """
    answer = Answer()
    for status in await _candidates(client, request_id, instance_id):
        state, custom = _vm_state(status), status.custom_status
        if runtime_status_of(status) not in _RUNNING or state != VmState.AWAITING_APPROVAL.value:
            answer.refused[_vm_id(status)] = f"is {state or runtime_status_of(status).lower()}, not awaiting approval"
            continue
        stages = custom.get("stages") or [{}]
        data = Approval(
            by=caller.display_name,
            principal_id=caller.principal_id,
            principal_name=caller.principal_name,
            awaiting_since=stages[-1].get("at"),
        )
        await client.raise_event(status.instance_id, APPROVAL_EVENT, data.model_dump(mode="json"))
        answer.done.append(str(status.instance_id))
    return answer


async def cancel(
    client: Any, request_id: str, caller: Caller, instance_id: str | None = None, *, rollback: bool = False
) -> Answer:
    """Cancel one VM's migration, or every unfinished VM of the wave, within the point of no return: a VM whose
    failover Site Recovery accepted is cancelled only when ``rollback`` asks for it (see
    :func:`shared.lifecycle.cancel_refusal`); a committed one never."""
    answer = Answer()
    for status in await _candidates(client, request_id, instance_id):
        custom = status.custom_status if isinstance(status.custom_status, dict) else {}
        state = _vm_state(status)
        if runtime_status_of(status) not in _RUNNING:
            answer.refused[_vm_id(status)] = f"is {state or runtime_status_of(status).lower()}: nothing to cancel"
            continue
        try:
            refusal = cancel_refusal(
                VmState(state or VmState.QUEUED.value),
                Cutover(custom.get("cutover") or Cutover.NOT_STARTED.value),
                rollback=rollback,
            )
        except ValueError:
            refusal = f"has an unreadable status (state {state!r})"
        if refusal:
            answer.refused[_vm_id(status)] = refusal.removeprefix("the VM ")
            continue
        data = {"by": caller.describe(), "principal_id": caller.principal_id, "rollback": rollback}
        await client.raise_event(status.instance_id, CANCEL_EVENT, data)
        answer.done.append(str(status.instance_id))
    return answer


async def _candidates(client: Any, request_id: str, instance_id: str | None) -> list[Any]:
    if instance_id:
        status = await client.get_status(vm_instance_id(request_id, instance_id))
        return [status] if status else []
    return await vm_statuses(client, request_id)


def _vm_id(status: Any) -> str:
    custom = status.custom_status
    return (
        str(custom.get("instance_id", ""))
        if isinstance(custom, dict) and custom.get("instance_id")
        else str(status.instance_id)
    )
