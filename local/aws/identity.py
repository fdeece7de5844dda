"""How an emulated EC2 instance looks from inside: its SMBIOS UUID and its disks' serial numbers.

One definition, used by the guest emulator (what the prepare-guest script reports) and by the Site Recovery
emulator (what Azure Migrate's discovery reports), so the two sides describe the same machine the way the real
ones would: EC2's SMBIOS UUIDs start with ``ec2``; a Nitro instance's EBS volume shows the volume id without
the hyphen as its NVMe serial number.
"""

from __future__ import annotations

import hashlib


def bios_id_for(instance_id: str) -> str:
    """The instance's SMBIOS system UUID (lower case, as Linux reports it), stable for an instance id."""
    digest = hashlib.sha256(instance_id.encode()).hexdigest()
    raw = "ec2" + digest[:29]
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"


def nvme_serial_for(volume_id: str) -> str:
    """The NVMe serial number of an EBS volume on a Nitro instance: ``vol-0abc…`` → ``vol0abc…``."""
    return volume_id.replace("-", "", 1)
