"""Which discovered disk is which EBS volume, and the disks to replicate: the plan per-disk settings land on. Pure.

The request names disks by their EC2 device name (``/dev/sdf``, ``xvdf``); Azure Migrate names them by what the
guest's OS sees and identifies them by a UUID (the InMageRcm ``diskId``). Two hops bridge them:

1. **Volume → guest disk**: :mod:`shared.guest_disks` (the one definition: NVMe / Windows serial = volume id on
   Nitro, the ``xvd`` device name on Xen; the OS disk must pair, or :class:`DiskMappingError`).
2. **Guest disk → discovered disk** (this module): the guest disk's ``device`` is the discovered disk's ``path``
   (or ``name``), compared case-insensitively; exactly one discovered disk must carry it.

A volume neither hop pairs (the guest reported no disks: an older prepare-guest document) falls back to **size**:
the one discovered disk of exactly the volume's size (EBS sizes are whole GiB and the disk reports its capacity).
Two disks of that size: unknown. A disk that cannot be identified is never guessed: a per-disk setting that needs
it is refused, naming the device. The OS disk (the root volume, or a disk the agent or guest calls the OS disk)
can never be excluded. Without per-disk settings nothing needs identifying: every discovered disk replicates with
the default type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from shared.aws_contracts import GuestDisk
from shared.azure_migrate import DiscoveredDisk
from shared.facts import Volume
from shared.guest_disks import DiskMappingError, map_volumes_to_disks, xen_device_name
from shared.request import DiskType
from shared.site_recovery import DiskSpec

__all__ = ["DiskMappingError", "DiskPlan", "plan_disks"]

GIB = 1024**3


def _refuse(message: str) -> DiskMappingError:
    return DiskMappingError(message, code="DiskMapping")


class DiskPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    disks: tuple[DiskSpec, ...]
    notes: tuple[str, ...] = ()


def _device_key(name: str) -> str:
    """Compare EC2 device names across naming schemes: ``/dev/sdf``, ``sdf``, ``/dev/xvdf`` and ``xvdf`` are one
    device, as are ``/dev/sda1`` and ``/dev/xvda`` (the rule of :func:`shared.guest_disks.xen_device_name`)."""
    return xen_device_name(name)


def _by_device(device: str, discovered: Sequence[DiscoveredDisk]) -> DiscoveredDisk | None:
    wanted = device.strip().lower()
    found = [d for d in discovered if wanted in {d.path.strip().lower(), d.name.strip().lower()} - {""}]
    return found[0] if len(found) == 1 else None


def _map_volumes(
    discovered: Sequence[DiscoveredDisk], volumes: Sequence[Volume], guest_disks: Sequence[GuestDisk]
) -> tuple[dict[str, Volume], set[str], list[str]]:
    """discovered disk id → volume; ids the guest calls its OS disk; how each was matched."""
    paired = map_volumes_to_disks(volumes, guest_disks) if volumes and guest_disks else {}
    mapped: dict[str, Volume] = {}
    guest_os: set[str] = set()
    notes: list[str] = []
    pending: list[Volume] = []
    for volume in volumes:
        guest = paired.get(volume.volume_id) if volume.volume_id else None
        disk = _by_device(guest.device, discovered) if guest else None
        if disk is None or disk.id in mapped:
            pending.append(volume)
            continue
        mapped[disk.id] = volume
        if guest is not None and guest.is_os_disk:
            guest_os.add(disk.id)
        notes.append(f"{volume.device_name}: guest disk {guest.device if guest else ''} → {disk.path or disk.name}")
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
        raise _refuse("Azure Migrate reported no disks for the machine")
    named = {_device_key(name): name for name in [*exclude, *types]}
    excluded = {_device_key(name) for name in exclude}
    wanted = {_device_key(name): disk_type for name, disk_type in types.items()}
    if not named:
        return DiskPlan(disks=tuple(DiskSpec(disk_id=disk.id, disk_type=default) for disk in discovered))
    mapped, guest_os, notes = _map_volumes(discovered, volumes, guest_disks)
    by_key = {_device_key(v.device_name): v for v in volumes if v.device_name}
    located = {_device_key(v.device_name) for v in mapped.values() if v.device_name}
    for needed in sorted(named):
        volume = by_key.get(needed)
        if volume is None:
            raise _refuse(f"{named[needed]}: the instance has no EBS volume at that device")
        if needed in excluded and volume.is_root:
            raise _refuse(f"{volume.device_name} is the OS disk; it cannot be excluded")
        if needed not in located:
            raise _refuse(
                f"{volume.device_name} ({volume.volume_id or 'no volume id'}): no discovered disk can be identified "
                "as this volume (no guest disk at a discovered disk's path and no disk of a unique size)"
            )
    disks: list[DiskSpec] = []
    for disk in discovered:
        volume = mapped.get(disk.id)
        key: str | None = _device_key(volume.device_name) if volume and volume.device_name else None
        is_os = bool(disk.is_os_disk) or disk.id in guest_os or bool(volume and volume.is_root)
        if key is not None and key in excluded:
            if is_os:
                raise _refuse(f"{volume.device_name if volume else key} is the OS disk; it cannot be excluded")
            continue
        disks.append(DiskSpec(disk_id=disk.id, disk_type=wanted.get(key, default) if key else default))
    if not disks:
        raise _refuse("every disk is excluded: nothing to replicate")
    return DiskPlan(disks=tuple(disks), notes=tuple(notes))
