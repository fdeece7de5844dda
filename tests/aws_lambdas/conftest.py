"""Fixtures for the AWS side: in-process moto, a seeded estate, the local Lambda runtime and guest emulator."""

from __future__ import annotations

import os

# Before powertools is imported: no X-Ray daemon, no EMF on stdout, fake credentials for moto.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "1")
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}.items():
    os.environ[_name] = _value

from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from aws_lambdas.wiring import WIRING  # noqa: E402
from local.aws import Estate, InstanceSpec, LocalLambdaRuntime, SeededEstate, seed_estate  # noqa: E402
from local.aws.estate import DiskSpec  # noqa: E402
from local.aws.guest import GuestEmulator, emulator_for_estate  # noqa: E402
from local.clock import VirtualClock  # noqa: E402
from shared.facts import Platform  # noqa: E402

ESTATE = Estate(
    region="eu-west-1",
    instances=[
        InstanceSpec(
            name="web-1", os_name="Ubuntu", os_version="22.04", disks=[DiskSpec(size_gib=16), DiskSpec(size_gib=100)]
        ),
        InstanceSpec(
            name="win-1",
            platform=Platform.WINDOWS,
            os_name="Microsoft Windows Server 2019 Datacenter",
            os_version="10.0.17763",
            cloud_init=False,
        ),
        InstanceSpec(name="db-1", os_name="Red Hat Enterprise Linux", os_version="8.6", state="stopped"),
        InstanceSpec(name="legacy-1", os_name="Ubuntu", os_version="16.04", ssm_managed=False),
    ],
)


@dataclass
class AwsWorld:
    estate: Estate
    seeded: SeededEstate
    clock: VirtualClock
    emulator: GuestEmulator
    runtime: LocalLambdaRuntime

    def id(self, name: str) -> str:
        return self.seeded.instance_id(name)

    def invoke(self, function: str, **event: Any) -> dict[str, Any]:
        event.setdefault("migration_id", "vm-wave1-test")
        return self.runtime.invoke(function, event)


@pytest.fixture
def world() -> Iterator[AwsWorld]:
    with mock_aws():
        seeded = seed_estate(ESTATE, None)
        clock = VirtualClock()
        ids = {n: s.instance_id for n, s in seeded.instances.items()}
        emulator = emulator_for_estate(clock, ESTATE, ids, seeded=seeded)
        runtime = LocalLambdaRuntime(None, seeded.lambda_environment(), emulator=emulator)
        try:
            yield AwsWorld(ESTATE, seeded, clock, emulator, runtime)
        finally:
            runtime.close()
            WIRING.reset()
