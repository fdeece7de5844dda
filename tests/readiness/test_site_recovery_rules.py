"""The Site Recovery side's readiness rules (pure): the gateway's facts become gaps, each judgement made once
(the process server by ``choose_process_server``, a VM's machine by ``match_machine``'s answer)."""

from __future__ import annotations

from azure.mgmt.recoveryservicessiterecovery import models as m

from shared.azure_migrate import (
    ApplianceIdentity,
    DiscoveredMachine,
    HealthIssue,
    MachineQuery,
    ProcessServer,
    ProtectionHealth,
    match_machine,
)
from shared.readiness import GapKind
from shared.site_recovery_gaps import (
    SiteRecoveryReadiness,
    VmDiscovery,
    discovery_gap,
    process_server_gap,
    site_recovery_findings,
    unreadable_vault_gap,
)

SUB = "00000000-0000-0000-0000-000000000001"
VAULT = f"/subscriptions/{SUB}/resourceGroups/rg-migration/providers/Microsoft.RecoveryServices/vaults/mig-vault"
FABRIC = f"{VAULT}/replicationFabrics/rcm-fabric"
SITE = f"/subscriptions/{SUB}/resourceGroups/rg-migration/providers/Microsoft.OffAzure/ServerSites/appliance-site"
APPLIANCE = ApplianceIdentity(ip_address="10.0.1.4")
MACHINES = (
    DiscoveredMachine(id=f"{SITE}/machines/m1", name="m1", display_name="web-01", ip_addresses=("10.0.2.1",)),
    DiscoveredMachine(id=f"{SITE}/machines/m2", name="m2", display_name="db-01", ip_addresses=("10.0.2.2",)),
    DiscoveredMachine(id=f"{SITE}/machines/m3", name="m3", display_name="db-01-old", ip_addresses=("10.0.2.2",)),
)


def _server(health: str, *errors: HealthIssue) -> ProcessServer:
    return ProcessServer(
        id="ps-1", name="aws-appliance", ip_addresses=("10.0.1.4",), health=health, health_errors=errors
    )


def _facts(**changes: object) -> SiteRecoveryReadiness:
    ready = SiteRecoveryReadiness(
        vault_found=True,
        fabric_id=FABRIC,
        fabric_name="rcm-fabric",
        physical_site_id=SITE,
        process_servers=(_server("Normal"),),
        policy_found=True,
        container_mapping_found=True,
    )
    return ready.model_copy(update=changes)


def _lookup(instance_id: str, ip: str, bios_id: str | None = None) -> VmDiscovery:
    query = MachineQuery(instance_id=instance_id, ip_address=ip, bios_id=bios_id)
    return VmDiscovery(query=query, match=match_machine(MACHINES, query))


def test_the_health_values_judged_are_the_sdks_own() -> None:
    assert {h.value for h in ProtectionHealth} == {h.value for h in m.ProtectionHealth}


def test_the_appliances_process_server_is_judged_by_choose_process_server() -> None:
    for usable in ("Normal", "Warning"):
        assert process_server_gap(APPLIANCE, FABRIC, _facts(process_servers=(_server(usable),))) is None
    for unusable in ("Critical", "None", "", "Degraded"):
        gap = process_server_gap(APPLIANCE, FABRIC, _facts(process_servers=(_server(unusable),)))
        assert gap is not None and gap.kind is GapKind.APPLIANCE and "not healthy" in gap.why, unusable
        assert "health errors" in gap.fix
    heartbeat = HealthIssue(code="PsHeartbeatMissing", message="no heartbeat\nfor 30 minutes")
    critical = process_server_gap(APPLIANCE, FABRIC, _facts(process_servers=(_server("Critical", heartbeat),)))
    assert critical is not None and "PsHeartbeatMissing: no heartbeat for 30 minutes" in critical.why
    absent = process_server_gap(APPLIANCE, FABRIC, _facts(process_servers=()))
    assert absent is not None and "not registered" in absent.why and "register the replication appliance" in absent.fix
    other = process_server_gap(ApplianceIdentity(ip_address="10.9.9.9"), FABRIC, _facts())
    assert other is not None and "registered: aws-appliance" in other.why


def test_discovery_is_judged_from_match_machines_answer() -> None:
    assert discovery_gap(SITE, _lookup("i-1", "10.0.2.1"), discovery_pending=False) is None
    none = discovery_gap(SITE, _lookup("i-9", "10.0.9.9"), discovery_pending=False)
    assert none is not None and none.kind is GapKind.MACHINE_NOT_DISCOVERED and none.instance_ids == ("i-9",)
    assert "10.0.9.9" in none.why and none.resource_id == SITE
    # the pipeline opens the discovery ports itself: not discovered yet is not a gap
    assert discovery_gap(SITE, _lookup("i-9", "10.0.9.9"), discovery_pending=True) is None
    # two machines at one IP: the guest's BIOS id, read later by the VM's own lookup, may tell them apart
    by_ip = _lookup("i-2", "10.0.2.2")
    assert by_ip.match.ambiguous and discovery_gap(SITE, by_ip, discovery_pending=False) is None
    # ... but when the query had the BIOS id and still matched two, they are named
    twins = VmDiscovery(
        query=MachineQuery(instance_id="i-2", bios_id="B-1"),
        match=match_machine(
            [mach.model_copy(update={"bios_id": "b-1"}) for mach in MACHINES[1:]],
            MachineQuery(instance_id="i-2", bios_id="B-1"),
        ),
    )
    two = discovery_gap(SITE, twins, discovery_pending=True)
    assert two is not None and two.kind is GapKind.MACHINE_AMBIGUOUS
    assert "db-01 (m2)" in two.why and "db-01-old (m3)" in two.why


def test_findings_name_every_gap_of_the_vault_side_at_once() -> None:
    ready = site_recovery_findings(_facts(vms=(_lookup("i-1", "10.0.2.1"),)), vault_id=VAULT, appliance=APPLIANCE)
    assert ready.gaps == () and ready.physical_site_id == SITE
    broken = site_recovery_findings(
        _facts(
            process_servers=(_server("Critical", HealthIssue(code="ProcessServerHeartbeatMissing", message="")),),
            policy_found=False,
            container_mapping_found=False,
            vms=(_lookup("i-1", "10.0.2.1"), _lookup("i-9", "10.0.9.9")),
        ),
        vault_id=VAULT,
        appliance=APPLIANCE,
    )
    assert [gap.kind for gap in broken.gaps] == [
        GapKind.APPLIANCE,
        GapKind.SITE_RECOVERY_SETUP,
        GapKind.SITE_RECOVERY_SETUP,
        GapKind.MACHINE_NOT_DISCOVERED,
    ]
    assert "ProcessServerHeartbeatMissing" in broken.gaps[0].why
    assert all("first replication" in gap.fix for gap in broken.gaps[1:3])
    assert all("\n" not in line for line in (gap.line() for gap in broken.gaps))


def test_a_missing_vault_or_fabric_hides_what_hangs_off_it() -> None:
    no_vault = site_recovery_findings(SiteRecoveryReadiness(vault_found=False), vault_id=VAULT, appliance=APPLIANCE)
    assert [(g.kind, g.why) for g in no_vault.gaps] == [(GapKind.SITE_RECOVERY_SETUP, "it does not exist")]
    assert "correct target.vault" in no_vault.gaps[0].fix
    no_fabric = site_recovery_findings(SiteRecoveryReadiness(vault_found=True), vault_id=VAULT, appliance=APPLIANCE)
    assert [g.what for g in no_fabric.gaps] == ["InMageRcm fabric"] and no_fabric.gaps[0].resource_id == VAULT


def test_no_site_and_unreadable_machines_are_gaps() -> None:
    no_site = site_recovery_findings(_facts(physical_site_id=None), vault_id=VAULT, appliance=APPLIANCE)
    assert [g.kind for g in no_site.gaps] == [GapKind.SITE_RECOVERY_SETUP] and "physicalSiteId" in no_site.gaps[0].why
    assert no_site.physical_site_id is None
    unreadable = site_recovery_findings(
        _facts(machines_unreadable="AuthorizationFailed: no read on\nServerSites"), vault_id=VAULT, appliance=APPLIANCE
    )
    (gap,) = unreadable.gaps
    assert gap.kind is GapKind.CANNOT_READ and gap.resource_id == SITE and "no read on ServerSites" in gap.why
    denied = unreadable_vault_gap(VAULT, "AuthorizationFailed")
    assert denied.kind is GapKind.CANNOT_READ and "Site Recovery Contributor" in denied.fix
