"""Finding a machine lists only the machines not replicating yet, so a registration poll does not grow with the wave."""

from __future__ import annotations

from datetime import timedelta

import pytest

import local.site_recovery.emulator as emulator_module
from local.site_recovery import EmulatorResponse, SiteRecoveryEmulator
from shared.request import Provider
from shared.site_recovery import DiscoverTopologySpec, FindProtectableItemSpec

from .conftest import register


@pytest.fixture
def topology(gateway, vault):
    return gateway.discover_topology(DiscoverTopologySpec(vault=vault, provider=Provider.INMAGE_RCM))


def _listings(emulator: SiteRecoveryEmulator) -> list[str]:
    return [r.query.get("$filter", "") for r in emulator.requests if r.operation.value == "list_protectable_items"]


def test_the_listing_asks_for_unprotected_machines_only(emulator, gateway, topology, clock):
    for index in range(1, 251):  # a wave already replicating: 3 pages of protectable items unfiltered
        register(emulator, f"busy-{index:03d}", Provider.INMAGE_RCM, index=index)
        emulator.seed_protected_item(f"busy-{index:03d}")
    register(emulator, "web-01", Provider.INMAGE_RCM, index=900)
    clock.advance(timedelta(hours=1))
    emulator.clear_requests()
    found = gateway.find_protectable_item(FindProtectableItemSpec(topology=topology, machine_name="web-01"))
    assert found.friendly_name == "web-01"
    assert _listings(emulator) == ["state eq 'Unprotected'"]  # one page, however many machines replicate


def test_an_unknown_filter_is_refused_by_the_emulator(emulator, topology):
    path = (
        f"/subscriptions/{topology.vault.subscription_id}/resourceGroups/{topology.vault.resource_group}/providers/"
        f"Microsoft.RecoveryServices/vaults/{topology.vault.vault_name}/replicationFabrics/{topology.fabric_name}/"
        f"replicationProtectionContainers/{topology.container_name}/replicationProtectableItems"
    )
    response: EmulatorResponse = emulator.handle(
        "GET",
        f"{emulator.base_url}{path}?api-version=2025-08-01&$filter=name%20eq%20'x'",
        {"Authorization": "Bearer t"},
        None,
    )
    assert response.status == 400 and b"InvalidFilter" in response.body


def test_a_service_refusing_the_filter_still_finds_the_machine(emulator, gateway, topology, clock, monkeypatch):
    def refuse(value):
        if value:
            raise emulator_module.EmulatorHttpError(400, "InvalidFilter", "filters are not supported here")

    monkeypatch.setattr(emulator_module, "_protection_state_filter", refuse)
    register(emulator, "web-02", Provider.INMAGE_RCM, index=901)
    clock.advance(timedelta(hours=1))
    emulator.clear_requests()
    found = gateway.find_protectable_item(FindProtectableItemSpec(topology=topology, machine_name="web-02"))
    assert found.friendly_name == "web-02"
    assert _listings(emulator) == ["state eq 'Unprotected'", ""]
