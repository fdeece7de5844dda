"""The machine is found by the guest's own identity, as the prepare-guest command reports it.

The guest emulator does not report ``identity`` yet (its owners add it); this module stands in for that one field
with the estate's own definitions (``local/aws/identity.py``: SMBIOS UUID, NVMe serial = volume id without the
hyphen) so the BIOS-first lookup and the serial-based disk mapping run through the whole pipeline. A stale machine
with the same IP address on the Azure Migrate site is the trap: found by BIOS id it is ignored; found by IP alone
the lookup is refused, naming both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.aws.guest import GuestEmulator
from local.aws.identity import bios_id_for, nvme_serial_for
from local.scenario import load_scenario
from local.site_recovery import Operation, guest_device, thawed
from local.stack import LocalStack
from shared.lifecycle import VmState

from .helpers import by_name, ec2, run_wave, wave

SCENARIO = Path(__file__).parent / "scenarios" / "lifecycle.yaml"
GIB = 1024**3
SSD_DATA = {"/dev/sdf": "StandardSSD_LRS"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.open(load_scenario(SCENARIO), tmp_path_factory.mktemp("identity")) as opened:
        yield opened


def _identities(stack: LocalStack) -> dict[str, dict[str, Any]]:
    """What each guest would report: its SMBIOS UUID (lower case, as Linux shows it) and its NVMe disks."""
    reservations = ec2(stack).describe_instances()["Reservations"]
    out: dict[str, dict[str, Any]] = {}
    for instance in (i for r in reservations for i in r["Instances"]):
        platform = "windows" if instance.get("Platform") == "windows" else "linux"
        mappings = sorted(
            instance.get("BlockDeviceMappings", []),
            key=lambda m: (m["DeviceName"] != instance.get("RootDeviceName"), m["DeviceName"]),
        )
        volumes = ec2(stack).describe_volumes(VolumeIds=[m["Ebs"]["VolumeId"] for m in mappings])["Volumes"]
        sizes = {v["VolumeId"]: v["Size"] for v in volumes}
        out[instance["InstanceId"]] = {
            "bios_id": bios_id_for(instance["InstanceId"]),
            "hostname": f"ip-{instance['PrivateIpAddress'].replace('.', '-')}",
            "ip_addresses": [instance["PrivateIpAddress"]],
            "disks": [
                {
                    "device": guest_device(platform, index),
                    "serial": nvme_serial_for(m["Ebs"]["VolumeId"]),
                    "size_bytes": sizes[m["Ebs"]["VolumeId"]] * GIB,
                    "is_os_disk": index == 0,
                }
                for index, m in enumerate(mappings)
            ],
        }
    return out


def _report_identity(monkeypatch: pytest.MonkeyPatch, identities: dict[str, dict[str, Any]]) -> None:
    original = GuestEmulator._synthesized_stdout

    def with_identity(self: GuestEmulator, instance_id: str, *args: Any) -> str:
        out = original(self, instance_id, *args)
        result = json.loads(out)
        if str(result.get("script", "")).startswith("prepare-guest"):
            result["identity"] = identities[instance_id]
        return json.dumps(result) + "\n"

    monkeypatch.setattr(GuestEmulator, "_synthesized_stdout", with_identity)


def test_found_by_bios_id_despite_a_stale_twin_with_the_same_ip(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _report_identity(monkeypatch, _identities(stack))
    seeded = stack.seeded.instances["rcm-win"]
    stack.site_recovery.discover_machine(
        "rcm-win-stale", seeded.private_ip, "EC2DEAD0-0000-4000-8000-00000000DEAD", "windows"
    )
    outcome = run_wave(
        stack,
        wave(
            stack,
            "e2e-identity",
            [{"instance": "rcm-win", "os_type": "windows", "disk_types": {"/dev/sdf": "StandardSSD_LRS"}}],
            approval="auto",
        ),
    )
    progress = by_name(outcome)["rcm-win"]
    assert progress.state is VmState.COMPLETED, progress.error
    machine = stack.site_recovery._machine("rcm-win")
    enable = next(
        thawed(r.body)["properties"]["providerSpecificDetails"]
        for r in stack.site_recovery.requests
        if r.operation is Operation.ENABLE and f"/ec2-{seeded.instance_id}" in r.path and r.status == 202
    )
    assert enable["fabricDiscoveryMachineId"] == stack.site_recovery.machine_id(machine)
    sizes = {d.disk_id: d.size_bytes // GIB for d in machine.disks}
    assert {sizes[d["diskId"]]: d["diskType"] for d in enable["disksToInclude"]} == {
        60: "Premium_LRS",
        100: "StandardSSD_LRS",
    }


def test_without_the_guests_identity_two_machines_at_one_ip_are_refused_and_named(stack: LocalStack) -> None:
    seeded = stack.seeded.instances["v2-lin"]
    stack.site_recovery.discover_machine(
        "v2-lin-stale", seeded.private_ip, "EC2BEEF0-0000-4000-8000-00000000BEEF", "linux"
    )
    outcome = run_wave(stack, wave(stack, "e2e-twins", ["v2-lin"], approval="auto"))
    progress = by_name(outcome)["v2-lin"]
    assert progress.state is VmState.FAILED and progress.error is not None
    assert progress.error.code == "AmbiguousMachine"
    assert "v2-lin" in progress.error.message and "v2-lin-stale" in progress.error.message
    assert not any(
        r.operation is Operation.ENABLE and f"/ec2-{seeded.instance_id}" in r.path for r in stack.site_recovery.requests
    )
