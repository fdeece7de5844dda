"""Seed the ARM emulator from a scenario's request: everything the wave lands on exists, and the pipeline's
identity holds exactly the roles ``infra/azure`` grants it (minus the scenario's planted faults).

The grants mirror ``infra/azure/modules/replication-roles.bicep`` and ``target-rg-role.bicep``: Virtual Machine
Contributor on each target resource group, Windows 365 Network User on each target and test VNet, Reader and
Storage Account Key Operator Service Role on each cache storage account, Reader on the Azure Migrate project's
resource group (the discovery site's group).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from local.azure_resources.emulator import AzureResourcesEmulator


def _targets(request: dict[str, Any]) -> Iterable[dict[str, Any]]:
    base = dict(request.get("target") or {})
    yield base
    for vm in request.get("vms") or ():
        overrides = (vm or {}).get("target") if isinstance(vm, dict) else None
        if overrides:
            yield {**base, **{k: v for k, v in overrides.items() if v is not None}}


def seed_from_request(
    emulator: AzureResourcesEmulator, request: dict[str, Any], migrate_site_id: str | None = None
) -> None:
    """Create the request's target resources and assign the pipeline's roles on them."""
    faults = emulator.estate.faults
    withheld = set(faults.missing_roles)
    missing_subnets = {name.lower() for name in faults.missing_subnets}
    unreachable = {name.lower() for name in faults.unreachable_storage}

    def grant(role: str, scope: str) -> None:
        if role not in withheld:
            emulator.assign(role, scope)

    subnets: dict[str, set[str]] = {}
    for target in _targets(request):
        subscription, group = target.get("subscription_id"), target.get("resource_group")
        if subscription and group:
            group_id = f"/subscriptions/{subscription}/resourceGroups/{group}"
            emulator.add_resource_group(group_id)
            grant("Virtual Machine Contributor", group_id)
        for network_key, subnet_key in (("virtual_network_id", "subnet"), ("test_virtual_network_id", "test_subnet")):
            network = target.get(network_key)
            if network:
                names = subnets.setdefault(network, set())
                if target.get(subnet_key):
                    names.add(str(target[subnet_key]))
        account = target.get("cache_storage_account_id")
        if account:
            emulator.add_storage_account(account, reachable=account.rsplit("/", 1)[-1].lower() not in unreachable)
            grant("Reader", account)
            grant("Storage Account Key Operator Service Role", account)
    for network, names in subnets.items():
        emulator.add_virtual_network(network, sorted(n for n in names if n.lower() not in missing_subnets))
        grant("Windows 365 Network User", network)
    if migrate_site_id:
        project_group = "/".join(migrate_site_id.split("/")[:5])
        emulator.add_resource_group(project_group)
        grant("Reader", project_group)
