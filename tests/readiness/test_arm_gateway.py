"""The ARM reader over the real azure-core pipeline against the ARM emulator, and both against Microsoft's REST
examples (``fixtures/``, copied verbatim from Azure/azure-rest-api-specs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.gateways.azure_resources import ArmResourceReader, build_arm_client
from local.azure_resources import (
    AzureEstate,
    AzureFaults,
    AzureResourcesEmulator,
    build_emulated_arm_client,
    seed_from_request,
)
from local.clock import VirtualClock
from local.scenario import load_scenario
from local.site_recovery import EmulatorResponse
from local.site_recovery.transport import EmulatorCredential, EmulatorTransport
from shared.errors import InvalidRequestError, MigrationError, TransientError
from shared.readiness import (
    SUBNET_ACTIONS,
    GapKind,
    Need,
    ResourceFact,
    ResourceKind,
    ResourceState,
    assess,
    needs_of,
)
from shared.request import parse_request

FIXTURES = Path(__file__).parent / "fixtures"
SUB = "00000000-0000-0000-0000-000000000001"
NET = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks"
CACHE = f"/subscriptions/{SUB}/resourceGroups/rg-migration/providers/Microsoft.Storage/storageAccounts/migcache01"
SITE = f"/subscriptions/{SUB}/resourceGroups/rg-migration/providers/Microsoft.OffAzure/ServerSites/appliance-site"
TARGET: dict[str, Any] = {
    "subscription_id": SUB,
    "resource_group": "rg-migrated",
    "region": "westeurope",
    "vault": {"name": "mig-vault", "resource_group": "rg-migration"},
    "virtual_network_id": f"{NET}/vnet-prod",
    "subnet": "apps",
    "test_virtual_network_id": f"{NET}/vnet-test",
    "test_subnet": "test",
    "cache_storage_account_id": CACHE,
}
REQUEST: dict[str, Any] = {
    "request_id": "ready-1",
    "region": "eu-west-1",
    "appliance": {"instance_id": "i-0123456789abcdef0", "private_ip": "10.0.1.4", "security_group_id": "sg-0123abcd"},
    "target": TARGET,
    "vms": [{"instance_id": "i-0123456789abcdef1"}],
}


def _example(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["responses"]["200"]["body"]


def _stack(faults: AzureFaults | None = None, **estate: Any) -> tuple[AzureResourcesEmulator, ArmResourceReader]:
    emulator = AzureResourcesEmulator(AzureEstate(faults=faults or AzureFaults(), **estate), clock=VirtualClock())
    seed_from_request(emulator, REQUEST, SITE)
    return emulator, ArmResourceReader(build_emulated_arm_client(emulator))


def _report(reader: ArmResourceReader) -> Any:
    request = parse_request(REQUEST)
    needs = needs_of(request, SITE)
    return assess(request, needs, {need.key: reader.read(need) for need in needs})


def test_the_seeded_estate_is_ready_and_the_check_only_reads() -> None:
    emulator, reader = _stack()
    report = _report(reader)
    assert report.ready, report.lines()
    assert {r.method for r in emulator.requests} == {"GET"}
    assert all(r.status == 200 and r.api_version for r in emulator.requests)


def test_scenario_faults_become_the_gaps_they_plant() -> None:
    faults = AzureFaults(
        missing_subnets=["apps"], missing_roles=["Virtual Machine Contributor"], unreachable_storage=["migcache01"]
    )
    _, reader = _stack(faults)
    gaps = {(gap.kind, gap.resource_id) for gap in _report(reader).gaps}
    assert gaps == {
        (GapKind.RESOURCE_MISSING, f"{NET}/vnet-prod/subnets/apps"),
        (GapKind.CANNOT_READ, f"/subscriptions/{SUB}/resourceGroups/rg-migrated"),
        (GapKind.CACHE_UNREACHABLE, CACHE),
    }


def test_a_withheld_network_role_leaves_both_vnets_unreadable() -> None:
    _, reader = _stack(AzureFaults(missing_roles=["Windows 365 Network User"]))
    gaps = [gap for gap in _report(reader).gaps]
    assert {(gap.kind, gap.resource_id) for gap in gaps} == {
        (GapKind.CANNOT_READ, f"{NET}/vnet-prod"),
        (GapKind.CANNOT_READ, f"{NET}/vnet-test"),
    }


def test_a_read_without_the_right_role_is_a_403_naming_action_and_scope() -> None:
    emulator, reader = _stack()
    emulator.revoke("Reader", CACHE)
    emulator.revoke("Reader")  # the Migrate project group's Reader also covers the cache account's group
    fact = reader.read(
        Need(kind=ResourceKind.STORAGE_ACCOUNT, resource_id=CACHE, role="cache storage account", actions=())
    )
    assert fact.state is ResourceState.CANNOT_READ
    assert "AuthorizationFailed" in fact.detail and "Microsoft.Storage/storageAccounts/read" in fact.detail


def test_permissions_are_paged_and_inherited_from_above() -> None:
    emulator, reader = _stack(page_size=1)
    emulator.assign("Reader", f"/subscriptions/{SUB}")
    subnet = f"{NET}/vnet-prod/subnets/apps"
    fact = reader.read(Need(kind=ResourceKind.SUBNET, resource_id=subnet, role="target subnet", actions=SUBNET_ACTIONS))
    assert fact.permissions is not None and len(fact.permissions) == 2  # network user on the VNet, reader above
    permission_calls = [r for r in emulator.requests if r.path.endswith("/permissions")]
    assert len(permission_calls) == 2  # two pages, one entry each


def test_throttling_is_retried_by_the_pipeline_then_surfaces_as_transient() -> None:
    emulator, reader = _stack(AzureFaults(throttled_requests=2))
    before = emulator.clock.now()
    assert _report(reader).ready
    assert emulator.clock.now() > before  # Retry-After slept on the virtual clock
    _, stubborn = _stack(AzureFaults(throttled_requests=50))
    with pytest.raises(TransientError):
        _report(stubborn)


def test_the_emulator_refuses_what_arm_refuses() -> None:
    emulator, _ = _stack()
    group = f"/subscriptions/{SUB}/resourceGroups/rg-migrated"
    bearer = {"Authorization": "Bearer x"}
    assert emulator.handle("GET", f"{emulator.base_url}{group}", bearer, None).status == 400  # no api-version
    assert emulator.handle("GET", f"{emulator.base_url}{group}?api-version=2021-04-01", {}, None).status == 401
    put = emulator.handle("PUT", f"{emulator.base_url}{group}?api-version=2021-04-01", bearer, b"{}")
    assert put.status == 405
    missing = emulator.handle(
        "GET", f"{emulator.base_url}{NET}/vnet-prod/subnets/nope?api-version=2024-05-01", bearer, None
    )
    assert missing.status == 404 and missing.json()["error"]["code"] == "NotFound"


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _covers(answer: Any, example: Any, path: str = "") -> list[str]:
    """Where the emulator's answer lacks a key of the example or types it differently."""
    if isinstance(example, dict):
        if not isinstance(answer, dict):
            return [f"{path}: {type(answer).__name__} instead of an object"]
        problems = []
        for key, value in example.items():
            if key not in answer:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += _covers(answer[key], value, f"{path}.{key}")
        return problems
    if isinstance(example, list):
        return [] if isinstance(answer, list) else [f"{path}: not a list"]
    return [] if type(answer) is type(example) else [f"{path}: {type(answer).__name__} not {type(example).__name__}"]


def test_emulator_answers_have_the_shapes_of_microsofts_examples() -> None:
    emulator, _ = _stack()
    bearer = {"Authorization": "Bearer x"}
    subnet = emulator.handle(
        "GET", f"{emulator.base_url}{NET}/vnet-prod/subnets/apps?api-version=2024-05-01", bearer, None
    )
    assert _covers(subnet.json(), _example("SubnetGet.json")) == []
    permissions = emulator.handle(
        "GET",
        f"{emulator.base_url}{CACHE}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01",
        bearer,
        None,
    )
    assert _covers(permissions.json(), _example("GetResourcePermissions.json")) == []
    account = emulator.handle("GET", f"{emulator.base_url}{CACHE}?api-version=2023-05-01", bearer, None).json()
    example = _example("StorageAccountGetProperties.json")
    for key in ("id", "name", "type", "kind", "location", "sku"):
        assert _shape(account[key]) == _shape(example[key]), key
    assert (
        _covers(
            account["properties"]["networkAcls"],
            {k: v for k, v in example["properties"]["networkAcls"].items() if k != "resourceAccessRules"},
        )
        == []
    )


def test_the_rules_read_microsofts_storage_example_as_reachable_and_its_firewalled_twin_as_not() -> None:
    request = parse_request(REQUEST)
    needs = [need for need in needs_of(request) if need.kind is ResourceKind.STORAGE_ACCOUNT]
    properties = _example("StorageAccountGetProperties.json")["properties"]
    open_fact = ResourceFact(resource_id=CACHE, properties=properties, permissions=None)
    report = assess(request, needs, {needs[0].key: open_fact.model_copy(update={"permissions": ()})})
    assert GapKind.CACHE_UNREACHABLE not in {gap.kind for gap in report.gaps}
    closed = {**properties, "networkAcls": {**properties["networkAcls"], "defaultAction": "Deny", "bypass": "Logging"}}
    report = assess(
        request, needs, {needs[0].key: open_fact.model_copy(update={"properties": closed, "permissions": ()})}
    )
    assert GapKind.CACHE_UNREACHABLE in {gap.kind for gap in report.gaps}


def test_a_scenario_file_plants_azure_faults_and_names_a_bad_role(tmp_path: Path) -> None:

    source = Path(__file__).parents[1] / "e2e" / "scenarios" / "lifecycle.yaml"
    text = source.read_text(encoding="utf-8")
    good = tmp_path / "faulty.yaml"
    good.write_text(text + "azure:\n  faults: {missing_subnets: [apps], unreachable_storage: [migcache01]}\n")
    assert load_scenario(good).azure.faults.missing_subnets == ["apps"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "azure:\n  faults: {missing_roles: [Owner of Everything]}\n")
    with pytest.raises(
        InvalidRequestError, match=r"azure\.faults\.missing_roles: unknown built-in role 'Owner of Everything'"
    ):
        load_scenario(bad)


class _AnswersWith:
    """An in-process service that answers every request with one status (rides the real transport and pipeline)."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.clock = VirtualClock()
        self.base_url = "https://management.failing.emulator"
        self.calls = 0

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Any:

        self.calls += 1
        error = {"error": {"code": f"Code{self.status}", "message": "planted"}}
        return EmulatorResponse(self.status, {"Content-Type": "application/json"}, json.dumps(error).encode())


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [(503, "TransientError", "503"), (500, "TransientError", "500"), (401, "AccessDeniedError", "AuthenticationFailed"),
     (400, "PermanentError", "400")],
)  # fmt: skip
def test_status_codes_become_the_pipelines_error_types(status: int, error_type: str, code: str) -> None:

    service = _AnswersWith(status)
    client = build_arm_client(
        service.base_url, credential=EmulatorCredential(), transport=EmulatorTransport(service), retry_total=1
    )
    need = Need(kind=ResourceKind.STORAGE_ACCOUNT, resource_id=CACHE, role="cache storage account")
    with pytest.raises(MigrationError) as raised:
        ArmResourceReader(client).read(need)
    assert type(raised.value).__name__ == error_type
    assert raised.value.code == code and raised.value.resource == CACHE
    assert "\n" not in str(raised.value)


def test_a_next_link_leaving_resource_manager_is_refused_before_the_token_follows_it() -> None:
    class _Elsewhere(_AnswersWith):
        def handle(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Any:
            self.calls += 1
            page = {"value": [{"actions": ["*"], "notActions": []}], "nextLink": "https://attacker.example/page2"}
            return EmulatorResponse(200, {"Content-Type": "application/json"}, json.dumps(page).encode())

    service = _Elsewhere(200)
    client = build_arm_client(service.base_url, credential=EmulatorCredential(), transport=EmulatorTransport(service))
    need = Need(kind=ResourceKind.SUBNET, resource_id=f"{NET}/vnet-prod/subnets/apps", role="t", actions=SUBNET_ACTIONS)
    with pytest.raises(MigrationError, match="nextLink outside Azure Resource Manager"):
        ArmResourceReader(client).read(need)
    assert service.calls == 2  # the subnet and the first page; never the foreign link
