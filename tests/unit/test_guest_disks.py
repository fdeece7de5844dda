"""EBS volume → guest disk: Nitro serials (Linux and Windows forms), Xen device names, and the OS disk rule."""

from __future__ import annotations

import pytest

from shared.aws_contracts import GuestDisk
from shared.errors import PermanentError
from shared.facts import Volume
from shared.guest_disks import DiskMappingError, map_volumes_to_disks, volume_id_from_serial, xen_device_name

GIB = 1024**3
ROOT = Volume(device_name="/dev/sda1", volume_id="vol-0123456789abcdef0", size_gib=30, is_root=True)
DATA = Volume(device_name="/dev/sdf", volume_id="vol-0fedcba9876543210", size_gib=100)
OLD_STYLE = Volume(device_name="/dev/sdg", volume_id="vol-1a2b3c4d", size_gib=10)


def disk(device: str, serial: str, size_gib: int, os_disk: bool = False) -> GuestDisk:
    return GuestDisk(device=device, serial=serial, size_bytes=size_gib * GIB, is_os_disk=os_disk)


@pytest.mark.parametrize(
    ("serial", "volume_id"),
    [
        ("vol0123456789abcdef0", "vol-0123456789abcdef0"),  # Linux NVMe serial
        ("vol0123456789abcdef0  ", "vol-0123456789abcdef0"),  # sysfs pads the 20-character field
        ("vol0123456789abcdef0_00000001.", "vol-0123456789abcdef0"),  # Windows SerialNumber with a suffix
        ("VOL-0123456789ABCDEF0", "vol-0123456789abcdef0"),
        ("vol1a2b3c4d", "vol-1a2b3c4d"),  # the older 8-digit ids
        ("AWS1234567890ABCDEF", None),  # instance store
        ("", None),
    ],
)
def test_the_volume_id_a_serial_carries(serial: str, volume_id: str | None) -> None:
    assert volume_id_from_serial(serial) == volume_id


@pytest.mark.parametrize(
    ("ec2", "guest"),
    [("/dev/sda1", "/dev/xvda"), ("/dev/sdf", "/dev/xvdf"), ("xvdh", "/dev/xvdh"), ("/dev/xvda", "/dev/xvda")],
)
def test_xen_device_names(ec2: str, guest: str) -> None:
    assert xen_device_name(ec2) == guest


def test_nitro_linux_disks_map_by_serial_whatever_their_order() -> None:
    disks = [
        disk("/dev/nvme0n1", "vol0fedcba9876543210", 100),  # NVMe numbering need not follow the EC2 names
        disk("/dev/nvme1n1", "vol0123456789abcdef0", 30, os_disk=True),
    ]
    mapping = map_volumes_to_disks([ROOT, DATA], disks)
    assert {v: d.device for v, d in mapping.items()} == {ROOT.volume_id: "/dev/nvme1n1", DATA.volume_id: "/dev/nvme0n1"}


def test_windows_disks_map_by_serial_number_with_suffix() -> None:
    disks = [
        disk(r"\\.\PHYSICALDRIVE0", "vol0123456789abcdef0_00000001.", 30, os_disk=True),
        disk(r"\\.\PHYSICALDRIVE1", "vol0fedcba9876543210_00000001.", 100),
        disk(r"\\.\PHYSICALDRIVE2", "vol1a2b3c4d", 10),
    ]
    mapping = map_volumes_to_disks([ROOT, DATA, OLD_STYLE], disks)
    assert [mapping[v.volume_id].device for v in (ROOT, DATA, OLD_STYLE)] == [
        r"\\.\PHYSICALDRIVE0",
        r"\\.\PHYSICALDRIVE1",
        r"\\.\PHYSICALDRIVE2",
    ]


def test_xen_disks_map_by_device_name() -> None:
    disks = [disk("/dev/xvda", "", 30, os_disk=True), disk("/dev/xvdf", "", 100)]
    mapping = map_volumes_to_disks([ROOT, DATA], disks)
    assert mapping[ROOT.volume_id].device == "/dev/xvda" and mapping[DATA.volume_id].device == "/dev/xvdf"


def test_an_unreported_data_disk_is_left_out() -> None:
    mapping = map_volumes_to_disks([ROOT, DATA], [disk("/dev/nvme0n1", "vol0123456789abcdef0", 30, os_disk=True)])
    assert set(mapping) == {ROOT.volume_id}


def test_an_os_disk_that_cannot_be_mapped_is_refused_with_the_reason() -> None:
    disks = [disk("/dev/nvme0n1", "vol0999999999999999f", 30, os_disk=True), disk("/dev/nvme1n1", "", 100)]
    with pytest.raises(DiskMappingError) as raised:
        map_volumes_to_disks([ROOT, DATA], disks)
    message = raised.value.message
    assert "the root volume vol-0123456789abcdef0 (/dev/sda1) matches no disk the guest reports" in message
    assert "/dev/nvme0n1 serial vol0999999999999999f" in message
    assert "the guest's OS disk /dev/nvme0n1 (serial vol0999999999999999f) matches none of the instance's" in message
    assert isinstance(raised.value, PermanentError)


def test_a_root_volume_on_a_disk_the_guest_does_not_boot_from_is_refused() -> None:
    disks = [disk("/dev/nvme0n1", "vol0123456789abcdef0", 30), disk("/dev/nvme1n1", "vol0fedcba9876543210", 100, True)]
    with pytest.raises(
        DiskMappingError, match="matches guest disk /dev/nvme0n1, but the guest's OS disk is /dev/nvme1n1"
    ):
        map_volumes_to_disks([ROOT, DATA], disks)


def test_two_volumes_on_one_disk_are_refused() -> None:
    disks = [disk("/dev/xvda", "", 30, os_disk=True)]
    twin = Volume(device_name="/dev/xvda", volume_id="vol-0aaaaaaaaaaaaaaaa", size_gib=30)
    with pytest.raises(DiskMappingError, match="both match guest disk /dev/xvda"):
        map_volumes_to_disks([ROOT, twin], disks)


def test_no_disks_reported_at_all_is_refused() -> None:
    with pytest.raises(DiskMappingError, match="its OS disk cannot be identified"):
        map_volumes_to_disks([ROOT, DATA], [])
    with pytest.raises(DiskMappingError, match="neither the instance's volumes nor the guest's disks"):
        map_volumes_to_disks([DATA], [disk("/dev/nvme0n1", "vol0fedcba9876543210", 100)])
