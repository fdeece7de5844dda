"""Reads of the modernized flow's discovery: the InMageRcm fabric, its process servers and registered agents, and
the machines Azure Migrate discovered on the appliance's site (Microsoft.OffAzure, api-version 2023-06-06).

Used by :class:`functions.gateways.site_recovery.AzureSiteRecoveryGateway` (a mixin over its client): the topology,
a VM's machine lookup and the wave's readiness all read the same facts, parsed once here. Azure Migrate's machines
are read through the Site Recovery client's own pipeline (same credential, retries and error types), as JSON: the
SDK has no Microsoft.OffAzure models, and a lookup keeps one machine out of the site's listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from functions.gateways.site_recovery_wire import RCM, health_issues, json_page, text
from shared.azure_migrate import (
    ApplianceIdentity,
    DiscoveredDisk,
    DiscoveredMachine,
    ProcessServer,
    choose_process_server,
)

#: The Azure Migrate discovery API version the guide uses for ``{physicalSiteId}/machines``.
MIGRATE_API_VERSION = "2023-06-06"


def _get(obj: Any, name: str) -> Any:
    return getattr(obj, name, None) if obj is not None else None


@dataclass
class FabricFacts:
    """The InMageRcm fabric of a vault, as read: absent pieces are None. Facts only: which of them is a gap is
    :mod:`shared.site_recovery_gaps`' judgement."""

    vault_found: bool = True
    fabric: Any = None
    container: Any = None
    mapping: Any = None
    policy: Any = None
    policy_exists: bool = False
    servers: list[ProcessServer] = field(default_factory=list)
    server: ProcessServer | None = None
    physical_site_id: str | None = None
    agents: list[Any] = field(default_factory=list)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def process_servers(details: Any) -> list[ProcessServer]:
    return [
        ProcessServer(
            id=str(_get(s, "id") or ""),
            name=str(_get(s, "name") or ""),
            bios_id=str(_get(s, "bios_id") or ""),
            fqdn=str(_get(s, "fqdn") or ""),
            ip_addresses=tuple(str(ip) for ip in _get(s, "ip_addresses") or ()),
            health=text(_get(s, "health")),
            health_errors=health_issues(_get(s, "health_errors")),
            last_heartbeat=str(_get(s, "last_heartbeat_utc") or ""),
            protected_item_count=_count(_get(s, "protected_item_count")),
        )
        for s in _get(details, "process_servers") or []
        if _get(s, "id")
    ]


class DiscoveryReads:
    """Fabric, process server and Azure Migrate machine reads over ``self.client``."""

    @property
    def client(self) -> SiteRecoveryManagementClient:  # provided by the gateway
        raise NotImplementedError

    # --- the fabric ---------------------------------------------------------------------------------------------

    def read_fabric(self, resource_group: str, vault_name: str, appliance: ApplianceIdentity) -> FabricFacts:
        """Everything the InMageRcm fabric says (the reads change nothing). Of several InMageRcm fabrics, the one
        whose process servers include the appliance's usable one (``choose_process_server``), else the first."""
        c = self.client
        facts = FabricFacts()
        try:
            listed = list(c.replication_fabrics.list(resource_group, vault_name))
        except ResourceNotFoundError:
            facts.vault_found = False
            return facts
        candidates = [f for f in listed if _get(_get(f.properties, "custom_details"), "instance_type") == RCM]
        if not candidates:
            return facts
        fabrics = [c.replication_fabrics.get(resource_group, vault_name, f.name) for f in candidates if f.name]
        chosen = None
        for fabric in fabrics:
            servers = process_servers(_get(fabric.properties, "custom_details"))
            choice = choose_process_server(servers, appliance)
            if chosen is None or choice.server is not None:
                chosen, facts.servers, facts.server = fabric, servers, choice.server
            if choice.server is not None:
                break
        facts.fabric = chosen
        details = _get(_get(chosen, "properties"), "custom_details")
        facts.physical_site_id = _get(details, "physical_site_id") or None
        facts.agents = list(_get(details, "agent_details") or [])
        self._read_policy(resource_group, vault_name, facts)
        return facts

    def _read_policy(self, resource_group: str, vault_name: str, facts: FabricFacts) -> None:
        c = self.client
        fabric_name = facts.fabric.name
        policies = {
            str(p.id).lower(): p
            for p in c.replication_policies.list(resource_group, vault_name)
            if _get(_get(p.properties, "provider_specific_details"), "instance_type") == RCM
        }
        facts.policy_exists = bool(policies)
        for container in c.replication_protection_containers.list_by_replication_fabrics(
            resource_group, vault_name, fabric_name
        ):
            for mapping in c.replication_protection_container_mappings.list_by_replication_protection_containers(
                resource_group, vault_name, fabric_name, container.name or ""
            ):
                props = mapping.properties
                policy = policies.get(str(_get(props, "policy_id") or "").lower())
                if policy is not None and _get(props, "state") == "Paired":
                    facts.container, facts.mapping, facts.policy = container, mapping, policy
                    return

    # --- Azure Migrate's machines -------------------------------------------------------------------------------

    def json_pages(self, path: str, params: dict[str, str], api_version: str | None = None) -> Iterator[dict[str, Any]]:
        """An ARM list, page by page (``nextLink``), through the client's pipeline."""
        version = api_version or self.client._config.api_version
        values, next_link = json_page(self.client, path, {"api-version": version, **params})
        yield from values
        while next_link:
            values, next_link = json_page(self.client, next_link)
            yield from values

    def discovered_machines(self, physical_site_id: str, agents: list[Any]) -> list[DiscoveredMachine]:
        """Every machine on the site, with whether the fabric lists its registered agent."""
        by_bios = {str(_get(a, "bios_id") or "").lower(): a for a in agents if _get(a, "bios_id")}
        by_machine = {str(_get(a, "machine_id") or "").lower(): a for a in agents if _get(a, "machine_id")}
        path = physical_site_id.rstrip("/") + "/machines"
        return [
            machine_from_json(raw, by_bios, by_machine)
            for raw in self.json_pages(path, {}, MIGRATE_API_VERSION)
            if raw.get("id")
        ]


def machine_from_json(raw: dict[str, Any], by_bios: dict[str, Any], by_machine: dict[str, Any]) -> DiscoveredMachine:
    """One Microsoft.OffAzure ``Server`` (its documented fields), joined with the fabric's agent details."""
    props = raw.get("properties") or {}
    bios = str(props.get("biosGuid") or "")
    name = str(raw.get("name") or "")
    agent = by_bios.get(bios.lower()) if bios else None
    agent = agent or by_machine.get(name.lower()) or by_machine.get(str(raw["id"]).lower())
    agent_disks = {str(_get(d, "disk_id") or "").lower(): d for d in _get(agent, "disks") or []}
    disks = []
    for disk in props.get("disks") or []:
        disk_id = str(disk.get("id") or disk.get("generatedId") or "")
        if not disk_id:
            continue
        os_flag = str(_get(agent_disks.get(disk_id.lower()), "is_os_disk") or "").lower()
        size = disk.get("maxSizeInBytes")
        disks.append(
            DiscoveredDisk(
                id=disk_id,
                name=str(disk.get("name") or ""),
                path=str(disk.get("path") or ""),
                size_bytes=int(size) if isinstance(size, int | float) else None,
                is_os_disk={"true": True, "false": False}.get(os_flag),
            )
        )
    os_details = props.get("operatingSystemDetails") or props.get("guestOsDetails") or {}
    return DiscoveredMachine(
        id=str(raw["id"]),
        name=name,
        display_name=str(props.get("displayName") or ""),
        bios_id=bios,
        fqdn=str(props.get("fqdn") or ""),
        ip_addresses=tuple(
            str(ip) for nic in props.get("networkAdapters") or [] for ip in nic.get("ipAddressList") or []
        ),
        os_type=str(os_details.get("osType") or ""),
        os_name=str(os_details.get("osName") or ""),
        run_as_account_id=props.get("runAsAccountId") or None,
        disks=tuple(disks),
        appliance_names=tuple(str(a) for a in props.get("applianceNames") or ()),
        is_deleted=bool(props.get("isDeleted")),
        agent_registered=agent is not None,
        agent_id=str(_get(agent, "agent_id") or "") or None,
    )
