"""Azure Migrate's discovered machines on the appliance's site: ``Microsoft.OffAzure/ServerSites/{site}/machines``.

Shape: the ``Server`` resource of the OffAzure API, api-version 2023-06-06 (Azure/azure-rest-api-specs,
``specification/migrate/resource-manager/Microsoft.OffAzure/``; ``ServersController_ListByServerSiteResource``
example): ``displayName``, ``fqdn``, ``biosGuid``, ``networkAdapters[].ipAddressList``, ``disks[]`` (``id``,
``name``, ``path``, ``maxSizeInBytes``, ``lun``), ``runAsAccountId``, ``applianceNames``, ``operatingSystemDetails``,
``isDeleted``; a paged ARM list (``nextLink``, ``continuationToken``).

A machine is discovered (listed) from ``discover_machine``; its Mobility agent registers later
(``register_agent``), which the fabric's ``agentDetails`` shows after the discovery delay.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from local.site_recovery.estate import MachineBehaviour
from local.site_recovery.model import EmulatorCore, EmulatorHttpError, _Disk, _guid, _iso, _Machine

SITE_PATH = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.OffAzure"
    r"/ServerSites/(?P<site>[^/]+)/machines(?:/(?P<machine>[^/]+))?",
    re.IGNORECASE,
)


def guest_device(platform: str, index: int) -> str:
    """The device a Nitro guest shows for its ``index``-th EBS volume (root first): what Azure Migrate reports as
    the disk's path. The guest emulator's ``GuestDisk.device`` must use the same rule."""
    return f"\\\\.\\PHYSICALDRIVE{index}" if platform.lower() == "windows" else f"/dev/nvme{index}n1"


class MigrateMachinesMixin(EmulatorCore):
    """The discovery site's machines, and the hooks that make them appear."""

    def discover_machine(
        self,
        name: str,
        ip_address: str,
        bios_id: str,
        os_type: str,
        *,
        hostname: str | None = None,
        os_name: str = "",
        disks: list[dict[str, Any]] | None = None,
        fabric_name: str | None = None,
        behaviour: MachineBehaviour | dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> str:
        """Azure Migrate discovered ``name`` on the appliance's site. ``disks``: ``[{"size_gb": 8, "is_os": True,
        "path": "/dev/nvme0n1"}, ...]`` (default: one OS disk). Returns the machine's ARM id. Idempotent."""
        if os_type.lower() not in {"linux", "windows"}:
            raise ValueError(f"os_type must be linux or windows, got {os_type!r}")
        if not name or not bios_id:
            raise ValueError("a machine needs a name and a BIOS id")
        with self._lock:
            fabric = self._fabric_for(fabric_name)
            specs = disks or [{"size_gb": 30, "is_os": True}]
            parsed = []
            for index, spec in enumerate(specs):
                path = str(spec.get("path") or spec.get("name") or guest_device(os_type, index))
                parsed.append(
                    _Disk(
                        disk_id=str(spec.get("disk_id") or _guid("disk", bios_id.lower(), path)),
                        name=path,
                        path=path,
                        size_bytes=int(float(spec.get("size_gb", 30)) * 1024**3),
                        is_os=bool(spec.get("is_os", index == 0)),
                    )
                )
            existing = self._machines.get(name.lower())
            if isinstance(behaviour, dict):
                behaviour = MachineBehaviour.model_validate(behaviour)
            machine_name = existing.machine_name if existing else _guid("machine", bios_id.lower())
            self._machines[name.lower()] = _Machine(
                name=name,
                machine_name=machine_name,
                ip_address=ip_address,
                bios_id=bios_id,
                hostname=hostname or name,
                os_type=os_type.upper(),  # Azure Migrate reports e.g. "LINUX" / "WINDOWS"
                os_name=os_name,
                fabric=fabric,
                disks=parsed,
                discovered_at=existing.discovered_at if existing else (at or self.clock.now()),
                agent_at=existing.agent_at if existing else None,
                item_name=machine_name,
                agent_id=existing.agent_id if existing else _guid("agent", bios_id.lower()),
                behaviour=behaviour or (existing.behaviour if existing else MachineBehaviour()),
                source_stopped_at=existing.source_stopped_at if existing else None,
                stalls=existing.stalls if existing else [],
            )
            return self.machine_id(self._machines[name.lower()])

    def register_agent(self, name: str, at: datetime | None = None) -> None:
        """The Mobility agent on ``name`` registered with the appliance (shown in ``agentDetails`` after the delay)."""
        with self._lock:
            machine = self._machine(name)
            if machine.agent_at is None:
                machine.agent_at = at or self.clock.now()

    def register_machine(self, name: str, ip_address: str, bios_id: str, os_type: str, **kwargs: Any) -> str:
        """Discover ``name`` and register its agent at once (tests and sweeps); returns the machine's ARM id."""
        machine_id = self.discover_machine(name, ip_address, bios_id, os_type, **kwargs)
        self.register_agent(name, kwargs.get("at"))
        return machine_id

    def forget_machine(self, name: str) -> None:
        """Azure Migrate marks the machine deleted (``isDeleted``), as when it was removed from the site."""
        with self._lock:
            self._deleted.add(self._machine(name).machine_name.lower())

    # --- the ARM side -------------------------------------------------------------------------------------------

    def _run_as_account_id(self, machine: _Machine) -> str:
        account = _guid("runas", machine.fabric.run_as_account_name)
        return f"{self.physical_site_id(machine.fabric)}/runasaccounts/{account}"

    def _machine_body(self, machine: _Machine) -> dict[str, Any]:
        now = _iso(self.clock.now())
        return {
            "id": self.machine_id(machine),
            "name": machine.machine_name,
            "type": "Microsoft.OffAzure/ServerSites/machines",
            "properties": {
                "displayName": machine.name,
                "fqdn": machine.hostname,
                "biosGuid": machine.bios_id,
                "biosSerialNumber": f"ec2 {machine.bios_id[:8]}",
                "networkAdapters": [
                    {
                        "nicId": _guid("nic", machine.machine_name),
                        "macAddress": "02:00:00:00:00:01",
                        "ipAddressList": [machine.ip_address],
                        "networkName": "eth0",
                        "ipAddressType": "Dynamic",
                    }
                ],
                "disks": [
                    {
                        "id": d.disk_id,
                        "generatedId": _guid("generated", d.disk_id),
                        "maxSizeInBytes": d.size_bytes,
                        "name": d.name,
                        "diskType": "Basic",
                        "lun": index,
                        "path": d.path,
                    }
                    for index, d in enumerate(machine.disks)
                ],
                "operatingSystemDetails": {
                    "osType": machine.os_type,
                    "osName": machine.os_name,
                    "osVersion": "",
                    "osArchitecture": "x64",
                },
                "runAsAccountId": self._run_as_account_id(machine),
                "applianceNames": [machine.fabric.process_server.name],
                "errors": [],
                "isDeleted": machine.machine_name.lower() in self._deleted,
                "createdTimestamp": _iso(machine.discovered_at),
                "updatedTimestamp": now,
                "provisioningState": "Succeeded",
            },
        }

    def _site_machines(self, site_path: str) -> list[_Machine]:
        now = self.clock.now()
        seconds = self.estate.timings.discovery_seconds
        return [
            m
            for m in self._machines.values()
            if self.physical_site_id(m.fabric).lower() == site_path.lower() and m.visible(now, seconds)
        ]

    def _handle_site(self, method: str, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """``GET …/ServerSites/{site}/machines`` (paged) and ``…/machines/{name}``."""
        found = SITE_PATH.fullmatch(path)
        if found is None or method != "GET":
            raise EmulatorHttpError(404, "NotFound", f"No route for {method} {path}")
        version = query.get("api-version")
        if version != self.estate.migrate_api_version:
            raise EmulatorHttpError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. "
                f"The supported version is '{self.estate.migrate_api_version}'.",
            )
        site_path = path[: path.lower().index("/machines")]
        if not any(self.physical_site_id(f).lower() == site_path.lower() for f in self.estate.fabrics):
            raise EmulatorHttpError(404, "ResourceNotFound", f"The site '{found['site']}' was not found.")
        machines = self._site_machines(site_path)
        if found["machine"]:
            for machine in machines:
                if machine.machine_name.lower() == found["machine"].lower():
                    return 200, {}, self._machine_body(machine)
            raise EmulatorHttpError(404, "ResourceNotFound", f"The machine '{found['machine']}' was not found.")
        token = query.get("continuationToken") or "0"
        if not token.isdigit():
            raise EmulatorHttpError(400, "InvalidContinuationToken", f"The continuationToken '{token}' is not valid.")
        start, size = int(token), self.estate.machines_page_size
        page: dict[str, Any] = {"value": [self._machine_body(m) for m in machines[start : start + size]]}
        if start + size < len(machines):
            params = {"api-version": version, "continuationToken": str(start + size)}
            page["nextLink"] = f"{self.base_url}{site_path}/machines?{urlencode(params, quote_via=quote)}"
        return 200, {}, page
