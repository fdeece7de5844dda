"""Fixtures: the emulated vault on a virtual clock, the real SDK client over it, and the gateway."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.clock import VirtualClock
from local.site_recovery import SiteRecoveryEmulator, build_emulated_client
from shared.request import DiskType
from shared.site_recovery import (
    ApplianceIdentity,
    DiscoverTopologySpec,
    DiskSpec,
    EnableReplicationSpec,
    FindMachineSpec,
    MachineQuery,
    ProtectedItemRef,
    ReplicationTopology,
    TargetVmSettings,
    VaultRef,
)

SUB = "00000000-0000-0000-0000-000000000001"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-target"
VNET = f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet-prod"
TEST_VNET = f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet-test"
CACHE = f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/cachesa"
DES = f"{RG_ID}/providers/Microsoft.Compute/diskEncryptionSets/des-cmk"
AVSET = f"{RG_ID}/providers/Microsoft.Compute/availabilitySets/avset-web"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def emulator(clock: VirtualClock) -> SiteRecoveryEmulator:
    return SiteRecoveryEmulator({"timings": {"initial_replication_seconds": 4 * 3600}}, clock=clock)


@pytest.fixture
def gateway(emulator: SiteRecoveryEmulator) -> AzureSiteRecoveryGateway:
    return AzureSiteRecoveryGateway(build_emulated_client(emulator))


@pytest.fixture
def vault(emulator: SiteRecoveryEmulator) -> VaultRef:
    e = emulator.estate
    return VaultRef(subscription_id=e.subscription_id, resource_group=e.resource_group, vault_name=e.vault_name)


DISKS = [
    {"path": "/dev/nvme0n1", "size_gb": 8, "is_os": True},
    {"path": "/dev/nvme1n1", "size_gb": 100},
    {"path": "/dev/nvme2n1", "size_gb": 50},
]
#: The appliance as the request names it: the emulated process server's IP address.
APPLIANCE = ApplianceIdentity(ip_address="10.0.0.10")


def register(emulator: SiteRecoveryEmulator, name: str, index: int = 1) -> str:
    """Discover ``name`` on the site and register its agent; returns its BIOS id (upper case, as Azure Migrate
    may report it)."""
    bios = f"EC2{index:05X}-0000-4000-8000-00000000{index:04X}"
    emulator.register_machine(name, f"10.0.1.{index}", bios, "linux", disks=DISKS)
    return bios


def target(disks: list[DiskSpec], **overrides: object) -> TargetVmSettings:
    values: dict[str, object] = {
        "resource_group_id": RG_ID,
        "network_id": VNET,
        "subnet_name": "snet-app",
        "test_network_id": TEST_VNET,
        "test_subnet_name": "snet-test",
        "vm_name": "web01",
        "vm_size": "Standard_D4s_v5",
        "cache_storage_account_id": CACHE,
        "availability_zone": 2,
        "disk_encryption_set_id": DES,
        "hybrid_benefit": True,
        "disks": tuple(disks),
        "vm_tags": {"migrated-by": "ec2-to-azure", "wave": "w1"},
        "nic_tags": {"nic": "primary"},
        "disk_tags": {"backup": "daily"},
    }
    values.update(overrides)
    return TargetVmSettings.model_validate(values)


def enable(
    gateway: AzureSiteRecoveryGateway,
    emulator: SiteRecoveryEmulator,
    vault: VaultRef,
    name: str = "web01",
    index: int = 1,
    **overrides: object,
) -> tuple[ReplicationTopology, ProtectedItemRef, str]:
    """Discover and register one machine, find it and enable it; return topology, item and the enable job name."""
    bios = register(emulator, name, index)
    emulator.clock.sleep(emulator.estate.timings.discovery_seconds)
    topology = gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    match = gateway.find_machine(FindMachineSpec(topology=topology, query=MachineQuery(bios_id=bios.lower())))
    assert match.machine is not None and match.machine.agent_registered
    os_disk, data_disk, _excluded = match.machine.disks
    disks = [
        DiskSpec(disk_id=os_disk.id, disk_type=DiskType.PREMIUM_LRS),
        DiskSpec(disk_id=data_disk.id, disk_type=DiskType.STANDARD_SSD_LRS),
    ]
    started = gateway.enable_replication(
        EnableReplicationSpec(
            topology=topology,
            protected_item_name=f"ec2-{name}",
            machine=match.machine,
            target=target(disks, vm_name=name, **overrides),
        )
    )
    assert started.item is not None
    return topology, started.item, started.job.job_name


def run_for(clock: VirtualClock, seconds: float) -> None:
    clock.advance(timedelta(seconds=seconds))
