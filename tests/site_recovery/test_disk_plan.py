"""The disk plan: EBS volume → guest disk (shared.guest_disks) → discovered disk (by the guest's device path), so
per-disk types and exclusions land on the right InMageRcm ``diskId``s and the OS disk is never excluded.

Volume ids are real-shaped (``vol-`` and 17 or 8 hex digits): the serial rule only recognises those."""

from __future__ import annotations

import pytest

from shared.aws_contracts import GuestDisk
from shared.azure_migrate import DiscoveredDisk
from shared.errors import PermanentError
from shared.facts import Volume
from shared.guest_disks import DiskMappingError as GuestDiskMappingError
from shared.request import DiskType
from shared.site_recovery_disks import DiskMappingError, plan_disks

GIB = 1024**3
PREMIUM = DiskType.PREMIUM_LRS
DISCOVERED = (
    DiscoveredDisk(id="uuid-root", path="/dev/nvme0n1", size_bytes=8 * GIB),
    DiscoveredDisk(id="uuid-data", path="/dev/nvme1n1", size_bytes=100 * GIB),
    DiscoveredDisk(id="uuid-logs", path="/dev/nvme2n1", size_bytes=100 * GIB),
)
VOLUMES = (
    Volume(device_name="/dev/xvda", volume_id="vol-0aaa0000000000001", size_gib=8, is_root=True),
    Volume(device_name="/dev/sdf", volume_id="vol-0bbb0000000000002", size_gib=100),
    Volume(device_name="/dev/sdg", volume_id="vol-0ccc0000000000003", size_gib=100),
)
# The guest lists its NVMe devices in its own order: serials, not order, say which volume is which.
GUEST = (
    GuestDisk(device="/dev/nvme0n1", serial="vol0aaa0000000000001", size_bytes=8 * GIB, is_os_disk=True),
    GuestDisk(device="/dev/nvme2n1", serial="vol0bbb0000000000002", size_bytes=100 * GIB),
    GuestDisk(device="/dev/nvme1n1", serial="vol0ccc0000000000003", size_bytes=100 * GIB),
)


def test_one_disk_mapping_error_and_it_is_permanent() -> None:
    assert DiskMappingError is GuestDiskMappingError
    assert issubclass(DiskMappingError, PermanentError)


def test_per_disk_settings_follow_the_serials_to_the_right_discovered_disks() -> None:
    plan = plan_disks(
        DISCOVERED, VOLUMES, GUEST, exclude=["xvdg"], types={"/dev/sdf": DiskType.STANDARD_SSD_LRS}, default=PREMIUM
    )
    assert [(d.disk_id, d.disk_type) for d in plan.disks] == [
        ("uuid-root", PREMIUM),
        ("uuid-logs", DiskType.STANDARD_SSD_LRS),  # /dev/sdf is vol-0bbb…, which the guest shows at nvme2n1
    ]


def test_without_serials_two_disks_of_one_size_are_refused_not_guessed() -> None:
    with pytest.raises(DiskMappingError, match="/dev/sdg") as refused:
        plan_disks(DISCOVERED, VOLUMES, (), exclude=["/dev/sdg"], types={}, default=PREMIUM)
    assert refused.value.code == "DiskMapping"
    plan = plan_disks(DISCOVERED, VOLUMES, (), exclude=[], types={}, default=PREMIUM)
    assert len(plan.disks) == 3  # no per-disk setting: every disk replicates with the default type


def test_a_device_the_instance_does_not_have_is_named_as_the_request_wrote_it() -> None:
    with pytest.raises(DiskMappingError, match=r"] /dev/sdz: the instance has no EBS volume"):
        plan_disks(DISCOVERED, VOLUMES, GUEST, exclude=[], types={"/dev/sdz": PREMIUM}, default=PREMIUM)


def test_the_os_disk_can_never_be_excluded() -> None:
    with pytest.raises(DiskMappingError, match="OS disk"):
        plan_disks(DISCOVERED, VOLUMES, GUEST, exclude=["/dev/xvda"], types={}, default=PREMIUM)
    with pytest.raises(DiskMappingError, match="OS disk"):
        plan_disks(DISCOVERED, VOLUMES, GUEST, exclude=["/dev/sda1"], types={}, default=PREMIUM)  # root, Xen-named
    flagged = (DISCOVERED[0], DISCOVERED[1].model_copy(update={"is_os_disk": True}), DISCOVERED[2])
    with pytest.raises(DiskMappingError, match="OS disk"):
        plan_disks(flagged, VOLUMES, GUEST, exclude=["/dev/sdg"], types={}, default=PREMIUM)


def test_a_guest_whose_os_disk_contradicts_the_root_volume_is_refused_when_a_setting_depends_on_it() -> None:
    """The guest says nvme1n1 is its OS disk but the root volume's serial is on nvme0n1: nothing is trusted."""
    confused = (
        GUEST[0].model_copy(update={"is_os_disk": False}),
        GUEST[1],
        GUEST[2].model_copy(update={"is_os_disk": True}),
    )
    with pytest.raises(DiskMappingError, match="but the guest's OS disk is /dev/nvme1n1"):
        plan_disks(DISCOVERED, VOLUMES, confused, exclude=["/dev/sdf"], types={}, default=PREMIUM)
    assert len(plan_disks(DISCOVERED, VOLUMES, confused, exclude=[], types={}, default=PREMIUM).disks) == 3


def test_a_windows_serial_with_a_suffix_still_identifies_the_volume() -> None:
    guest = (
        GuestDisk(device="\\\\.\\PHYSICALDRIVE0", serial="vol0aaa0000000000001_00000001.", size_bytes=60 * GIB),
        GuestDisk(device="\\\\.\\PHYSICALDRIVE1", serial="vol0bbb0000000000002_00000001.", size_bytes=100 * GIB),
    )
    guest = (guest[0].model_copy(update={"is_os_disk": True}), guest[1])
    discovered = (
        DiscoveredDisk(id="uuid-c", path="\\\\.\\PHYSICALDRIVE0", size_bytes=60 * GIB),
        DiscoveredDisk(id="uuid-d", path="\\\\.\\PHYSICALDRIVE1", size_bytes=100 * GIB),
    )
    volumes = (VOLUMES[0].model_copy(update={"device_name": "/dev/sda1", "size_gib": 60}), VOLUMES[1])
    plan = plan_disks(discovered, volumes, guest, exclude=["/dev/sdf"], types={}, default=PREMIUM)
    assert [d.disk_id for d in plan.disks] == ["uuid-c"]


def test_a_xen_guest_without_serials_is_paired_by_its_xvd_device() -> None:
    """Xen shows no volume id: the guest's /dev/xvdf is EC2's /dev/sdf, and the discovered disk at that path."""
    guest = (
        GuestDisk(device="/dev/xvda", size_bytes=8 * GIB, is_os_disk=True),
        GuestDisk(device="/dev/xvdf", size_bytes=100 * GIB),
        GuestDisk(device="/dev/xvdg", size_bytes=100 * GIB),
    )
    discovered = (
        DiscoveredDisk(id="uuid-a", path="/dev/xvda", size_bytes=8 * GIB),
        DiscoveredDisk(id="uuid-g", path="/dev/xvdg", size_bytes=100 * GIB),
        DiscoveredDisk(id="uuid-f", path="/dev/xvdf", size_bytes=100 * GIB),
    )
    plan = plan_disks(discovered, VOLUMES, guest, exclude=["/dev/sdg"], types={}, default=PREMIUM)
    assert [d.disk_id for d in plan.disks] == ["uuid-a", "uuid-f"]
