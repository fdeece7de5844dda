"""How an emulated EC2 instance looks from inside: its SMBIOS UUID and its disks' serial numbers.

One definition, used by the guest emulator (what the prepare-guest script reports) and by the Site Recovery
emulator (what Azure Migrate's discovery reports), so the two sides describe the same machine the way the real
ones would: EC2's SMBIOS UUIDs start with ``ec2``; a Nitro instance's EBS volume shows the volume id without
the hyphen as its NVMe serial number. :func:`guest_identity_for` is the whole identity the prepare-guest script
reports (host name, IPs, disks as the guest OS names them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from shared.aws_contracts import GuestDisk, GuestIdentity
from shared.facts import Platform, Volume
from shared.guest_disks import xen_device_name


def bios_id_for(instance_id: str) -> str:
    """The instance's SMBIOS system UUID (lower case, as Linux reports it), stable for an instance id."""
    digest = hashlib.sha256(instance_id.encode()).hexdigest()
    raw = "ec2" + digest[:29]
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"


def nvme_serial_for(volume_id: str) -> str:
    """The NVMe serial number of an EBS volume on a Nitro instance: ``vol-0abc…`` → ``vol0abc…``."""
    return volume_id.replace("-", "", 1)


def hostname_for(instance_id: str, private_ip: str, platform: Platform) -> str:
    """The OS host name an EC2 instance boots with: ``ip-10-0-1-23`` (Linux, IP-based name) or
    ``EC2AMAZ-XXXXXXX`` (Windows: EC2Launch's random name, stable for an instance id here)."""
    if platform is Platform.WINDOWS:
        suffix = hashlib.sha256(f"hostname:{instance_id}".encode()).hexdigest()[:7].upper()
        return f"EC2AMAZ-{suffix}"
    return "ip-" + private_ip.replace(".", "-")


def guest_disks_for(volumes: Sequence[Volume], platform: Platform, hypervisor: str) -> list[GuestDisk]:
    """The disks the guest OS sees for these EBS volumes (root first, then attachment order).

    Nitro: NVMe devices (``/dev/nvme<N>n1`` on Linux) whose serial is :func:`nvme_serial_for` the volume;
    Windows shows them as ``PHYSICALDRIVE<N>`` (the Win32 path, as Azure Migrate reports a disk's path, the rule
    of ``guest_device`` in ``local.site_recovery``) with the same serial. Xen: ``/dev/xvd…`` named after the EC2
    device
    (:func:`shared.guest_disks.xen_device_name`) and no serial.
    """
    ordered = sorted(volumes, key=lambda v: not v.is_root)
    disks = []
    for index, volume in enumerate(ordered):
        nitro = hypervisor != "xen"
        if platform is Platform.WINDOWS:
            device = f"\\\\.\\PHYSICALDRIVE{index}"
        elif nitro:
            device = f"/dev/nvme{index}n1"
        else:
            device = xen_device_name(volume.device_name)
        disks.append(
            GuestDisk(
                device=device,
                serial=nvme_serial_for(volume.volume_id) if nitro else "",
                size_bytes=volume.size_gib * 1024**3,
                is_os_disk=volume.is_root,
            )
        )
    return disks


def guest_identity_for(
    instance_id: str, private_ip: str, platform: Platform, hypervisor: str, volumes: Sequence[Volume]
) -> GuestIdentity:
    """What the prepare-guest script reports on this emulated instance (the same machine Azure Migrate sees)."""
    return GuestIdentity(
        bios_id=bios_id_for(instance_id),
        hostname=hostname_for(instance_id, private_ip, platform),
        ip_addresses=[private_ip] if private_ip else [],
        disks=guest_disks_for(volumes, platform, hypervisor),
    )
