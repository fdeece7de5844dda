"""Which discovered disk is which EBS volume, so per-disk types and exclusions land on the right disks. Pure.

The request names disks by their EC2 device name (``/dev/sdf``, ``xvdf``: :func:`device_key` makes them
comparable). Azure Migrate names them by what the guest's OS sees and identifies them by a UUID (the InMageRcm
``diskId``). The bridge is the guest itself (``GuestDisk``, reported by the prepare-guest command):

1. **Serial** (the rule, documented by AWS for Nitro instances): an EBS volume's NVMe serial number is its volume
   id without the hyphen (``vol-0abc…`` → ``vol0abc…``); Windows reports the same serial, possibly followed by a
   suffix, so the guest disk whose serial *starts with* it is the volume. That guest disk's ``device`` is the
   discovered disk's ``path`` (or ``name``).
2. **Size**, only when the guest reported no serial for the volume: the one discovered disk of exactly the
   volume's size (EBS sizes are whole GiB and the disk reports its capacity). Two disks of that size: unknown.

A disk that cannot be identified is never guessed: a per-disk setting that needs it is refused, naming the device.
The OS disk (the root volume, or a disk the agent or guest calls the OS disk) can never be excluded.

``guest`` may add its own mapping in ``shared/``; until the two are unified this module is the one the Site
Recovery flow uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from shared.aws_contracts import GuestDisk
from shared.azure_migrate import DiscoveredDisk
from shared.facts import Volume
from shared.request import DiskType
from shared.site_recovery import DiskSpec

__all__ = ["DiskMappingError", "DiskPlan", "device_key", "nvme_serial", "plan_disks"]

GIB = 1024**3


class DiskMappingError(ValueError):
    """A per-disk setting cannot be applied: the message names the device and why."""


class DiskPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    disks: tuple[DiskSpec, ...]
    notes: tuple[str, ...] = ()


def device_key(name: str) -> str:
    """Compare EBS device names across naming schemes: /dev/xvdf, xvdf and /dev/sdf are the same disk."""
    short = name.strip().removeprefix("/dev/")
    return "sd" + short[3:] if short.startswith("xvd") else short


def nvme_serial(volume_id: str) -> str:
    """The serial number a Nitro instance shows for an EBS volume: the volume id without its hyphen."""
    return volume_id.strip().lower().replace("-", "", 1)


def _guest_disk(volume: Volume, guest_disks: Sequence[GuestDisk]) -> GuestDisk | None:
    if not volume.volume_id:
        return None
    serial = nvme_serial(volume.volume_id)
    found = [g for g in guest_disks if g.serial and g.serial.strip().lower().startswith(serial)]
    return found[0] if len(found) == 1 else None


def _by_device(device: str, discovered: Sequence[DiscoveredDisk]) -> DiscoveredDisk | None:
    wanted = device.strip().lower()
    found = [d for d in discovered if wanted in {d.path.strip().lower(), d.name.strip().lower()} - {""}]
    return found[0] if len(found) == 1 else None


def _map_volumes(
    discovered: Sequence[DiscoveredDisk], volumes: Sequence[Volume], guest_disks: Sequence[GuestDisk]
) -> tuple[dict[str, Volume], set[str], list[str]]:
    """discovered disk id → volume; ids the guest calls its OS disk; how each was matched."""
    mapped: dict[str, Volume] = {}
    guest_os: set[str] = set()
    notes: list[str] = []
    pending: list[Volume] = []
    for volume in volumes:
        guest = _guest_disk(volume, guest_disks)
        disk = _by_device(guest.device, discovered) if guest else None
        if disk is None or disk.id in mapped:
            pending.append(volume)
            continue
        mapped[disk.id] = volume
        if guest is not None and guest.is_os_disk:
            guest_os.add(disk.id)
        notes.append(f"{volume.device_name}: serial → {disk.path or disk.name}")
    for volume in pending:
        size = volume.size_gib * GIB
        same = [d for d in discovered if d.size_bytes == size and d.id not in mapped]
        if len(same) == 1:
            mapped[same[0].id] = volume
            notes.append(f"{volume.device_name}: size {volume.size_gib} GiB → {same[0].path or same[0].name}")
    return mapped, guest_os, notes


def plan_disks(
    discovered: Sequence[DiscoveredDisk],
    volumes: Sequence[Volume],
    guest_disks: Sequence[GuestDisk],
    *,
    exclude: Iterable[str],
    types: Mapping[str, DiskType],
    default: DiskType,
) -> DiskPlan:
    """The disks to replicate (every discovered disk not excluded) with their target types."""
    if not discovered:
        raise DiskMappingError("Azure Migrate reported no disks for the machine")
    mapped, guest_os, notes = _map_volumes(discovered, volumes, guest_disks)
    by_key = {device_key(v.device_name): v for v in volumes if v.device_name}
    excluded = {device_key(name) for name in exclude}
    wanted = {device_key(name): disk_type for name, disk_type in types.items()}
    located = {device_key(v.device_name) for v in mapped.values() if v.device_name}
    for needed in sorted(excluded | set(wanted)):
        volume = by_key.get(needed)
        if volume is None:
            raise DiskMappingError(f"/dev/{needed}: the instance has no EBS volume at that device")
        if needed in excluded and volume.is_root:
            raise DiskMappingError(f"{volume.device_name} is the OS disk; it cannot be excluded")
        if needed not in located:
            raise DiskMappingError(
                f"{volume.device_name} ({volume.volume_id or 'no volume id'}): no discovered disk can be identified "
                "as this volume (no serial from the guest and no disk of a unique size)"
            )
    disks: list[DiskSpec] = []
    for disk in discovered:
        volume = mapped.get(disk.id)
        key: str | None = device_key(volume.device_name) if volume and volume.device_name else None
        is_os = bool(disk.is_os_disk) or disk.id in guest_os or bool(volume and volume.is_root)
        if key is not None and key in excluded:
            if is_os:
                raise DiskMappingError(f"{volume.device_name if volume else key} is the OS disk; it cannot be excluded")
            continue
        disks.append(DiskSpec(disk_id=disk.id, disk_type=wanted.get(key, default) if key else default))
    if not disks:
        raise DiskMappingError("every disk is excluded: nothing to replicate")
    return DiskPlan(disks=tuple(disks), notes=tuple(notes))
