"""Emulated Azure Site Recovery and Azure Migrate discovery: the ARM routes the gateway uses, driven by the local
clock.

``SiteRecoveryEmulator`` holds the vault's and the discovery site's state; ``build_emulated_client`` gives a real
``SiteRecoveryManagementClient`` talking to it in-process.
"""

from local.site_recovery.emulator import EmulatorResponse, RecordedRequest, SiteRecoveryEmulator
from local.site_recovery.estate import (
    API_VERSION,
    MIGRATE_API_VERSION,
    ApplianceHealth,
    EmulatorEstate,
    FabricConfig,
    FaultKind,
    HealthLevel,
    MachineBehaviour,
    Operation,
    ProcessServerConfig,
    RequestFault,
    Timings,
)
from local.site_recovery.migrate_machines import guest_device
from local.site_recovery.model import thawed
from local.site_recovery.transport import (
    EmulatorCredential,
    EmulatorTransport,
    build_emulated_client,
    build_emulated_compute_client,
)

__all__ = [
    "API_VERSION",
    "MIGRATE_API_VERSION",
    "ApplianceHealth",
    "EmulatorCredential",
    "EmulatorEstate",
    "EmulatorResponse",
    "EmulatorTransport",
    "FabricConfig",
    "FaultKind",
    "HealthLevel",
    "MachineBehaviour",
    "Operation",
    "ProcessServerConfig",
    "RecordedRequest",
    "RequestFault",
    "SiteRecoveryEmulator",
    "Timings",
    "build_emulated_client",
    "build_emulated_compute_client",
    "guest_device",
    "thawed",
]
