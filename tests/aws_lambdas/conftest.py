"""Fixtures for the AWS side: in-process moto with IAM enforced, a seeded estate, the local Lambda runtime and the
guest emulator (served through moto's SSM API)."""

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

from collections.abc import Iterator, Mapping  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from aws_lambdas.wiring import WIRING  # noqa: E402
from local.aws import Estate, InstanceSpec, LocalLambdaRuntime, SeededEstate, seed_estate  # noqa: E402
from local.aws.estate import DiskSpec  # noqa: E402
from local.aws.guest import GuestEmulator, emulator_for_estate  # noqa: E402
from local.aws.iam import (  # noqa: E402
    LambdaRole,
    RoleCredentials,
    access_control,
    load_lambda_roles,
    provision_lambda_roles,
)
from local.aws.moto_fidelity import behave_as_aws  # noqa: E402
from local.aws.ssm_extension import guest_ssm  # noqa: E402
from local.clock import VirtualClock  # noqa: E402
from shared.facts import Platform  # noqa: E402

behave_as_aws()  # every in-process moto of these tests answers as AWS does (local/aws/moto_fidelity.py)

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
    #: Per Lambda, the credentials of its execution role (assumed in moto).
    credentials: dict[str, RoleCredentials] = field(default_factory=dict)

    def id(self, name: str) -> str:
        return self.seeded.instance_id(name)

    def invoke(self, function: str, **event: Any) -> dict[str, Any]:
        event.setdefault("migration_id", "vm-wave1-test")
        return self.runtime.invoke(function, event)


@contextmanager
def iam_enforced_world(
    monkeypatch: pytest.MonkeyPatch, roles: Mapping[str, LambdaRole] | None = None
) -> Iterator[AwsWorld]:
    """The estate in in-process moto with IAM enforced: each Lambda runs under its role from the SAM template
    (``roles``: by default infra/aws/lambda_roles.json); the test itself and the seeding act as an administrator.
    SSM's DescribeInstanceInformation / GetCommandInvocation are served by moto from the guest emulator."""
    with mock_aws(), access_control(ESTATE.region) as admin:
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
        for name, value in admin.environ().items():
            monkeypatch.setenv(name, value)
        seeded = seed_estate(ESTATE, None)
        credentials = provision_lambda_roles(
            boto3.client("iam", region_name=ESTATE.region),
            boto3.client("sts", region_name=ESTATE.region),
            load_lambda_roles() if roles is None else roles,
        )
        clock = VirtualClock()
        emulator = emulator_for_estate(
            clock, ESTATE, {n: s.instance_id for n, s in seeded.instances.items()}, seeded=seeded
        )
        with guest_ssm(emulator):
            runtime = LocalLambdaRuntime(None, seeded.lambda_environment(), credentials=credentials)
            try:
                yield AwsWorld(ESTATE, seeded, clock, emulator, runtime, credentials)
            finally:
                runtime.close()
                WIRING.reset()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    with iam_enforced_world(monkeypatch) as built:
        yield built
