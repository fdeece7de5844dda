"""Emulated Azure Resource Manager for the readiness check (resource groups, VNets, storage, permissions).

``build_emulated_arm_client(emulator)`` gives a real azure-core ARM pipeline talking to it in-process, over the
same transport as the Site Recovery emulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from local.azure_resources.emulator import ArmRequest, AzureResourcesEmulator
from local.azure_resources.estate import AzureEstate, AzureFaults
from local.azure_resources.roles import BUILT_IN_ROLES, BuiltInRole
from local.azure_resources.seed import seed_from_request
from local.site_recovery.transport import EmulatorCredential, EmulatorTransport

if TYPE_CHECKING:
    from functions.gateways.azure_resources import ArmClient


def build_emulated_arm_client(emulator: AzureResourcesEmulator, **kwargs: Any) -> ArmClient:
    """The gateway's own ARM pipeline (auth, retries, logging) wired to ``emulator``."""
    from functions.gateways.azure_resources import build_arm_client  # noqa: PLC0415 - avoid a cycle at import

    return build_arm_client(
        emulator.base_url, credential=EmulatorCredential(), transport=EmulatorTransport(emulator), **kwargs
    )


__all__ = [
    "BUILT_IN_ROLES",
    "ArmRequest",
    "AzureEstate",
    "AzureFaults",
    "AzureResourcesEmulator",
    "BuiltInRole",
    "build_emulated_arm_client",
    "seed_from_request",
]
