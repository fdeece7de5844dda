"""One replication appliance's process server protects at most 200 machines (Microsoft's appliance support matrix,
"Sizing and capacity"): the fabric reports its ``protectedItemCount`` as the SDK's ``ProcessServerDetails`` reads it,
an enable beyond the limit is refused, and the pipeline's readiness rules and parallelism read that count."""

from __future__ import annotations

import pytest

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.site_recovery import SiteRecoveryEmulator, build_emulated_client
from shared.appliance_capacity import APPLIANCE_MAX_PROTECTED, ParallelLimit, effective_parallelism
from shared.errors import PermanentError
from shared.site_recovery import DiscoverTopologySpec, VaultRef
from shared.site_recovery_gaps import ReadinessSpec

from .conftest import APPLIANCE, enable


def _plant_limit(emulator: SiteRecoveryEmulator, limit: int) -> None:
    fabric = emulator.estate.fabrics[0]
    fabric.process_server = fabric.process_server.model_copy(update={"max_protected_items": limit})


def _protected_count(emulator: SiteRecoveryEmulator) -> int | None:
    e = emulator.estate
    fabric = build_emulated_client(emulator).replication_fabrics.get(e.resource_group, e.vault_name, e.fabrics[0].name)
    servers = fabric.properties.custom_details.process_servers  # the SDK's ProcessServerDetails
    assert servers is not None and len(servers) == 1
    return servers[0].protected_item_count


def test_the_default_limit_is_microsofts_figure(emulator: SiteRecoveryEmulator) -> None:
    assert emulator.estate.fabrics[0].process_server.max_protected_items == 200 == APPLIANCE_MAX_PROTECTED


def test_an_enable_beyond_the_appliance_limit_is_refused_and_the_count_is_reported(
    emulator: SiteRecoveryEmulator, gateway: AzureSiteRecoveryGateway, vault: VaultRef
) -> None:
    _plant_limit(emulator, 2)
    assert _protected_count(emulator) == 0
    enable(gateway, emulator, vault, "web01", 1)
    enable(gateway, emulator, vault, "web02", 2)
    assert _protected_count(emulator) == 2
    with pytest.raises(PermanentError) as refused:
        enable(gateway, emulator, vault, "web03", 3)
    assert "ProcessServerCapacityExceeded" in str(refused.value)
    assert "already protects 2 machines" in str(refused.value)
    assert _protected_count(emulator) == 2
    enable_answers = [r.status for r in emulator.requests if r.method == "PUT"]
    assert enable_answers == [202, 202, 400]


def test_the_gateway_reads_the_count_into_readiness_and_topology(
    emulator: SiteRecoveryEmulator, gateway: AzureSiteRecoveryGateway, vault: VaultRef
) -> None:
    enable(gateway, emulator, vault, "web01", 1)
    readiness = gateway.check_readiness(ReadinessSpec(vault=vault, appliance=APPLIANCE))
    assert [s.protected_item_count for s in readiness.process_servers] == [1]
    topology = gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    assert topology.process_server_protected_items == 1
    parallel = effective_parallelism(10, [topology.process_server_protected_items])
    assert (parallel.value, parallel.limited_by) == (10, ParallelLimit.MAX_PARALLEL)
