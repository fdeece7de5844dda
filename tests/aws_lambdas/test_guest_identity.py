"""The guest's identity: the real prepare-guest script reads it from the kernel's files, the emulated guest reports
the same for the same instance, and the orchestration reads it back from the finished command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aws_lambdas.guest_scripts import SCRIPTS_DIR
from local.aws import GuestBehaviour, GuestEmulator
from local.aws.guest_tree import write_identity_tree
from local.aws.identity import bios_id_for, guest_identity_for, nvme_serial_for
from local.clock import VirtualClock
from shared.aws_contracts import (
    CommandState,
    GuestDisk,
    GuestIdentity,
    GuestIdentityError,
    InvocationStatus,
    guest_identity_of,
)
from shared.facts import Platform, Volume
from shared.guest_disks import map_volumes_to_disks
from tests.aws_lambdas.conftest import AwsWorld

PREPARE = SCRIPTS_DIR / "prepare_guest_linux/prepare_guest.sh"
VOLUMES = (
    Volume(device_name="/dev/sda1", volume_id="vol-0123456789abcdef0", size_gib=16, is_root=True),
    Volume(device_name="/dev/sdf", volume_id="vol-0fedcba9876543210", size_gib=100),
)


def run_prepare(root: Path) -> dict:
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "GUEST_ROOT": str(root), "TMPDIR": str(root / "tmp"), "LANG": "C.UTF-8"}
    env["SSM_MigrationId"] = "vm-w1-i-1"
    done = subprocess.run(["bash", str(PREPARE)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("hypervisor", ["nitro", "xen"])
def test_the_real_script_reads_the_identity_the_kernel_shows(tmp_path: Path, hypervisor: str) -> None:
    identity = guest_identity_for("i-0abc1234def567890", "10.0.1.23", Platform.LINUX, hypervisor, VOLUMES)
    write_identity_tree(tmp_path, identity)
    result = run_prepare(tmp_path)
    assert GuestIdentity.model_validate(result["identity"]) == identity
    assert identity.bios_id.startswith("ec2") and identity.hostname == "ip-10-0-1-23"
    mapping = map_volumes_to_disks(VOLUMES, identity.disks)
    assert mapping[VOLUMES[0].volume_id].is_os_disk and not mapping[VOLUMES[1].volume_id].is_os_disk
    again = run_prepare(tmp_path)  # reading the identity changes nothing and reads the same
    assert again["identity"] == result["identity"] and again["changed"] == []


def test_the_script_finds_the_os_disk_under_lvm_and_ignores_loop_devices(tmp_path: Path) -> None:
    identity = guest_identity_for("i-0abc1234def567890", "10.0.1.23", Platform.LINUX, "nitro", VOLUMES)
    write_identity_tree(tmp_path, identity)
    # "/" on a device-mapper volume whose slave is a partition of the second disk; a loop device besides.
    mapper = tmp_path / "sys/block/dm-0"
    (mapper / "slaves").mkdir(parents=True)
    (mapper / "size").write_text("100\n")
    (mapper / "slaves/nvme1n1p1").symlink_to("../../nvme1n1/nvme1n1p1")
    (tmp_path / "sys/block/nvme1n1/nvme1n1p1").mkdir()
    (tmp_path / "sys/block/nvme1n1/nvme1n1p1/partition").write_text("1\n")
    (tmp_path / "sys/dev/block/253:0").symlink_to("../../block/dm-0")
    (tmp_path / "sys/block/loop0").mkdir()
    (tmp_path / "sys/block/loop0/size").write_text("2048\n")
    (tmp_path / "proc/self/mountinfo").write_text("22 1 253:0 / / rw - xfs /dev/mapper/vg-root rw\n")
    disks = GuestIdentity.model_validate(run_prepare(tmp_path)["identity"]).disks
    assert [(d.device, d.is_os_disk) for d in disks] == [("/dev/nvme0n1", False), ("/dev/nvme1n1", True)]


def test_the_emulated_guest_reports_what_the_real_script_reads(world: AwsWorld, tmp_path: Path) -> None:
    web = world.id("web-1")
    seeded = world.seeded.instances["web-1"]
    sent = world.invoke("prepare_guest", instance_ids=[web])["commands"][0]
    status = world.invoke("command_status", command_id=sent["command_id"], instance_ids=[web])["invocations"][0]
    identity = guest_identity_of(InvocationStatus.model_validate(status))
    assert identity.bios_id == bios_id_for(web)
    assert identity.ip_addresses == [seeded.private_ip]
    assert [d.serial for d in identity.disks] == [nvme_serial_for(v.volume_id) for v in seeded.volumes]
    mapping = map_volumes_to_disks(seeded.volumes, identity.disks)
    assert set(mapping) == {v.volume_id for v in seeded.volumes} and len(seeded.volumes) == 2

    # The same instance with the real script run against its scratch root reads back the same identity.
    behaviour = world.emulator.behaviour(web)
    assert behaviour is not None
    world.emulator.scratch_dir = tmp_path
    world.emulator.set_behaviour(web, behaviour.model_copy(update={"run_linux_scripts": True}))
    sent = world.invoke("prepare_guest", instance_ids=[web], attempt=1)["commands"][0]
    status = world.invoke("command_status", command_id=sent["command_id"], instance_ids=[web])["invocations"][0]
    assert status["state"] == "succeeded", status["stderr_tail"]
    assert guest_identity_of(InvocationStatus.model_validate(status)) == identity


def test_a_windows_guest_reports_its_disks_by_serial(world: AwsWorld) -> None:
    win = world.id("win-1")
    sent = world.invoke("prepare_guest", instance_ids=[win])["commands"][0]
    status = world.invoke("command_status", command_id=sent["command_id"], instance_ids=[win])["invocations"][0]
    identity = guest_identity_of(InvocationStatus.model_validate(status))
    assert identity.hostname.startswith("EC2AMAZ-") and identity.disks[0].device == "\\\\.\\PHYSICALDRIVE0"
    assert map_volumes_to_disks(world.seeded.instances["win-1"].volumes, identity.disks)


def _status(state: CommandState, result: dict | None) -> InvocationStatus:
    return InvocationStatus(instance_id="i-0abc1234def567890", state=state, result=result)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (_status(CommandState.FAILED, None), "guest preparation on i-0abc1234def567890 is failed"),
        (_status(CommandState.RUNNING, None), "is running, so it reported no identity"),
        (_status(CommandState.SUCCEEDED, {"script": "prepare-guest-linux"}), "printed no identity"),
        (_status(CommandState.SUCCEEDED, {"identity": {"hostname": "x"}}), "malformed identity: bios_id"),
    ],
)
def test_reading_the_identity_of_a_command_that_has_none_says_why(status: InvocationStatus, message: str) -> None:
    with pytest.raises(GuestIdentityError) as raised:
        guest_identity_of(status)
    assert message in raised.value.message and raised.value.resource == "i-0abc1234def567890"


def test_the_identity_round_trips_through_the_command_result() -> None:
    identity = GuestIdentity(
        bios_id="ec2a3641-35e2-59ea-0eec-6affa2a29d4e",
        hostname="ip-10-0-1-23",
        ip_addresses=["10.0.1.23"],
        disks=[
            GuestDisk(device="/dev/nvme0n1", serial="vol0123456789abcdef0", size_bytes=8 * 1024**3, is_os_disk=True)
        ],
    )
    status = _status(CommandState.SUCCEEDED, {"identity": json.loads(identity.model_dump_json())})
    assert guest_identity_of(status) == identity


def test_a_guest_without_an_identity_reports_none_like_an_old_script() -> None:
    """A behaviour without ``identity`` (no seeded instance behind it) prints what an old prepare-guest document
    printed: no ``identity`` at all, so the orchestration's lookup falls back and says so."""
    emulator = GuestEmulator(VirtualClock(), {"i-0abc1234def567890": GuestBehaviour()})
    emulator.dispatch("c-1", "ec2-to-azure-prepare-guest-linux", ["i-0abc1234def567890"], {"MigrationId": "m"})
    result = json.loads(emulator.invocation("c-1", "i-0abc1234def567890").stdout)
    assert "identity" not in result and result["script"] == "prepare-guest-linux"
    with pytest.raises(GuestIdentityError, match="printed no identity"):
        guest_identity_of(_status(CommandState.SUCCEEDED, result))
