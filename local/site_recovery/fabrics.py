"""The InMageRcm fabric and what hangs off it: process servers, registered agents, container, mapping, policy.

Shapes: the SDK's ``InMageRcmFabricSpecificDetails`` (``physicalSiteId``, ``processServers[]`` as
``ProcessServerDetails``, ``agentDetails[]`` as ``AgentDetails`` with ``AgentDiskDetails``) and the fabric sample of
Microsoft's "Automate VMware to Azure agent-based migration using Azure Site Recovery REST API"."""

from __future__ import annotations

from typing import Any

from local.site_recovery.estate import ApplianceHealth, FabricConfig
from local.site_recovery.model import _ITEM_TYPE, RCM, EmulatorCore, _guid, _iso


class FabricsMixin(EmulatorCore):
    """Fabric, container, mapping and policy bodies."""

    def set_appliance_health(self, health: ApplianceHealth | dict[str, Any], fabric_name: str | None = None) -> None:
        """Change what the fabric (the first, or ``fabric_name``) reports of its appliance's process server."""
        if isinstance(health, dict):
            health = ApplianceHealth.model_validate(health)
        with self._lock:
            fabrics = [f for f in self.estate.fabrics if fabric_name is None or f.name == fabric_name][:1]
            if not fabrics:
                raise KeyError(f"no fabric named {fabric_name!r}")
            fabric = fabrics[0]
            fabric.process_server = fabric.process_server.model_copy(update=dict(health))

    def _process_server_body(self, fabric: FabricConfig) -> dict[str, Any]:
        ps = fabric.process_server
        now = _iso(self.clock.now())
        return {
            "id": ps.id,
            "name": ps.name,
            "biosId": ps.bios_id or _guid("bios", ps.id),
            "fabricObjectId": _guid("fabric-object", ps.id),
            "fqdn": f"{ps.name}.internal",
            "ipAddresses": [ps.ip_address],
            "version": "9.62.0.0",
            "lastHeartbeatUtc": now,
            "health": ps.health,
            "healthErrors": [
                {
                    "errorCode": e.code,
                    "errorMessage": e.message,
                    "summaryMessage": e.message,
                    "errorLevel": e.level,
                    "creationTimeUtc": now,
                }
                for e in ps.health_errors
            ],
            "protectedItemCount": sum(1 for i in self._items.values() if i.fabric is fabric),
        }

    def _agent_details(self, fabric: FabricConfig) -> list[dict[str, Any]]:
        """``agentDetails[]``: the Mobility agents registered with the appliance (after the discovery delay)."""
        now = self.clock.now()
        delay = self.estate.timings.discovery_seconds
        return [
            {
                "agentId": m.agent_id,
                "machineId": m.machine_name,
                "biosId": m.bios_id,
                "fqdn": m.hostname,
                "disks": [
                    {
                        "diskId": d.disk_id,
                        "diskName": d.path,
                        "isOSDisk": "true" if d.is_os else "false",
                        "capacityInBytes": d.size_bytes,
                        "lunId": index,
                    }
                    for index, d in enumerate(m.disks)
                ],
            }
            for m in self._machines.values()
            if m.fabric is fabric and m.registered(now, delay)
        ]

    def _fabric_body(self, fabric: FabricConfig) -> dict[str, Any]:
        custom: dict[str, Any] = {
            "instanceType": RCM,
            "physicalSiteId": self.physical_site_id(fabric),
            "serviceEndpoint": f"{self.base_url}/rcm",
            "processServers": [self._process_server_body(fabric)],
            "dras": [
                {
                    "id": _guid("dra", fabric.process_server.id),
                    "name": fabric.process_server.name,
                    "version": "5.1.0.0",
                    "health": "Normal",
                }
            ],
            "agentDetails": self._agent_details(fabric),
        }
        return {
            "name": fabric.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics",
            "id": self.fabric_id(fabric),
            "properties": {
                "bcdrState": "Valid",
                "customDetails": custom,
                "encryptionDetails": {"kekState": "None"},
                "friendlyName": fabric.name,
                "health": "Normal",
                "healthErrorDetails": [],
                "internalIdentifier": _guid("fabric", fabric.name),
                "rolloverEncryptionDetails": {"kekState": "None"},
            },
        }

    def _container_body(self, fabric: FabricConfig) -> dict[str, Any]:
        return {
            "name": fabric.container_name,
            "type": _ITEM_TYPE,
            "id": self.container_id(fabric),
            "properties": {
                "fabricFriendlyName": fabric.name,
                "fabricType": RCM,
                "friendlyName": fabric.container_name,
                "pairingStatus": "Paired" if fabric.mapping_exists else "NotPaired",
                "protectedItemCount": sum(1 for i in self._items.values() if i.fabric is fabric),
                "role": "Primary",
            },
        }

    def _mappings(self, fabric: FabricConfig) -> list[dict[str, Any]]:
        if not fabric.mapping_exists:
            return []
        return [
            {
                "name": fabric.mapping_name,
                "type": f"{_ITEM_TYPE}/replicationProtectionContainerMappings",
                "id": f"{self.container_id(fabric)}/replicationProtectionContainerMappings/{fabric.mapping_name}",
                "properties": {
                    "health": "Normal",
                    "healthErrorDetails": [],
                    "policyFriendlyName": fabric.policy_name,
                    "policyId": self.policy_id(fabric),
                    "sourceFabricFriendlyName": fabric.name,
                    "sourceProtectionContainerFriendlyName": fabric.container_name,
                    "state": "Paired",
                    "targetFabricFriendlyName": "Microsoft Azure",
                    "targetProtectionContainerFriendlyName": "Microsoft Azure",
                    "targetProtectionContainerId": "Microsoft Azure",
                },
            }
        ]

    def _policies(self) -> list[dict[str, Any]]:
        return [
            {
                "name": fabric.policy_name,
                "type": "Microsoft.RecoveryServices/vaults/replicationPolicies",
                "id": self.policy_id(fabric),
                "properties": {
                    "friendlyName": fabric.policy_name,
                    "providerSpecificDetails": {
                        "instanceType": RCM,
                        "recoveryPointHistoryInMinutes": 4320,
                        "crashConsistentFrequencyInMinutes": 5,
                        "appConsistentFrequencyInMinutes": 60,
                        "enableMultiVmSync": "True",
                    },
                },
            }
            for fabric in self.estate.fabrics
            if fabric.policy_exists
        ]
