"""Azure built-in role definitions the emulator grants, copied as data from Microsoft's documentation.

Source: "Azure built-in roles" (MicrosoftDocs/azure-docs, ``articles/role-based-access-control/built-in-roles/``):
``compute.md`` (Virtual Machine Contributor, Windows 365 Network User, ms.date 09/03/2025), ``storage.md``
(Storage Account Key Operator Service Role), ``general.md`` / ``privileged.md`` (Reader, Contributor). Actions and
NotActions are as published, including their mixed case (``listkeys``, ``*/Delete``): the emulator evaluates them
the way ARM documents, so a role that does not grant an action here does not grant it in Azure either.

The role ids are the built-in roles' GUIDs, the same ones ``infra/azure`` assigns.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.rbac import PermissionEntry


@dataclass(frozen=True)
class BuiltInRole:
    name: str
    role_id: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()

    @property
    def permission(self) -> PermissionEntry:
        return PermissionEntry(actions=self.actions, not_actions=self.not_actions)


READER = BuiltInRole("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7", ("*/read",))

CONTRIBUTOR = BuiltInRole(
    "Contributor",
    "b24988ac-6180-42a0-ab88-20f7382dd24c",
    ("*",),
    (
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
        "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete",
        "Microsoft.Compute/galleries/share/action",
        "Microsoft.Purview/consents/write",
        "Microsoft.Purview/consents/delete",
        "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
        "Microsoft.Subscription/cancel/action",
        "Microsoft.Subscription/enable/action",
    ),
)

VIRTUAL_MACHINE_CONTRIBUTOR = BuiltInRole(
    "Virtual Machine Contributor",
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
    (
        "Microsoft.Authorization/*/read",
        "Microsoft.Compute/availabilitySets/*",
        "Microsoft.Compute/locations/*",
        "Microsoft.Compute/virtualMachines/*",
        "Microsoft.Compute/virtualMachineScaleSets/*",
        "Microsoft.Compute/cloudServices/*",
        "Microsoft.Compute/disks/write",
        "Microsoft.Compute/disks/read",
        "Microsoft.Compute/disks/delete",
        "Microsoft.Compute/hostgroups/write",
        "Microsoft.Compute/hostgroups/hosts/write",
        "Microsoft.DevTestLab/schedules/*",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Network/applicationGateways/backendAddressPools/join/action",
        "Microsoft.Network/loadBalancers/backendAddressPools/join/action",
        "Microsoft.Network/loadBalancers/inboundNatPools/join/action",
        "Microsoft.Network/loadBalancers/inboundNatRules/join/action",
        "Microsoft.Network/loadBalancers/probes/join/action",
        "Microsoft.Network/loadBalancers/read",
        "Microsoft.Network/locations/*",
        "Microsoft.Network/networkInterfaces/*",
        "Microsoft.Network/networkSecurityGroups/join/action",
        "Microsoft.Network/networkSecurityGroups/read",
        "Microsoft.Network/publicIPAddresses/join/action",
        "Microsoft.Network/publicIPAddresses/read",
        "Microsoft.Network/virtualNetworks/read",
        "Microsoft.Network/virtualNetworks/subnets/join/action",
        "Microsoft.RecoveryServices/locations/*",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/backupProtectionIntent/write",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/*/read",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
        "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
        "Microsoft.RecoveryServices/Vaults/backupPolicies/write",
        "Microsoft.RecoveryServices/Vaults/read",
        "Microsoft.RecoveryServices/Vaults/usages/read",
        "Microsoft.RecoveryServices/Vaults/write",
        "Microsoft.ResourceHealth/availabilityStatuses/read",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.SerialConsole/serialPorts/connect/action",
        "Microsoft.SqlVirtualMachine/*",
        "Microsoft.Storage/storageAccounts/listKeys/action",
        "Microsoft.Storage/storageAccounts/read",
        "Microsoft.Support/*",
    ),
)

STORAGE_ACCOUNT_KEY_OPERATOR = BuiltInRole(
    "Storage Account Key Operator Service Role",
    "81a9662b-bebf-436f-a333-f67b29880f12",
    (
        "Microsoft.Storage/storageAccounts/listkeys/action",
        "Microsoft.Storage/storageAccounts/regeneratekey/action",
    ),
)

#: The narrowest built-in role with subnet join: read the VNet and its subnets, join a subnet (nothing else).
WINDOWS_365_NETWORK_USER = BuiltInRole(
    "Windows 365 Network User",
    "7eabc9a4-85f7-4f71-b8ab-75daaccc1033",
    (
        "Microsoft.Network/virtualNetworks/read",
        "Microsoft.Network/virtualNetworks/subnets/read",
        "Microsoft.Network/virtualNetworks/usages/read",
        "Microsoft.Network/virtualNetworks/subnets/join/action",
    ),
)

BUILT_IN_ROLES: dict[str, BuiltInRole] = {
    role.name: role
    for role in (
        READER,
        CONTRIBUTOR,
        VIRTUAL_MACHINE_CONTRIBUTOR,
        STORAGE_ACCOUNT_KEY_OPERATOR,
        WINDOWS_365_NETWORK_USER,
    )
}
