"""Status read from documented fields (undocumented values reported, never healthy), the wave's Site Recovery
readiness (every gap at once, nothing changed). The disk plan is tested in test_disk_plan.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.mgmt.recoveryservicessiterecovery import models as m

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from functions.gateways.site_recovery_wire import item_health_fields, wire
from functions.triggers.health import _health_input
from local.site_recovery import Operation, ProcessServerConfig, SiteRecoveryEmulator, build_emulated_client
from shared.errors import AccessDeniedError, PermanentError
from shared.health import HealthLevel, HealthThresholds, assess_health
from shared.lifecycle import VmProgress
from shared.readiness import GapKind
from shared.site_recovery import (
    DiscoverTopologySpec,
    MachineQuery,
    ProtectedItemRef,
    ProtectedItemSummary,
    VaultRef,
)
from shared.site_recovery_gaps import ReadinessSpec, SiteRecoveryReadiness, site_recovery_findings
from tests.site_recovery.conftest import APPLIANCE, register, run_for

NOW = datetime(2026, 1, 5, 8, tzinfo=UTC)


def _item(props: dict[str, object]) -> dict[str, object]:
    """A ``ReplicationProtectedItem`` as the service sends it (the SDK's model holds this JSON as it came)."""
    container = "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/replicationFabrics/f"
    return wire(
        m.ReplicationProtectedItem(
            {"id": f"{container}/replicationProtectionContainers/c/replicationProtectedItems/i", "properties": props}
        )
    )


def _fields(props: dict[str, object]) -> dict[str, object]:
    ref = ProtectedItemRef(
        vault=VaultRef(subscription_id="s", resource_group="rg", vault_name="v"),
        fabric_name="f",
        container_name="c",
        item_name="i",
    )
    return item_health_fields(_item(props), ref)


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


def _readiness(emulator: SiteRecoveryEmulator, vault: VaultRef, *queries: MachineQuery) -> SiteRecoveryReadiness:
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator))
    return gateway.check_readiness(ReadinessSpec(vault=vault, appliance=APPLIANCE, vms=queries))


def test_readiness_of_a_ready_wave(emulator: SiteRecoveryEmulator, vault: VaultRef) -> None:
    bios = register(emulator, "web01", 1)
    run_for(emulator.clock, 60)  # type: ignore[arg-type]
    emulator.clear_requests()
    ready = _readiness(emulator, vault, MachineQuery(instance_id="i-1", bios_id=bios))
    (vm,) = ready.vms
    assert vm.match.machine is not None and vm.match.machine.agent_registered and vm.match.matched_by == "BIOS id"
    assert ready.vault_found and ready.fabric_id and ready.physical_site_id
    assert [s.health for s in ready.process_servers] == ["Normal"]
    assert ready.policy_found and ready.container_mapping_found and not ready.machines_unreadable
    assert site_recovery_findings(ready, vault_id=vault.arm_id, appliance=APPLIANCE).gaps == ()
    assert all(r.method == "GET" for r in emulator.requests), "readiness changes nothing"


def test_readiness_reads_the_facts_the_rules_name_every_gap_of(clock: object, vault: VaultRef) -> None:
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
    assert [s.health for s in readiness.process_servers] == ["Critical"]
    assert [e.code for e in readiness.process_servers[0].health_errors] == ["PsHeartbeatMissing"]
    assert not readiness.policy_found and not readiness.container_mapping_found
    twins, nowhere = readiness.vms
    assert twins.match.ambiguous and {c.split(" (")[0] for c in twins.match.candidates} == {"web01", "web01-copy"}
    assert nowhere.match.machine is None and not nowhere.match.ambiguous
    findings = site_recovery_findings(readiness, vault_id=vault.arm_id, appliance=APPLIANCE)
    lines = " | ".join(gap.line() for gap in findings.gaps)
    assert [gap.kind for gap in findings.gaps] == [
        GapKind.APPLIANCE,
        GapKind.SITE_RECOVERY_SETUP,
        GapKind.SITE_RECOVERY_SETUP,
        GapKind.MACHINE_NOT_DISCOVERED,
    ], lines  # the IP-only twins are left to the VM's lookup with the guest's BIOS id
    assert "not healthy" in lines and "PsHeartbeatMissing" in lines and "i-nowhere" in lines
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator))
    with pytest.raises(PermanentError) as refused:
        gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    # the topology is refused with the same rules' lines (one judgement, two callers)
    assert "not healthy" in refused.value.message and "InMageRcm replication policy" in refused.value.message


def test_machines_the_identity_may_not_read_are_a_fact_not_an_exception(
    emulator: SiteRecoveryEmulator, vault: VaultRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator))

    def denied(*_: object) -> None:
        raise AccessDeniedError("AuthorizationFailed: no Microsoft.OffAzure/ServerSites/machines/read")

    monkeypatch.setattr(gateway, "discovered_machines", denied)
    spec = ReadinessSpec(
        vault=vault, appliance=APPLIANCE, vms=(MachineQuery(instance_id="i-1", ip_address="10.0.1.1"),)
    )
    readiness = gateway.check_readiness(spec)
    assert readiness.vms == () and "machines/read" in readiness.machines_unreadable
    (gap,) = site_recovery_findings(readiness, vault_id=vault.arm_id, appliance=APPLIANCE).gaps
    assert gap.kind is GapKind.CANNOT_READ and gap.resource_id == readiness.physical_site_id


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
