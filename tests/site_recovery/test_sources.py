"""Gateway, requests and emulator checked against sources we did not write: the guide's sample payloads, the
OffAzure spec's machine example and the SDK's generated models (see ``tests/fixtures/README.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.recoveryservicessiterecovery import models as m

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from functions.gateways.site_recovery_discovery import machine_from_json, process_servers
from local.site_recovery import API_VERSION, MIGRATE_API_VERSION, Operation, SiteRecoveryEmulator, thawed
from shared.site_recovery import (
    DiscoverTopologySpec,
    FindMachineSpec,
    JobRef,
    MachineQuery,
    TestFailoverSpec,
    VaultRef,
)
from tests.site_recovery.conftest import APPLIANCE, TEST_VNET, enable, register, run_for
from tests.site_recovery.sdk_contract import unknown_keys, unknown_rcm_keys

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GUIDE = FIXTURES / "azure-migrate-guide"
#: The guide's table "InMageRcm enable protection input parameters": Required = Yes (disks: one of the two).
GUIDE_REQUIRED = ("instanceType", "fabricDiscoveryMachineId", "processServerId", "targetResourceGroupId")
GUIDE_DISK_REQUIRED = ("diskId", "diskType", "logStorageAccountId")


def guide(name: str) -> Any:
    return json.loads((GUIDE / f"{name}.json").read_text())


def _types(body: Any) -> Any:
    """The shape of a JSON value: keys and value types, recursively (lists by their first element)."""
    if isinstance(body, dict):
        return {k: _types(v) for k, v in body.items()}
    if isinstance(body, list):
        return [_types(body[0])] if body else []
    return type(body).__name__


def _covers(mine: Any, theirs: Any, where: str = "") -> list[str]:
    """Where ``mine`` lacks a key of ``theirs`` or holds another type (null in ours is not a type mismatch)."""
    if isinstance(theirs, dict):
        if not isinstance(mine, dict):
            return [f"{where}: {type(mine).__name__} instead of an object"]
        out = []
        for key, value in theirs.items():
            if key not in mine:
                out.append(f"{where}{key}: missing")
            elif mine[key] is not None:
                out += _covers(mine[key], value, f"{where}{key}.")
        return out
    if isinstance(theirs, list):
        return _covers(mine[0], theirs[0], f"{where}[0].") if theirs and mine else []
    if type(mine) is not type(theirs):
        return [f"{where.rstrip('.')}: {type(mine).__name__} instead of {type(theirs).__name__}"]
    return []


def enable_body(emulator: SiteRecoveryEmulator) -> dict[str, Any]:
    put = [r for r in emulator.requests if r.operation is Operation.ENABLE][-1]
    body: dict[str, Any] = thawed(put.body)
    return body


def test_enable_body_has_the_guides_required_fields_and_only_sdk_keys(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    enable(gateway, emulator, vault)
    body = enable_body(emulator)
    details = body["properties"]["providerSpecificDetails"]
    assert body["properties"]["protectableItemId"] == ""
    assert all(details.get(key) for key in GUIDE_REQUIRED)
    assert bool(details.get("disksToInclude")) != bool(details.get("disksDefault"))
    assert all(disk.get(key) for disk in details["disksToInclude"] for key in GUIDE_DISK_REQUIRED)
    assert unknown_keys(m.EnableProtectionInput, body) == []
    assert unknown_rcm_keys(details) == []
    assert _covers(body, guide("enable_request"))[:0] == []  # every key we send has the guide's type where shared
    shared = {k: v for k, v in details.items() if k in guide("enable_request")["properties"]["providerSpecificDetails"]}
    assert (
        _covers(shared, {k: guide("enable_request")["properties"]["providerSpecificDetails"][k] for k in shared}) == []
    )


def test_a_planted_wrong_key_makes_the_contract_red(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    """The check can fail: a misspelt InMageRcm field, a misspelt disk field, a wrong discriminator."""
    enable(gateway, emulator, vault)
    details = enable_body(emulator)["properties"]["providerSpecificDetails"]
    misspelt = {**details, "fabricDiscoveryMachinId": details.pop("fabricDiscoveryMachineId")}
    assert unknown_rcm_keys(misspelt) == ["fabricDiscoveryMachinId"]
    disks = [{**details["disksToInclude"][0], "logStorageAcountId": "x"}]
    assert unknown_rcm_keys({**details, "disksToInclude": disks}) == ["disksToInclude[0].logStorageAcountId"]
    with pytest.raises(AssertionError):
        unknown_rcm_keys({**details, "instanceType": "InMageAzureV2"})


def test_the_guides_requests_use_only_keys_the_sdk_knows() -> None:
    """Our checker agrees with Microsoft's own samples (so a red check is about our body, not the checker)."""
    assert unknown_keys(m.EnableProtectionInput, guide("enable_request")) == []
    assert unknown_keys(m.TestFailoverInput, guide("test_failover_request")) == []
    assert unknown_keys(m.UnplannedFailoverInput, guide("failover_request")) == []
    assert unknown_keys(m.TestFailoverCleanupInput, guide("test_failover_cleanup_request")) == []


def test_the_gateway_parses_the_guides_fabric_and_the_specs_machines() -> None:
    fabric = m.Fabric(guide("fabric_details"))
    servers = process_servers(fabric.properties.custom_details)  # type: ignore[union-attr]
    assert [(s.id, s.name, s.health, s.healthy) for s in servers] == [
        ("00001111-aaaa-2222-bbbb-3333cccc4444", "yourappliancename", "Normal", True)
    ]
    assert fabric.properties.custom_details.physical_site_id.endswith("/ServerSites/{siteName}")  # type: ignore[union-attr]
    listed = m.Fabric(guide("fabric_list")["value"][0])
    assert listed.properties.custom_details.instance_type == "InMageRcm"  # type: ignore[union-attr]
    raw = json.loads(
        (FIXTURES / "offazure-2023-06-06" / "ServersController_ListByServerSiteResource_excerpt.json").read_text()
    )
    machine = machine_from_json(raw["value"][0], {}, {})
    assert machine.id == "wafixwtrinptvobkzgtkkxa" and machine.display_name == "sxfp"
    assert machine.bios_id == "axlwhnec" and machine.ip_addresses == ("pqfzcxoolkkhkzmmdangfolhs",)
    assert machine.run_as_account_id == "dwwsshatxjxouoow" and machine.is_deleted
    assert [(d.id, d.path, d.size_bytes) for d in machine.disks] == [("jfl", "wuwihtdhhxmrehdqrgf", 30)]
    job = m.Job(guide("test_failover_job"))
    assert job.properties.state == "InProgress" and job.properties.scenario_name == "TestFailover"  # type: ignore[union-attr]


def _get(emulator: SiteRecoveryEmulator, path: str, version: str = API_VERSION) -> Any:
    answer = emulator.handle(
        "GET", f"{emulator.base_url}{path}?api-version={version}", {"Authorization": "Bearer x"}, None
    )
    assert answer.status == 200, answer.body
    return answer.json()


def test_the_emulators_answers_have_the_guides_and_specs_shapes(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    _, item, job = enable(gateway, emulator, vault)
    fabric = emulator.estate.fabrics[0]
    listed = _get(emulator, f"{emulator.vault_id}/replicationFabrics")
    assert _covers(listed, guide("fabric_list")) == []
    details = _get(emulator, emulator.fabric_id(fabric))
    expected = guide("fabric_details")
    expected["properties"]["customDetails"].pop("vmwareSiteId")  # physical machines: no VMware site
    assert _covers(details, expected) == []
    machines = _get(emulator, emulator.physical_site_id(fabric) + "/machines", MIGRATE_API_VERSION)
    spec = json.loads(
        (FIXTURES / "offazure-2023-06-06" / "ServersController_ListByServerSiteResource_excerpt.json").read_text()
    )
    spec.pop("nextLink")  # one page here
    assert _covers(machines, spec) == []
    job_body = _get(emulator, f"{emulator.vault_id}/replicationJobs/{job}")
    assert _covers(job_body, {k: v for k, v in guide("test_failover_job").items() if k != "type"}) == []
    item_body = _get(emulator, emulator._item_id(fabric, item.item_name))
    assert _covers(item_body, guide("enable_response")) == [] or _covers(item_body, guide("enable_response")) == [
        "properties.protectedItemType: missing"
    ]


def test_the_contract_of_shapes_can_fail() -> None:
    assert _covers({"a": 1}, {"a": "x", "b": 2}) == ["a: int instead of str", "b: missing"]


def test_the_machine_is_matched_by_bios_id_case_insensitively_and_never_by_a_stale_twin(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    bios = register(emulator, "web01", 1)
    emulator.register_machine("web01-old", "10.0.1.1", "EC2FFFFF-0000-4000-8000-00000000FFFF", "linux")
    run_for(emulator.clock, 60)  # type: ignore[arg-type]
    topology = gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    by_bios = gateway.find_machine(
        FindMachineSpec(topology=topology, query=MachineQuery(bios_id=bios.lower(), ip_address="10.0.1.1"))
    )
    assert by_bios.machine is not None and by_bios.machine.display_name == "web01" and by_bios.matched_by == "BIOS id"
    by_ip = gateway.find_machine(FindMachineSpec(topology=topology, query=MachineQuery(ip_address="10.0.1.1")))
    assert by_ip.machine is None and by_ip.ambiguous and len(by_ip.candidates) == 2
    assert "web01" in by_ip.problem(MachineQuery(ip_address="10.0.1.1")) and "web01-old" in by_ip.problem(
        MachineQuery(ip_address="10.0.1.1")
    )


def test_azure_async_operation_to_operation_status_still_yields_the_job(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    emulator.estate.async_operation_style = "operation_status"
    _, item, job = enable(gateway, emulator, vault)
    assert gateway.get_job(JobRef(vault=vault, job_name=job)).scenario_name == "EnableDr"
    run_for(emulator.clock, 6 * 3600)  # type: ignore[arg-type]
    started = gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET))
    assert gateway.get_job(started.job).scenario_name == "TestFailover"
    operation_id = next(iter(emulator._operations))
    monitor = _get(emulator, f"{emulator.vault_id}/replicationOperationStatus/{operation_id}")
    assert set(monitor) >= {"id", "name", "status", "startTime"} and monitor["status"] in {"InProgress", "Succeeded"}


def test_recorded_request_bodies_are_immutable_copies(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    _, item, _ = enable(gateway, emulator, vault)
    before = json.dumps(enable_body(emulator), sort_keys=True)
    run_for(emulator.clock, 6 * 3600)  # type: ignore[arg-type]
    started = gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET + "-other"))
    run_for(emulator.clock, 3600)  # type: ignore[arg-type]
    assert gateway.get_job(started.job).succeeded
    assert json.dumps(enable_body(emulator), sort_keys=True) == before
    recorded = [r for r in emulator.requests if r.operation is Operation.ENABLE][-1]
    with pytest.raises(TypeError):
        recorded.body["properties"]["protectableItemId"] = "changed"
