"""Which guest disk is which EBS volume: the rule that lets per-disk choices land on the right disk.

The request names disks by their EC2 device name (``/dev/sdf``) and EC2 knows volumes (``vol-…``); Azure
Migrate discovers the disks the guest OS sees. The guest reports them during preparation
(:class:`~shared.aws_contracts.GuestIdentity`), and this module pairs them with the instance's volumes:

1. **Serial number (Nitro).** On instances built on the Nitro System an EBS volume is an NVMe device whose
   serial number is the volume id without its hyphen: ``vol-0123456789abcdef0`` → ``vol0123456789abcdef0``
   (Amazon EBS User Guide, "Map Amazon EBS volumes to NVMe device names": "The EBS volume ID is set as the
   serial number of the device"; Linux ``/sys/block/nvme*/device/serial``, ``lsblk -o +SERIAL``). Windows
   reports the same id as the disk's ``SerialNumber`` (``Get-Disk``); its first 20 characters are the volume id
   without the hyphen, and a suffix may follow (Amazon EC2 Windows guide, "Map disks to volumes on your Windows
   instance"). Matching: case-insensitive, optional hyphen after ``vol``, anything after the id ignored.
2. **Device name (Xen).** Xen instances expose no volume id; the guest's device is the EC2 device name with
   ``sd`` spelled ``xvd`` (``/dev/sdf`` → ``/dev/xvdf``) and the root device's partition number dropped
   (``/dev/sda1`` → ``/dev/xvda``). Used only for guest disks that report no ``vol…`` serial.

:func:`map_volumes_to_disks` returns volume id → guest disk and refuses, with the reason, what would put a
choice on the wrong disk: an OS disk it cannot pair, two volumes on one disk, or a root volume paired with a
disk the guest says is not its OS disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.aws_contracts import GuestDisk
from shared.errors import PermanentError
from shared.facts import Volume

_VOLUME_ID = re.compile(r"vol-?([0-9a-f]{17}|[0-9a-f]{8})", re.IGNORECASE)


class DiskMappingError(PermanentError):
    """The instance's EBS volumes cannot be paired with the disks its guest reports (names what is missing)."""


def volume_id_from_serial(serial: str) -> str | None:
    """The EBS volume id a disk serial number carries (``vol0abc…`` or ``vol0abc…_00000001.``), or None."""
    match = _VOLUME_ID.match(serial.strip())
    return f"vol-{match.group(1).lower()}" if match else None


def xen_device_name(ec2_device_name: str) -> str:
    """The device a Xen guest shows for an EC2 device name: ``/dev/sdf`` → ``/dev/xvdf``, ``/dev/sda1`` →
    ``/dev/xvda`` (names without ``/dev/`` get it)."""
    name = ec2_device_name.strip().removeprefix("/dev/")
    name = re.sub(r"^sd", "xvd", name)
    name = re.sub(r"^(xvd[a-z]+)\d+$", r"\1", name)
    return f"/dev/{name}"


def match_volumes_to_disks(volumes: Sequence[Volume], disks: Sequence[GuestDisk]) -> dict[str, GuestDisk]:
    """Volume id → guest disk for every volume the rules pair (no checks: see :func:`map_volumes_to_disks`)."""
    by_serial = {vid: disk for disk in disks if (vid := volume_id_from_serial(disk.serial))}
    by_device = {xen_device_name(disk.device): disk for disk in disks if not volume_id_from_serial(disk.serial)}
    mapping: dict[str, GuestDisk] = {}
    for volume in volumes:
        disk = by_serial.get(volume.volume_id.lower()) or by_device.get(xen_device_name(volume.device_name))
        if disk is not None:
            mapping[volume.volume_id] = disk
    return mapping


def map_volumes_to_disks(volumes: Sequence[Volume], disks: Sequence[GuestDisk]) -> dict[str, GuestDisk]:
    """Volume id → the guest disk that is that volume (rules in the module docstring).

    Volumes no disk matches are left out (the caller decides whether a data disk may be missing); the OS disk
    never is: :class:`DiskMappingError` when the root volume or the guest's OS disk cannot be paired.
    """
    mapping = match_volumes_to_disks(volumes, disks)
    problems = []
    taken: dict[str, str] = {}
    for volume_id, disk in mapping.items():
        if disk.device in taken:
            problems.append(f"{taken[disk.device]} and {volume_id} both match guest disk {disk.device}")
        taken.setdefault(disk.device, volume_id)
    roots = [v for v in volumes if v.is_root]
    os_disks = [d for d in disks if d.is_os_disk]
    for root in roots:
        root_disk = mapping.get(root.volume_id)
        if root_disk is None:
            problems.append(
                f"the root volume {root.volume_id} ({root.device_name}) matches no disk the guest reports "
                f"({_describe(disks)}): its OS disk cannot be identified"
            )
        elif os_disks and not root_disk.is_os_disk:
            problems.append(
                f"the root volume {root.volume_id} matches guest disk {root_disk.device}, but the guest's OS disk is "
                f"{os_disks[0].device}"
            )
    mapped_devices = {d.device for d in mapping.values()}
    for disk in os_disks:
        if disk.device not in mapped_devices:
            problems.append(
                f"the guest's OS disk {disk.device} (serial {disk.serial or 'none'}) matches none of the instance's "
                f"volumes ({', '.join(v.volume_id for v in volumes) or 'none'})"
            )
    if not roots and not os_disks:
        problems.append("neither the instance's volumes nor the guest's disks say which disk is the OS disk")
    if problems:
        raise DiskMappingError("; ".join(dict.fromkeys(problems)), code="DiskMapping")
    return mapping


def _describe(disks: Sequence[GuestDisk]) -> str:
    if not disks:
        return "none"
    return ", ".join(f"{d.device} serial {d.serial or 'none'}" for d in disks)
