"""The draft migration request: the ready VMs with their recommended sizes and disk types.

Target settings come from a ``--target`` defaults file; without one, every setting the operator must choose is
a ``<REPLACE-ME: …>`` placeholder that fails validation until filled, and the file's header says what to fill.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from discovery.assess import Assessment, Readiness
from shared.errors import InvalidRequestError
from shared.facts import Platform
from shared.request import DeviceName, DiskType, OsType, VmSize, vm_name_problem
from shared.sizing import AzureDiskKind

PLACEHOLDER = "<REPLACE-ME: {}>"

# Request fields a defaults file may set (everything but the VMs and the id, which discover writes).
DEFAULTABLE_FIELDS = frozenset(
    {"request_id", "environment", "mode", "approval", "approval_timeout_hours", "max_parallel", "appliance", "target"}
    | {"tags"}
)

PLACEHOLDER_APPLIANCE: dict[str, Any] = {
    "instance_id": PLACEHOLDER.format("replication appliance EC2 instance id, i-..."),
    "private_ip": PLACEHOLDER.format("appliance private IPv4 address"),
    "security_group_id": PLACEHOLDER.format("appliance security group id, sg-..."),
    "provider": "InMageRcm",
}
PLACEHOLDER_TARGET: dict[str, Any] = {
    "subscription_id": PLACEHOLDER.format("Azure subscription id (GUID)"),
    "resource_group": PLACEHOLDER.format("target resource group name"),
    "region": PLACEHOLDER.format("Azure region, e.g. westeurope"),
    "vault": {
        "name": PLACEHOLDER.format("Recovery Services vault name"),
        "resource_group": PLACEHOLDER.format("vault resource group"),
    },
    "virtual_network_id": PLACEHOLDER.format("/subscriptions/.../virtualNetworks/<vnet>"),
    "subnet": PLACEHOLDER.format("subnet name"),
    "test_virtual_network_id": PLACEHOLDER.format("test (non-production) virtual network id"),
    "test_subnet": PLACEHOLDER.format("test subnet name"),
    "cache_storage_account_id": PLACEHOLDER.format("/subscriptions/.../storageAccounts/<cache account>"),
    "disk_type": "Premium_LRS",
}

_REQUEST_DISK_TYPE: dict[AzureDiskKind, DiskType] = {
    AzureDiskKind.PREMIUM_SSD: DiskType.PREMIUM_LRS,
    # The request (and Site Recovery's replication input) has no Premium SSD v2 type: Premium SSD until it does.
    AzureDiskKind.PREMIUM_SSD_V2: DiskType.PREMIUM_LRS,
    AzureDiskKind.STANDARD_SSD: DiskType.STANDARD_SSD_LRS,
    AzureDiskKind.STANDARD_HDD: DiskType.STANDARD_LRS,
}
_DEVICE = TypeAdapter(DeviceName)
_VM_SIZE = TypeAdapter(VmSize)


def load_defaults(path: Path) -> dict[str, Any]:
    """Request defaults from YAML/JSON: request fields (``target:``, ``appliance:``, …), or a bare target mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidRequestError(f"--target {path}: cannot read it: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InvalidRequestError(f"--target {path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"--target {path}: expected a mapping at the top level")
    if "target" not in data:
        return {"target": data}
    unknown = sorted(set(data) - DEFAULTABLE_FIELDS)
    if unknown:
        raise InvalidRequestError(
            f"--target {path}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(DEFAULTABLE_FIELDS))}"
        )
    return dict(data)


def vm_name_from(name: str, platform: Platform) -> str | None:
    """A valid Azure VM name derived from the EC2 Name tag, or None (the pipeline then picks one)."""
    os_type = OsType.WINDOWS if platform is Platform.WINDOWS else OsType.LINUX
    candidate = re.sub(r"[^A-Za-z0-9-]" if os_type is OsType.WINDOWS else r"[^A-Za-z0-9._-]", "-", name.strip())
    candidate = candidate[: 15 if os_type is OsType.WINDOWS else 64].strip("-.")
    if not candidate or vm_name_problem(candidate, os_type):
        return None
    return candidate


def vm_entry(assessment: Assessment, used_names: set[str]) -> dict[str, Any]:
    facts = assessment.facts
    entry: dict[str, Any] = {
        "instance_id": facts.instance_id,
        "os_type": OsType.WINDOWS.value if facts.platform is Platform.WINDOWS else OsType.LINUX.value,
    }
    name = vm_name_from(facts.name, facts.platform) if facts.name else None
    if name and name.lower() not in used_names:
        used_names.add(name.lower())
        entry["target_vm_name"] = name
    if assessment.vm_size:
        with contextlib.suppress(ValidationError):
            entry["vm_size"] = _VM_SIZE.validate_python(assessment.vm_size)
    disk_types: dict[str, str] = {}
    for disk in assessment.disks:
        if disk.kind is None:
            continue
        try:
            device = _DEVICE.validate_python(disk.device_name)
        except ValidationError:
            continue
        disk_types[device] = _REQUEST_DISK_TYPE[disk.kind].value
    if disk_types:
        entry["disk_types"] = disk_types
    return entry


def draft_request(
    assessments: Sequence[Assessment],
    *,
    region: str,
    request_id: str,
    defaults: Mapping[str, Any] | None = None,
    exclude_instance_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """The request as a dict: defaults (or placeholders) plus one entry per ready VM, in discovery order."""
    defaults = dict(defaults or {})
    appliance = defaults.get("appliance") or PLACEHOLDER_APPLIANCE
    excluded = set(exclude_instance_ids)
    if isinstance(appliance, Mapping) and isinstance(appliance.get("instance_id"), str):
        excluded.add(appliance["instance_id"])
    used: set[str] = set()
    vms = [
        vm_entry(a, used)
        for a in assessments
        if a.readiness is not Readiness.NOT_READY and a.instance_id not in excluded
    ]
    request: dict[str, Any] = {
        "request_id": defaults.get("request_id", request_id),
        "environment": defaults.get("environment", "dev"),
        "mode": defaults.get("mode", "full"),
        "approval": defaults.get("approval", "manual"),
        "max_parallel": defaults.get("max_parallel", 10),
        "region": region,
        "appliance": appliance,
        "target": defaults.get("target") or PLACEHOLDER_TARGET,
        "vms": vms,
    }
    for optional in ("approval_timeout_hours", "tags"):
        if optional in defaults:
            request[optional] = defaults[optional]
    return request


def still_to_fill(request: Mapping[str, Any]) -> list[str]:
    """Fields the draft cannot be submitted without: placeholders left, and for the modes that run a test
    migration (``full``, ``test_only``) the test network when the defaults did not give one."""
    missing: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, str) and value.startswith(PLACEHOLDER.split("{", maxsplit=1)[0]):
            missing.append(path)

    walk({k: v for k, v in request.items() if k != "vms"}, "")
    target = request.get("target")
    mode = request.get("mode")
    if mode in {"full", "test_only"} and isinstance(target, Mapping):
        missing += [
            f"target.{name} (mode: {mode} runs a test migration into it)"
            for name in ("test_virtual_network_id", "test_subnet")
            if not target.get(name)
        ]
    return missing


def header_comment(
    assessments: Sequence[Assessment], request: Mapping[str, Any], *, has_defaults: bool, price_label: str
) -> str:
    lines = [
        "Draft migration request written by `python -m cli discover`.",
        f"{len(request['vms'])} VM(s) ready or ready with fixes are listed; not-ready instances are left out.",
    ]
    if not has_defaults:
        lines += [
            "",
            "FILL IN before submitting: every '<REPLACE-ME: ...>' value fails validation until replaced:",
            "  appliance.instance_id / private_ip / security_group_id - the replication appliance EC2 instance;",
            "  target.subscription_id, resource_group, region, vault.name / vault.resource_group,",
            "  virtual_network_id, subnet, test_virtual_network_id, test_subnet, cache_storage_account_id.",
            "Or run discover again with --target defaults.yaml holding `appliance:` and `target:`.",
        ]
    if has_defaults and still_to_fill(request):
        lines += ["", "FILL IN before submitting:", *(f"  {field}" for field in still_to_fill(request))]
    lines += [
        "",
        "vm_size and disk_types are right-sizing recommendations: review them.",
        f"Monthly costs shown by discover are estimates only ({price_label}).",
    ]
    if any(d.kind is AzureDiskKind.PREMIUM_SSD_V2 for a in assessments for d in a.disks):
        lines.append("Disks recommended as Premium SSD v2 are written as Premium_LRS (the request has no v2 type).")
    not_ready = [a for a in assessments if a.readiness is Readiness.NOT_READY]
    if not_ready:
        lines += ["", "Not ready (left out):"]
        for a in not_ready:
            label = f"{a.instance_id} ({a.facts.name})" if a.facts.name else a.instance_id
            lines.append(f"  {label}:")
            lines.extend(f"    - {f.code.value}: {f.message}" for f in a.verdict.errors)
    return "\n".join(f"# {line}".rstrip() for line in lines) + "\n"


def request_yaml(request: Mapping[str, Any], header: str) -> str:
    return header + yaml.safe_dump(dict(request), sort_keys=False, allow_unicode=True, width=120)
