"""The roles infra grants for enabling replication are the ones the readiness check requires and the ARM emulator
seeds: the same built-in role ids, each on the one resource it is for, and together enough for every required
action (evaluated the documented way)."""

from __future__ import annotations

import re

import pytest

from local.azure_resources.roles import (
    READER,
    STORAGE_ACCOUNT_KEY_OPERATOR,
    VIRTUAL_MACHINE_CONTRIBUTOR,
    WINDOWS_365_NETWORK_USER,
    BuiltInRole,
)
from shared.rbac import missing_actions
from shared.readiness import CACHE_ACCOUNT_ACTIONS, MIGRATE_SITE_ACTIONS, SUBNET_ACTIONS, TARGET_GROUP_ACTIONS
from tests.infra.conftest import AZURE_DIR, ENVIRONMENTS

_GUID = re.compile(r"'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'")

MODULES = {
    "cache-account-role.bicep": ((READER, STORAGE_ACCOUNT_KEY_OPERATOR), CACHE_ACCOUNT_ACTIONS, "scope: account"),
    "vnet-join-role.bicep": ((WINDOWS_365_NETWORK_USER,), SUBNET_ACTIONS, "scope: network"),
    "migrate-reader-role.bicep": ((READER,), MIGRATE_SITE_ACTIONS, ""),
    "target-rg-role.bicep": ((VIRTUAL_MACHINE_CONTRIBUTOR,), TARGET_GROUP_ACTIONS, ""),
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_grants_exactly_the_roles_readiness_needs(module: str) -> None:
    roles, actions, scope = MODULES[module]
    text = (AZURE_DIR / "modules" / module).read_text(encoding="utf-8")
    granted = set(_GUID.findall(text))
    assert granted == {role.role_id for role in roles}
    assert missing_actions(actions, [role.permission for role in roles]) == ()
    assert scope in text, f"{module} must scope its assignment to the one resource ({scope})"


def test_no_role_grants_more_than_one_resource_family_needs() -> None:
    def too_broad(role: BuiltInRole) -> bool:
        return "*" in role.actions or any(a.startswith("Microsoft.Network/*") for a in role.actions)

    for roles, _, _ in MODULES.values():
        assert not any(too_broad(role) for role in roles)


def test_main_wires_every_module_from_its_parameter() -> None:
    main = (AZURE_DIR / "main.bicep").read_text(encoding="utf-8")
    for module, parameter in (
        ("cache-account-role.bicep", "for account in cacheStorageAccounts"),
        ("vnet-join-role.bicep", "for network in replicationVirtualNetworks"),
        ("migrate-reader-role.bicep", "if (!empty(migrateProjectResourceGroup))"),
    ):
        block = main[main.index(f"'modules/{module}'") :][:400]
        assert parameter in block, module


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_names_its_cache_accounts_networks_and_migrate_project(environment: str) -> None:
    text = (AZURE_DIR / f"{environment}.bicepparam").read_text(encoding="utf-8")
    for parameter in ("cacheStorageAccounts", "replicationVirtualNetworks", "migrateProjectResourceGroup"):
        assert f"param {parameter} = " in text
    assert f"ec2mig-{environment}-migrate" in text
