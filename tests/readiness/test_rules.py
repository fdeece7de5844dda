"""The readiness rules (pure): what a request needs, and every gap found at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from local.azure_resources.roles import READER, STORAGE_ACCOUNT_KEY_OPERATOR, VIRTUAL_MACHINE_CONTRIBUTOR
from local.azure_resources.roles import WINDOWS_365_NETWORK_USER as NETWORK_USER
from shared.lifecycle import VmState
from shared.rbac import PermissionEntry
from shared.readiness import (
    Gap,
    GapKind,
    Need,
    ResourceFact,
    ResourceKind,
    ResourceState,
    SiteRecoveryFindings,
    assess,
    needs_of,
    not_ready_results,
)
from shared.request import MigrationRequest, parse_request

SUB = "00000000-0000-0000-0000-000000000001"
NET = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks"
CACHE = f"/subscriptions/{SUB}/resourceGroups/rg-migration/providers/Microsoft.Storage/storageAccounts/migcache01"
SITE = f"/subscriptions/{SUB}/resourceGroups/rg-migration/providers/Microsoft.OffAzure/ServerSites/appliance-site"
GRANTS = {
    ResourceKind.RESOURCE_GROUP: (VIRTUAL_MACHINE_CONTRIBUTOR.permission,),
    ResourceKind.SUBNET: (NETWORK_USER.permission,),
    ResourceKind.STORAGE_ACCOUNT: (READER.permission, STORAGE_ACCOUNT_KEY_OPERATOR.permission),
    ResourceKind.MIGRATE_SITE: (READER.permission,),
}


def _request(**vm_target: Any) -> MigrationRequest:
    vms: list[dict[str, Any]] = [{"instance_id": "i-0123456789abcdef1"}, {"instance_id": "i-0123456789abcdef2"}]
    if vm_target:
        vms[1]["target"] = vm_target
    return parse_request(
        {
            "request_id": "ready-1",
            "region": "eu-west-1",
            "appliance": {
                "instance_id": "i-0123456789abcdef0",
                "private_ip": "10.0.1.4",
                "security_group_id": "sg-0123abcd",
            },
            "target": {
                "subscription_id": SUB,
                "resource_group": "rg-migrated",
                "region": "westeurope",
                "vault": {"name": "mig-vault", "resource_group": "rg-migration"},
                "virtual_network_id": f"{NET}/vnet-prod",
                "subnet": "apps",
                "test_virtual_network_id": f"{NET}/vnet-test",
                "test_subnet": "test",
                "cache_storage_account_id": CACHE,
            },
            "vms": vms,
        }
    )


def _healthy(needs: list[Need]) -> dict[str, ResourceFact]:
    return {
        need.key: ResourceFact(
            resource_id=need.resource_id,
            properties={"networkAcls": {"defaultAction": "Allow", "bypass": "AzureServices"}},
            permissions=GRANTS.get(need.kind, ()),
        )
        for need in needs
    }


def test_needs_are_listed_once_each_with_the_vms_that_use_them() -> None:
    request = _request(subnet="db")
    needs = needs_of(request, SITE)
    by_id = {need.resource_id: need for need in needs}
    assert sorted(by_id) == sorted(
        [
            f"/subscriptions/{SUB}/resourceGroups/rg-migrated",
            f"{NET}/vnet-prod",
            f"{NET}/vnet-prod/subnets/apps",
            f"{NET}/vnet-prod/subnets/db",
            f"{NET}/vnet-test",
            f"{NET}/vnet-test/subnets/test",
            CACHE,
            SITE,
        ]
    )
    assert by_id[f"{NET}/vnet-prod/subnets/db"].instance_ids == ("i-0123456789abcdef2",)
    assert by_id[f"{NET}/vnet-prod"].instance_ids == ("i-0123456789abcdef1", "i-0123456789abcdef2")
    assert by_id[SITE].read is False
    assert by_id[f"{NET}/vnet-prod/subnets/apps"].role == "target subnet"
    assert by_id[f"{NET}/vnet-test/subnets/test"].role == "test subnet"


def test_a_ready_estate_has_no_gap() -> None:
    request = _request()
    needs = needs_of(request, SITE)
    report = assess(request, needs, _healthy(needs))
    assert report.ready and report.lines() == []
    assert len(report.checked) == len(needs)


def test_every_gap_is_listed_at_once() -> None:
    request = _request(subnet="db")
    needs = needs_of(request, SITE)
    facts = _healthy(needs)
    db = f"{NET}/vnet-prod/subnets/db"
    facts[db.lower()] = ResourceFact(
        resource_id=db, state=ResourceState.MISSING, detail="NotFound: Resource not found."
    )
    group = needs[0]
    facts[group.key] = facts[group.key].model_copy(update={"permissions": (READER.permission,)})
    facts[CACHE.lower()] = facts[CACHE.lower()].model_copy(
        update={"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "None"}}, "permissions": ()}
    )
    facts[SITE.lower()] = facts[SITE.lower()].model_copy(update={"permissions": None, "permissions_detail": "403"})
    appliance = Gap(kind=GapKind.APPLIANCE, resource_id="fabric-id", what="appliance", why="Critical", fix="heal it")
    report = assess(request, needs, facts, SiteRecoveryFindings(physical_site_id=SITE, gaps=(appliance,)))
    found = {(gap.kind, gap.resource_id): gap for gap in report.gaps}
    assert list(found) == [
        (GapKind.APPLIANCE, "fabric-id"),
        (GapKind.PERMISSION_MISSING, group.resource_id),
        (GapKind.CACHE_UNREACHABLE, CACHE),
        (GapKind.PERMISSION_MISSING, CACHE),
        (GapKind.RESOURCE_MISSING, db),
        (GapKind.CANNOT_READ, SITE),
    ]
    missing_subnet = found[(GapKind.RESOURCE_MISSING, db)]
    assert missing_subnet.instance_ids == ("i-0123456789abcdef2",)
    assert "does not exist: NotFound" in missing_subnet.why
    assert "Microsoft.Compute/virtualMachines/write" in found[(GapKind.PERMISSION_MISSING, group.resource_id)].why
    cache_why = found[(GapKind.PERMISSION_MISSING, CACHE)].why
    assert "listKeys/action" in cache_why and "storageAccounts/read" in cache_why
    assert report.for_vm("i-0123456789abcdef1") == tuple(g for g in report.gaps if g is not missing_subnet)
    assert all("\n" not in line for line in report.lines())


def test_a_missing_vnet_is_one_gap_not_one_more_per_subnet() -> None:
    request = _request()
    needs = needs_of(request)
    facts = _healthy(needs)
    vnet = f"{NET}/vnet-prod"
    facts[vnet.lower()] = ResourceFact(resource_id=vnet, state=ResourceState.MISSING)
    facts[f"{vnet}/subnets/apps".lower()] = ResourceFact(
        resource_id=f"{vnet}/subnets/apps", state=ResourceState.MISSING
    )
    report = assess(request, needs, facts)
    assert [(gap.kind, gap.resource_id) for gap in report.gaps] == [(GapKind.RESOURCE_MISSING, vnet)]


@pytest.mark.parametrize(
    ("properties", "reachable"),
    [
        ({}, True),
        ({"networkAcls": {"defaultAction": "Allow", "bypass": "None"}}, True),
        ({"networkAcls": {"defaultAction": "Deny", "bypass": "Logging, Metrics, AzureServices"}}, True),
        ({"networkAcls": {"defaultAction": "Deny", "bypass": "Logging, Metrics"}}, False),
        ({"publicNetworkAccess": "Disabled", "networkAcls": {"defaultAction": "Allow"}}, False),
    ],
)
def test_cache_account_reachability(properties: dict[str, Any], reachable: bool) -> None:
    request = _request()
    needs = needs_of(request)
    facts = _healthy(needs)
    facts[CACHE.lower()] = facts[CACHE.lower()].model_copy(update={"properties": properties})
    report = assess(request, needs, facts)
    assert report.ready is reachable
    if not reachable:
        assert report.gaps[0].kind is GapKind.CACHE_UNREACHABLE


def test_unreadable_resource_is_a_gap_naming_the_role_to_assign() -> None:
    request = _request()
    needs = needs_of(request)
    facts = _healthy(needs)
    facts[CACHE.lower()] = ResourceFact(
        resource_id=CACHE, state=ResourceState.CANNOT_READ, detail="AuthorizationFailed"
    )
    (gap,) = assess(request, needs, facts).gaps
    assert gap.kind is GapKind.CANNOT_READ
    assert "Storage Account Key Operator Service Role" in gap.fix


def test_a_gap_is_one_line_per_field() -> None:
    with pytest.raises(ValidationError):
        Gap(kind=GapKind.APPLIANCE, resource_id="x", what="a\nb", why="c", fix="d")
    with pytest.raises(ValidationError):
        Gap(kind=GapKind.APPLIANCE, resource_id="x", what="a", why=" ", fix="d")


def test_a_wave_that_is_not_ready_fails_every_vm_with_the_gaps() -> None:
    request = _request(subnet="db")
    gap = Gap(
        kind=GapKind.RESOURCE_MISSING,
        resource_id="s",
        what="target subnet db",
        why="it does not exist",
        fix="add it",
        instance_ids=("i-0123456789abcdef2",),
    )
    wide = Gap(kind=GapKind.PERMISSION_MISSING, resource_id="g", what="rg", why="lacks x", fix="assign y")
    report = assess(request, [], {}, SiteRecoveryFindings(gaps=(gap, wide)))
    at = datetime(2026, 1, 5, tzinfo=UTC)
    results = not_ready_results(request, report, at)
    assert [r.state for r in results] == [VmState.FAILED, VmState.FAILED]
    assert all(r.error is not None and r.error.code == "AzureNotReady" for r in results)
    assert all(r.reasons == (gap.line(), wide.line()) for r in results)
    assert results[0].error is not None and "first: rg" in results[0].error.message
    assert results[1].error is not None and "first: target subnet db" in results[1].error.message


def test_permission_entries_are_plain_data() -> None:
    assert PermissionEntry().actions == ()
