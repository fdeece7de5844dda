"""An emulated estate in in-process moto, with the guest emulator answering SSM's managed-instance questions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.aws import DiskSpec, Estate, GuestBehaviour, GuestEmulator, InstanceSpec, SeededEstate, seed_estate
from local.clock import VirtualClock
from shared.facts import Platform

REGION = "eu-west-1"

ESTATE = Estate(
    region=REGION,
    instances=[
        InstanceSpec(name="web-1", instance_type="m5.large", tags={"Wave": "1", "App": "shop"}),
        InstanceSpec(
            name="db-1",
            instance_type="r5.xlarge",
            os_name="Red Hat Enterprise Linux",
            os_version="8.8",
            tags={"Wave": "1"},
            disks=[DiskSpec(size_gib=30), DiskSpec(size_gib=500, volume_type="gp2")],
        ),
        InstanceSpec(
            name="win-app",
            instance_type="c5.xlarge",
            platform=Platform.WINDOWS,
            os_name="Microsoft Windows Server 2019 Datacenter",
            os_version="10.0.17763",
            cloud_init=False,
            tags={"Wave": "1"},
        ),
        InstanceSpec(name="legacy-al2", instance_type="t3.medium", os_name="Amazon Linux", os_version="2"),
        InstanceSpec(name="arm-api", instance_type="m6g.large", architecture="arm64", tags={"Wave": "2"}),
        InstanceSpec(name="ml-box", instance_type="g4dn.xlarge", tags={"Wave": "2"}),
        InstanceSpec(name="unmanaged", instance_type="t3.small", ssm_managed=False, tags={"Wave": "2"}),
        InstanceSpec(name="stopped-1", instance_type="m6i.large", state="stopped", tags={"Wave": "2"}),
    ],
)


@dataclass
class EmulatedEstate:
    seeded: SeededEstate
    ec2: Any
    ssm: GuestEmulator
    spec: Estate


class ManagedLookup:
    """The guest emulator seen through the one SSM call discover makes (DescribeInstanceInformation)."""

    def __init__(self, emulator: GuestEmulator) -> None:
        self._emulator = emulator

    def describe_managed_instances(self, instance_ids):
        return self._emulator.managed_instances(list(instance_ids))


@pytest.fixture
def estate() -> Iterator[EmulatedEstate]:
    with mock_aws():
        seeded = seed_estate(ESTATE, None)
        emulator = GuestEmulator(VirtualClock())
        for spec in ESTATE.instances:
            emulator.set_behaviour(
                seeded.instance_id(spec.name),
                GuestBehaviour(
                    platform=spec.platform,
                    os_name=spec.os_name,
                    os_version=spec.os_version,
                    cloud_init=spec.cloud_init,
                    ssm_managed=spec.ssm_managed,
                ),
            )
        emulator.set_behaviour(
            seeded.appliance.instance_id,
            GuestBehaviour(
                platform=Platform.WINDOWS,
                os_name="Microsoft Windows Server 2019 Datacenter",
                os_version="10.0.17763",
                cloud_init=False,
            ),
        )
        yield EmulatedEstate(seeded=seeded, ec2=boto3.client("ec2", region_name=REGION), ssm=emulator, spec=ESTATE)
