"""The bundled demo, run on the embedded default, as Site Recovery and Azure Migrate would see it on the wire.

Acceptance of "Site Recovery as Azure speaks it today": InMageRcm only; every enable has an empty
``protectableItemId``, the machine Azure Migrate discovered (looked up on its site), the request's appliance as
process server, and only keys the SDK's model knows; the demo's expected outcomes hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.scenario import load_scenario
from local.site_recovery import MIGRATE_API_VERSION, Operation, thawed
from local.stack import LocalStack, WaveOutcome
from tests.site_recovery.sdk_contract import unknown_rcm_keys

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "local" / "scenarios" / "demo.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, WaveOutcome]]:
    scenario = load_scenario(DEMO)
    with LocalStack.open(scenario, tmp_path_factory.mktemp("demo")) as stack:
        stack.submit()
        yield stack, stack.run()


def test_the_demo_ends_as_its_scenario_expects(demo: tuple[LocalStack, WaveOutcome]) -> None:
    stack, outcome = demo
    assert outcome.runtime_status == "Completed" and outcome.summary is not None
    names = {item.instance_id: name for name, item in stack.seeded.instances.items()}
    states = {names[vm.instance_id]: vm.state.value for vm in outcome.summary.vms}
    assert states == {name: state.value for name, state in stack.scenario.expect.items()}


def test_every_enable_on_the_wire_is_the_modernized_one(demo: tuple[LocalStack, WaveOutcome]) -> None:
    stack, _ = demo
    emulator = stack.site_recovery
    fabric = emulator.estate.fabrics[0]
    site = emulator.physical_site_id(fabric)
    enables = [r for r in emulator.requests if r.operation is Operation.ENABLE]
    replicated = [name for name, state in stack.scenario.expect.items() if state.value != "rejected"]
    assert len({r.path for r in enables if r.status == 202}) == len(replicated)
    machine_ids = {emulator.machine_id(emulator._machine(name)) for name in replicated}
    for request in enables:
        props = thawed(request.body)["properties"]
        details = props["providerSpecificDetails"]
        assert props["protectableItemId"] == ""
        assert details["instanceType"] == "InMageRcm"
        assert details["fabricDiscoveryMachineId"] in machine_ids
        assert details["processServerId"] == fabric.process_server.id
        assert fabric.process_server.ip_address == stack.seeded.appliance.private_ip
        assert unknown_rcm_keys(details) == []
    lookups = [r for r in emulator.requests if r.operation is Operation.LIST_MACHINES]
    assert lookups and {(r.path, r.api_version) for r in lookups} == {(f"{site}/machines", MIGRATE_API_VERSION)}


def test_per_disk_settings_landed_on_the_right_disks(demo: tuple[LocalStack, WaveOutcome]) -> None:
    """db-01 excludes /dev/sdg (50 GiB) and app-01 puts /dev/sdf (100 GiB) on StandardSSD_LRS."""
    stack, _ = demo
    emulator = stack.site_recovery

    def enabled_disks(name: str) -> dict[int, str]:
        machine = emulator._machine(name)
        request = next(
            r
            for r in emulator.requests
            if r.operation is Operation.ENABLE
            and r.status == 202
            and thawed(r.body)["properties"]["providerSpecificDetails"]["fabricDiscoveryMachineId"]
            == emulator.machine_id(machine)
        )
        sizes = {d.disk_id: d.size_bytes // 1024**3 for d in machine.disks}
        disks = thawed(request.body)["properties"]["providerSpecificDetails"]["disksToInclude"]
        return {sizes[d["diskId"]]: d["diskType"] for d in disks}

    assert enabled_disks("db-01") == {60: "Premium_LRS", 200: "Premium_LRS"}
    assert enabled_disks("app-01") == {30: "Premium_LRS", 100: "StandardSSD_LRS"}


def test_licences_reach_the_wire_per_os(demo: tuple[LocalStack, WaveOutcome]) -> None:
    """db-01 (Windows, hybrid benefit, SQL AHUB), app-01 (RHEL, RHEL_BYOS) and web-01 (Ubuntu, nothing asked)
    send the InMageRcm licence fields the guide documents; a field the request left out is not sent."""
    stack, _ = demo
    emulator = stack.site_recovery

    def licences(name: str) -> dict[str, object]:
        machine_id = emulator.machine_id(emulator._machine(name))
        request = next(
            r
            for r in emulator.requests
            if r.operation is Operation.ENABLE
            and r.status == 202
            and thawed(r.body)["properties"]["providerSpecificDetails"]["fabricDiscoveryMachineId"] == machine_id
        )
        details = thawed(request.body)["properties"]["providerSpecificDetails"]
        return {key: details.get(key) for key in ("licenseType", "linuxLicenseType", "sqlServerLicenseType")}

    assert licences("db-01") == {
        "licenseType": "WindowsServer",
        "linuxLicenseType": None,
        "sqlServerLicenseType": "AHUB",
    }
    assert licences("app-01") == {
        "licenseType": "NoLicenseType",
        "linuxLicenseType": "RHEL_BYOS",
        "sqlServerLicenseType": None,
    }
    assert licences("report-01") == {
        "licenseType": "NoLicenseType",
        "linuxLicenseType": None,
        "sqlServerLicenseType": None,
    }
    assert licences("web-01") == {
        "licenseType": "NoLicenseType",
        "linuxLicenseType": None,
        "sqlServerLicenseType": None,
    }
