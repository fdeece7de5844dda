"""Permission evaluation against Microsoft's documented semantics ("Understand Azure role definitions",
MicrosoftDocs/azure-docs ``articles/role-based-access-control/role-definitions.md``) and the built-in roles as
published (``articles/role-based-access-control/built-in-roles/*.md``)."""

from __future__ import annotations

import pytest

from local.azure_resources.roles import (
    CONTRIBUTOR,
    READER,
    STORAGE_ACCOUNT_KEY_OPERATOR,
    VIRTUAL_MACHINE_CONTRIBUTOR,
    WINDOWS_365_NETWORK_USER,
)
from shared.rbac import PermissionEntry, is_allowed, missing_actions
from shared.readiness import CACHE_ACCOUNT_ACTIONS, MIGRATE_SITE_ACTIONS, SUBNET_ACTIONS, TARGET_GROUP_ACTIONS

EXPORT_ACTIONS = (
    "Microsoft.CostManagement/exports/action",
    "Microsoft.CostManagement/exports/read",
    "Microsoft.CostManagement/exports/write",
    "Microsoft.CostManagement/exports/delete",
    "Microsoft.CostManagement/exports/run/action",
)


def _allowed(actions: tuple[str, ...], *entries: PermissionEntry) -> list[str]:
    return [action for action in actions if is_allowed(action, entries)]


def test_the_documented_not_actions_table_for_cost_management_exports() -> None:
    # role-definitions.md, "NotActions": the two rows of the effective-permissions table.
    wildcard = PermissionEntry(actions=("Microsoft.CostManagement/exports/*",))
    assert _allowed(EXPORT_ACTIONS, wildcard) == list(EXPORT_ACTIONS)
    minus_delete = PermissionEntry(
        actions=("Microsoft.CostManagement/exports/*",), not_actions=("Microsoft.CostManagement/exports/delete",)
    )
    assert _allowed(EXPORT_ACTIONS, minus_delete) == [a for a in EXPORT_ACTIONS if not a.endswith("/delete")]


def test_not_actions_is_not_a_deny_rule() -> None:
    # "If a user is assigned a role that excludes an action in NotActions, and is assigned a second role that grants
    # access to the same action, the user is allowed to perform that action."
    excluding = PermissionEntry(actions=("Microsoft.Storage/*",), not_actions=("Microsoft.Storage/*/delete",))
    granting = PermissionEntry(actions=("Microsoft.Storage/storageAccounts/delete",))
    assert not is_allowed("Microsoft.Storage/storageAccounts/delete", [excluding])
    assert is_allowed("Microsoft.Storage/storageAccounts/delete", [excluding, granting])
    assert is_allowed("Microsoft.Storage/storageAccounts/delete", [granting, excluding])


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        # role-definitions.md, "Actions": the documented examples.
        ("*/read", "Microsoft.Network/virtualNetworks/subnets/read", True),
        ("*/read", "Microsoft.Network/virtualNetworks/subnets/join/action", False),
        ("Microsoft.Compute/*", "Microsoft.Compute/disks/write", True),
        ("Microsoft.Network/*/read", "Microsoft.Network/virtualNetworks/subnets/read", True),
        ("Microsoft.Network/*/read", "Microsoft.Network/virtualNetworks/subnets/join/action", False),
        ("Microsoft.Network/*/read", "Microsoft.Compute/virtualMachines/read", False),
        ("Microsoft.Compute/virtualMachines/*", "Microsoft.Compute/virtualMachines/extensions/write", True),
        ("microsoft.web/sites/restart/Action", "Microsoft.Web/sites/restart/action", True),
        # A wildcard between two slashes needs something there: Azure Migrate's "storageAccounts/*/read" does not
        # grant reading the account itself.
        ("Microsoft.Storage/storageAccounts/*/read", "Microsoft.Storage/storageAccounts/read", False),
        ("Microsoft.Storage/storageAccounts/*/read", "Microsoft.Storage/storageAccounts/blobServices/read", True),
        # A literal dot is not a regex dot.
        ("Microsoft.Storage/storageAccounts/read", "MicrosoftXStorage/storageAccounts/read", False),
    ],
)
def test_wildcards_and_case(pattern: str, action: str, expected: bool) -> None:
    assert is_allowed(action, [PermissionEntry(actions=(pattern,))]) is expected


def test_contributor_may_do_everything_but_manage_access() -> None:
    entry = CONTRIBUTOR.permission
    assert is_allowed("Microsoft.Storage/storageAccounts/listKeys/action", [entry])
    # "Microsoft.Authorization/*/Write" (capital W, as published) excludes the lower-case operation.
    assert not is_allowed("Microsoft.Authorization/roleAssignments/write", [entry])
    assert not is_allowed("Microsoft.Authorization/roleAssignments/delete", [entry])
    assert is_allowed("Microsoft.Authorization/roleAssignments/read", [entry])


def test_the_roles_infra_grants_cover_exactly_what_readiness_requires() -> None:
    assert missing_actions(TARGET_GROUP_ACTIONS, [VIRTUAL_MACHINE_CONTRIBUTOR.permission]) == ()
    assert missing_actions(SUBNET_ACTIONS, [WINDOWS_365_NETWORK_USER.permission]) == ()
    cache = [READER.permission, STORAGE_ACCOUNT_KEY_OPERATOR.permission]
    assert missing_actions(CACHE_ACCOUNT_ACTIONS, cache) == ()
    assert missing_actions(MIGRATE_SITE_ACTIONS, [READER.permission]) == ()


def test_each_role_alone_falls_short_where_it_should() -> None:
    # The key operator lists keys ("listkeys", lower-case as published) but cannot read the account.
    assert missing_actions(CACHE_ACCOUNT_ACTIONS, [STORAGE_ACCOUNT_KEY_OPERATOR.permission]) == (
        "Microsoft.Storage/storageAccounts/read",
    )
    assert missing_actions(CACHE_ACCOUNT_ACTIONS, [READER.permission]) == (
        "Microsoft.Storage/storageAccounts/listKeys/action",
    )
    assert missing_actions(SUBNET_ACTIONS, [READER.permission]) == (
        "Microsoft.Network/virtualNetworks/subnets/join/action",
    )
    assert "Microsoft.Compute/virtualMachines/write" in missing_actions(TARGET_GROUP_ACTIONS, [READER.permission])
    assert missing_actions(SUBNET_ACTIONS, []) == SUBNET_ACTIONS


def test_arm_keys_are_read_as_arm_spells_them() -> None:
    entry = PermissionEntry.model_validate({"actions": ["*"], "notActions": ["Microsoft.Compute/*"], "dataActions": []})
    assert entry.not_actions == ("Microsoft.Compute/*",)
    assert not is_allowed("Microsoft.Compute/disks/read", [entry])
