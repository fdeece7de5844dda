"""Status read from documented fields (undocumented values reported, never healthy), the wave's Site Recovery
readiness (every gap at once, nothing changed). The disk plan is tested in test_disk_plan.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.mgmt.recoveryservicessiterecovery import models as m

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from functions.triggers.health import _health_input
from local.site_recovery import Operation, ProcessServerConfig, SiteRecoveryEmulator, build_emulated_client
from shared.errors import PermanentError
from shared.health import HealthLevel, HealthThresholds, assess_health
from shared.lifecycle import VmProgress
from shared.site_recovery import (
    DiscoverTopologySpec,
    MachineQuery,
    ProtectedItemRef,
    ProtectedItemSummary,
    ReadinessSpec,
    VaultRef,
)
from tests.site_recovery.conftest import APPLIANCE, register, run_for

NOW = datetime(2026, 1, 5, 8, tzinfo=UTC)


def _item(props: dict[str, object]) -> m.ReplicationProtectedItem:
    container = "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/replicationFabrics/f"
    return m.ReplicationProtectedItem(
        {"id": f"{container}/replicationProtectionContainers/c/replicationProtectedItems/i", "properties": props}
    )


def _fields(props: dict[str, object]) -> dict[str, object]:
    ref = ProtectedItemRef(
        vault=VaultRef(subscription_id="s", resource_group="rg", vault_name="v"),
        fabric_name="f",
        container_name="c",
        item_name="i",
    )
    return AzureSiteRecoveryGateway._health_fields(_item(props), ref)


def test_documented_values_are_read_whatever_their_case_and_a_healthy_delta_sync_may_show_resync_zero() -> None:
    fields = _fields(
        {
            "replicationHealth": "normal",
            "allowedOperations": ["TestFailover", "UnplannedFailover"],
            "providerSpecificDetails": {
                "instanceType": "InMageRcm",
                "osType": "LINUX",
                "initialReplicationProgressPercentage": 100,
                "initialReplicationProgressHealth": "None",
                "resyncProgressPercentage": 0,
                "resyncState": "None",
                "resyncRequired": "false",
                "lastRpoInSeconds": 42,
                "lastRecoveryPointId": "rp-1",
            },
        }
    )
    assert fields["replication_health"] == "Normal" and fields["unknown_values"] == ()
    assert fields["resync_percent"] == 0 and fields["resync_required"] is False
    assert fields["rpo_seconds"] == 42 and fields["last_recovery_point_id"] == "rp-1"
    summary = ProtectedItemSummary(**fields)  # type: ignore[arg-type]
    assessment = assess_health(_health_input(summary, _progress(), NOW, HealthThresholds()))
    assert assessment.level is HealthLevel.HEALTHY and assessment.reasons == []


def _progress() -> VmProgress:
    return VmProgress.start("r", "i-0123456789abcdef0", NOW)


def test_undocumented_values_are_unknown_and_reported_never_healthy() -> None:
    fields = _fields(
        {
            "replicationHealth": "Degraded",
            "providerSpecificDetails": {"instanceType": "InMageRcm", "initialReplicationProgressHealth": "Stuck"},
        }
    )
    assert fields["replication_health"] == "unknown"
    assert set(fields["unknown_values"]) == {  # type: ignore[arg-type]
        "replicationHealth=Degraded",
        "initialReplicationProgressHealth=Stuck",
    }
    summary = ProtectedItemSummary(**fields)  # type: ignore[arg-type]
    assessment = assess_health(_health_input(summary, _progress(), NOW, HealthThresholds()))
    assert assessment.level.value != "healthy"
    assert any("Degraded" in reason for reason in assessment.reasons)
    assert any("Stuck" in reason for reason in assessment.reasons)


def _readiness(emulator: SiteRecoveryEmulator, vault: VaultRef, *queries: MachineQuery) -> object:
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator))
    return gateway.check_readiness(ReadinessSpec(vault=vault, appliance=APPLIANCE, vms=queries))


def test_readiness_of_a_ready_wave(emulator: SiteRecoveryEmulator, vault: VaultRef) -> None:
    bios = register(emulator, "web01", 1)
    run_for(emulator.clock, 60)  # type: ignore[arg-type]
    emulator.clear_requests()
    ready = _readiness(emulator, vault, MachineQuery(instance_id="i-1", bios_id=bios))
    assert ready.ready and ready.vms[0].found == 1 and ready.vms[0].agent_registered  # type: ignore[attr-defined]
    assert ready.process_server is not None and ready.policy_found and ready.container_mapping_found  # type: ignore[attr-defined]
    assert all(r.method == "GET" for r in emulator.requests), "readiness changes nothing"


def test_readiness_names_every_gap_at_once(clock: object, vault: VaultRef) -> None:
    estate = SiteRecoveryEmulator().estate.model_dump()
    fabric = estate["fabrics"][0]
    fabric["process_server"] = ProcessServerConfig(
        health="Critical", health_errors=[{"code": "PsHeartbeatMissing", "message": "no heartbeat for 30 minutes"}]
    ).model_dump()
    fabric["policy_exists"] = False
    emulator = SiteRecoveryEmulator(estate, clock=clock)  # type: ignore[arg-type]
    register(emulator, "web01", 1)
    emulator.register_machine("web01-copy", "10.0.1.1", "EC2FFFFF-0000-4000-8000-00000000FFFF", "linux")
    readiness = _readiness(
        emulator,
        vault,
        MachineQuery(instance_id="i-twins", ip_address="10.0.1.1"),
        MachineQuery(instance_id="i-nowhere", ip_address="10.9.9.9"),
    )
    gaps = " | ".join(readiness.gaps)  # type: ignore[attr-defined]
    assert "not healthy" in gaps and "PsHeartbeatMissing" in gaps
    assert "replication policy" in gaps
    assert "i-twins" in gaps and "web01" in gaps and "web01-copy" in gaps
    assert "i-nowhere" in gaps
    assert [v.found for v in readiness.vms] == [2, 0]  # type: ignore[attr-defined]
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator))
    with pytest.raises(PermanentError) as refused:
        gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    assert "not healthy" in refused.value.message


def test_an_appliance_that_is_not_registered_is_refused_never_the_first(
    gateway: AzureSiteRecoveryGateway, vault: VaultRef
) -> None:
    other = APPLIANCE.model_copy(update={"ip_address": "10.0.0.99"})
    with pytest.raises(PermanentError) as refused:
        gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=other))
    assert "10.0.0.99 is not registered" in refused.value.message


def test_the_emulator_refuses_what_the_service_refuses(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    from tests.site_recovery.conftest import enable

    enable(gateway, emulator, vault)
    good = [r for r in emulator.requests if r.operation is Operation.ENABLE][-1]
    from local.site_recovery import thawed

    base = thawed(good.body)
    url = f"{emulator.base_url}{good.path.replace('ec2-web01', 'ec2-other')}?api-version={good.api_version}"
    auth = {"Authorization": "Bearer x"}

    def put(body: dict[str, object]) -> tuple[int, str]:
        import json

        answer = emulator.handle("PUT", url, auth, json.dumps(body).encode())
        return answer.status, answer.json()["error"]["code"] if answer.status >= 400 else ""

    def changed(**details: object) -> dict[str, object]:
        body = thawed(good.body)
        body["properties"]["providerSpecificDetails"].update(details)
        return body

    with_protectable = thawed(good.body)
    with_protectable["properties"]["protectableItemId"] = "/some/protectable/item"
    assert put(with_protectable) == (400, "InvalidParameter")
    assert put(changed(instanceType="InMageAzureV2")) == (400, "ProviderRetired")
    missing = changed()
    del missing["properties"]["providerSpecificDetails"]["processServerId"]
    assert put(missing) == (400, "InvalidParameter")
    site = base["properties"]["providerSpecificDetails"]["fabricDiscoveryMachineId"].rsplit("/", 1)[0]
    assert put(changed(fabricDiscoveryMachineId=f"{site}/no-such-machine")) == (404, "ResourceNotFound")

