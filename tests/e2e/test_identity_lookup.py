"""The machine is found by the guest's own identity, as the prepare-guest command reports it.

Every emulated guest reports its identity for real (``local.aws.guest.emulator_for_estate`` with the seeded
estate: SMBIOS UUID, host name, IPs, NVMe serial = volume id without the hyphen, from ``local/aws/identity.py``),
and Azure Migrate's discovery describes the same machines with the same definitions. A stale machine with the same
IP address on the Azure Migrate site is the trap: found by BIOS id it is ignored; a guest that reports no identity
(an older prepare-guest document: its ``GuestBehaviour.identity`` is None here) is looked up by IP alone, and two
candidates are refused, naming both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.aws.identity import bios_id_for, hostname_for
from local.scenario import VmBehaviour, load_scenario
from local.site_recovery import Operation, thawed
from local.stack import LocalStack
from shared.lifecycle import VmState

from .helpers import by_name, run_wave, wave

SCENARIO = Path(__file__).parent / "scenarios" / "lifecycle.yaml"
GIB = 1024**3
#: The guest that reports no identity, as one running an older prepare-guest document would.
WITHOUT_IDENTITY = "v2-lin"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    scenario = load_scenario(SCENARIO)
    behaviour = {**scenario.behaviour, WITHOUT_IDENTITY: VmBehaviour(guest={"identity": None})}
    scenario = scenario.model_copy(update={"behaviour": behaviour})
    with LocalStack.open(scenario, tmp_path_factory.mktemp("identity")) as opened:
        yield opened


def _enable_details(stack: LocalStack, instance_id: str) -> dict[str, object]:
    return next(
        thawed(r.body)["properties"]["providerSpecificDetails"]
        for r in stack.site_recovery.requests
        if r.operation is Operation.ENABLE and f"/ec2-{instance_id}" in r.path and r.status == 202
    )


def test_found_by_bios_id_despite_a_stale_twin_with_the_same_ip(stack: LocalStack) -> None:
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
    guest = stack.guests.behaviour(seeded.instance_id)
    assert guest is not None and guest.identity is not None  # the real report, nothing patched in
    machine = stack.site_recovery._machine("rcm-win")
    # discovery and the guest describe one machine: the same SMBIOS UUID and the Windows host name EC2 gives it
    assert machine.bios_id.lower() == bios_id_for(seeded.instance_id)
    assert machine.hostname == hostname_for(seeded.instance_id, seeded.private_ip, seeded.platform)
    assert machine.hostname.startswith("EC2AMAZ-")
    assert [(d.path, d.is_os) for d in machine.disks] == [(d.device, d.is_os_disk) for d in guest.identity.disks]
    enable = _enable_details(stack, seeded.instance_id)
    assert enable["fabricDiscoveryMachineId"] == stack.site_recovery.machine_id(machine)
    sizes = {d.disk_id: d.size_bytes // GIB for d in machine.disks}
    disks = enable["disksToInclude"]
    assert isinstance(disks, list)
    assert {sizes[d["diskId"]]: d["diskType"] for d in disks} == {60: "Premium_LRS", 100: "StandardSSD_LRS"}


def test_without_the_guests_identity_two_machines_at_one_ip_are_refused_and_named(stack: LocalStack) -> None:
    seeded = stack.seeded.instances[WITHOUT_IDENTITY]
    stack.site_recovery.discover_machine(
        f"{WITHOUT_IDENTITY}-stale", seeded.private_ip, "EC2BEEF0-0000-4000-8000-00000000BEEF", "linux"
    )
    outcome = run_wave(stack, wave(stack, "e2e-twins", [WITHOUT_IDENTITY], approval="auto"))
    progress = by_name(outcome)[WITHOUT_IDENTITY]
    assert progress.state is VmState.FAILED and progress.error is not None
    guest = stack.guests.behaviour(seeded.instance_id)
    assert guest is not None and guest.identity is None
    assert progress.error.code == "AmbiguousMachine"
    assert WITHOUT_IDENTITY in progress.error.message and f"{WITHOUT_IDENTITY}-stale" in progress.error.message
    assert not any(
        r.operation is Operation.ENABLE and f"/ec2-{seeded.instance_id}" in r.path for r in stack.site_recovery.requests
    )
