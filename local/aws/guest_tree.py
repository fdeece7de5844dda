"""A Linux guest's identity written as the kernel exposes it, under a scratch root, for the real prepare-guest script.

The layout follows the kernel's documented interfaces, the same files the script reads on a real instance:

- ``/sys/class/dmi/id/product_uuid`` — the SMBIOS system UUID (Documentation/ABI/testing/sysfs-class-dmi);
- ``/proc/sys/kernel/hostname`` — the host name (proc(5));
- ``/proc/net/fib_trie`` — the routing trie, where each local address shows as ``|-- <ip>`` followed by
  ``/32 host LOCAL``;
- ``/sys/block/<disk>/size`` in 512-byte sectors, ``/sys/block/<disk>/<partition>/partition``,
  ``/sys/block/nvme<N>n1/device/serial`` (the NVMe controller's serial) (Documentation/ABI/stable/sysfs-block);
- ``/sys/dev/block/<major>:<minor>`` → the device's directory (Documentation/ABI/testing/sysfs-dev);
- ``/proc/self/mountinfo`` — ``<id> <parent> <major>:<minor> <root> <mount point> …`` (proc(5)).

tests/aws_lambdas/test_guest_identity.py runs the script on this tree and checks it reads back the identity the
guest emulator synthesises for the same instance.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.aws_contracts import GuestIdentity

_MAJOR = {"nvme": 259, "xvd": 202, "sd": 8}


def _partition_name(disk: str) -> str:
    return f"{disk}p1" if disk[-1].isdigit() else f"{disk}1"


def _major(disk: str) -> int:
    return next((major for prefix, major in _MAJOR.items() if disk.startswith(prefix)), 8)


def write_identity_tree(root: Path, identity: GuestIdentity) -> None:
    """Write ``identity`` under ``root`` as the kernel would show it (idempotent)."""
    dmi = root / "sys/class/dmi/id"
    dmi.mkdir(parents=True, exist_ok=True)
    (dmi / "product_uuid").write_text(identity.bios_id + "\n")
    (root / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/hostname").write_text(identity.hostname + "\n")
    trie = ["Main:", "  +-- 0.0.0.0/0 3 0 5", "     |-- 0.0.0.0", "        /0 universe UNICAST"]
    for address in [*identity.ip_addresses, "127.0.0.1"]:
        trie += [f"     |-- {address}", "        /32 host LOCAL"]
    (root / "proc/net").mkdir(parents=True, exist_ok=True)
    (root / "proc/net/fib_trie").write_text("\n".join(trie) + "\n")
    mountinfo = []
    dev_block = root / "sys/dev/block"
    dev_block.mkdir(parents=True, exist_ok=True)
    for index, disk in enumerate(identity.disks):
        name = disk.device.removeprefix("/dev/")
        folder = root / "sys/block" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "size").write_text(f"{disk.size_bytes // 512}\n")
        (folder / "device").mkdir(exist_ok=True)
        if disk.serial:
            (folder / "device/serial").write_text(f"{disk.serial:<20}\n")  # the kernel pads the NVMe field
        major, minor = _major(name), index * 16
        (folder / "dev").write_text(f"{major}:{minor}\n")
        if disk.is_os_disk:
            partition = folder / _partition_name(name)
            partition.mkdir(exist_ok=True)
            (partition / "partition").write_text("1\n")
            (partition / "dev").write_text(f"{major}:{minor + 1}\n")
            link = dev_block / f"{major}:{minor + 1}"
            if not link.is_symlink():
                link.symlink_to(os.path.relpath(partition, dev_block))
            mountinfo.append(f"22 1 {major}:{minor + 1} / / rw,relatime shared:1 - ext4 /dev/{partition.name} rw")
        link = dev_block / f"{major}:{minor}"
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(folder, dev_block))
    (root / "proc/self").mkdir(parents=True, exist_ok=True)
    (root / "proc/self/mountinfo").write_text("".join(line + "\n" for line in mountinfo))
