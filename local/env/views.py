"""What the local environment answers about itself: its estate, its waves, its dead letters, a wave's report data.

Each function reads the running :class:`~local.stack.LocalStack` on the daemon's main thread and returns JSON-ready
data; the CLI turns it into tables, a target file or a report with the code it uses for a deployment.
"""

from __future__ import annotations

from typing import Any

from cli import dlq
from functions.settings import REQUESTS_QUEUE
from local.stack import LocalStack
from shared.request import wave_instance_id

#: Request fields of the scenario that make a target file for the emulated Azure (discover's ``--target``).
TARGET_FIELDS = ("environment", "mode", "approval_timeout_hours", "max_parallel")


def estate(stack: LocalStack) -> dict[str, Any]:
    """Instances (name, id, IP, OS), the appliance, and the request defaults valid for the emulated Azure."""
    specs = {spec.name: spec for spec in stack.scenario.estate.instances}
    instances = [
        {
            "name": name,
            "instance_id": seeded.instance_id,
            "private_ip": seeded.private_ip,
            "os": f"{specs[name].os_name} {specs[name].os_version}".strip(),
            "platform": seeded.platform.value,
            "instance_type": seeded.instance_type,
            "tags": dict(specs[name].tags),
        }
        for name, seeded in stack.seeded.instances.items()
    ]
    appliance = stack.seeded.appliance
    request = stack.scenario.request
    defaults: dict[str, Any] = {key: request[key] for key in TARGET_FIELDS if key in request}
    defaults["appliance"] = {
        **(request.get("appliance") or {}),
        "instance_id": appliance.instance_id,
        "private_ip": appliance.private_ip,
        "security_group_id": appliance.security_group_id,
    }
    defaults["target"] = request.get("target") or {}
    return {
        "scenario": stack.scenario.name,
        "region": stack.scenario.estate.region,
        "instances": instances,
        "appliance": {
            "name": stack.scenario.estate.appliance.name,
            "instance_id": appliance.instance_id,
            "private_ip": appliance.private_ip,
            "security_group_id": appliance.security_group_id,
        },
        "request_defaults": defaults,
    }


def waves(stack: LocalStack) -> list[dict[str, Any]]:
    """Every wave the environment has run or is running, oldest first."""
    found = [s for s in stack.host.instances(prefix="wave-") if "-batch-" not in s.instance_id]
    found.sort(key=lambda status: status.created_time)
    return [
        {
            "request_id": status.instance_id.removeprefix("wave-"),
            "runtime_status": status.runtime_status,
            "created": status.created_time.isoformat(),
        }
        for status in found
    ]


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    """The requests queue's dead letters with the trigger's cause, as `cli dlq list` shows a deployment's."""
    found = [
        {
            "message_id": message.message_id,
            "enqueued": message.enqueued_time.isoformat(),
            "reason": message.dead_letter_reason or "",
            "description": message.dead_letter_description or "",
        }
        for message in stack.host.dead_letters(REQUESTS_QUEUE)
    ]
    return dlq.rows(found, dlq.rejection_causes(stack.events.read()))


def replay(stack: LocalStack, message_id: str) -> dict[str, Any]:
    done = dlq.replay_local(stack.host, REQUESTS_QUEUE, message_id)
    return {
        "dead_letter_message_id": done.dead_letter_message_id,
        "original_message_id": done.original_message_id,
        "new_message_id": done.new_message_id,
        "replay_count": done.replay_count,
    }


def report_data(stack: LocalStack, request_id: str) -> dict[str, Any] | None:
    """A wave's summary (None until it finished), its VMs' progress and its events: what a report is built from."""
    wave = stack.host.status(wave_instance_id(request_id))
    if wave is None:
        return None
    progress = [
        status.custom_status
        for status in stack.host.instances(prefix=f"vm-{request_id}-")
        if isinstance(status.custom_status, dict)
    ]
    events = [event.model_dump(mode="json") for event in stack.events.read() if event.request_id == request_id]
    return {
        "runtime_status": wave.runtime_status,
        "summary": wave.output if wave.runtime_status == "Completed" else None,
        "progress": progress,
        "events": events,
    }
