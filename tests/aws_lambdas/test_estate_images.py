"""Each emulated instance boots the image of its declared OS and version.

The inventory Lambda reads the OS from the AMI when SSM reports nothing: with every Ubuntu instance booted from
moto's one Ubuntu 14.04 image, preflight rejected a declared Ubuntu 22.04 as "Ubuntu 14.04 is not supported".
Here every distinct OS of the bundled scenarios is seeded unmanaged by SSM and the inventory must read back,
from the image alone, the OS family and version the scenario declared.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from aws_lambdas.wiring import WIRING
from local.aws import Estate, InstanceSpec, LocalLambdaRuntime, seed_estate
from local.aws import images as images_module
from local.aws.guest import emulator_for_estate
from local.aws.ssm_extension import guest_ssm
from local.clock import VirtualClock
from local.scenario import load_scenario
from shared.facts import InstanceFacts
from shared.os_support import assess_os_support, identify_os

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = [
    ROOT / "local/scenarios/demo.yaml",
    ROOT / "tests/e2e/scenarios/lifecycle.yaml",
    ROOT / "tests/reliability/scenarios/faults.yaml",
    ROOT / "tests/cli/small.yaml",
]


def _distinct_systems() -> list[InstanceSpec]:
    """One instance per distinct declared OS (name, version, platform, virtualization) of the bundled scenarios."""
    seen: dict[tuple[str, ...], InstanceSpec] = {}
    for path in SCENARIOS:
        for spec in load_scenario(path).estate.instances:
            key = (spec.os_name, spec.os_version, spec.platform.value, spec.virtualization_type, spec.architecture)
            seen.setdefault(key, spec)
    return [
        spec.model_copy(update={"name": f"os-{index:02d}", "ssm_managed": False, "private_ip": None, "tags": {}})
        for index, spec in enumerate(seen.values())
    ]


SYSTEMS = _distinct_systems()


def _inventory_without_ssm() -> dict[str, InstanceFacts]:
    estate = Estate(region="eu-west-1", instances=SYSTEMS)
    with mock_aws():
        seeded = seed_estate(estate, None)
        ids = {name: item.instance_id for name, item in seeded.instances.items()}
        emulator = emulator_for_estate(VirtualClock(), estate, ids, seeded=seeded)
        with guest_ssm(emulator):  # moto serves DescribeInstanceInformation from the guest emulator
            runtime = LocalLambdaRuntime(None, seeded.lambda_environment())
            try:
                result: dict[str, Any] = runtime.invoke(
                    "inventory", {"migration_id": "m-images", "instance_ids": list(ids.values())}
                )
            finally:
                runtime.close()
                WIRING.reset()
    by_id = {facts["instance_id"]: InstanceFacts.model_validate(facts) for facts in result["facts"]}
    return {name: by_id[instance_id] for name, instance_id in ids.items()}


@pytest.fixture(scope="module")
def inventoried() -> Iterator[dict[str, InstanceFacts]]:
    yield _inventory_without_ssm()


def _mismatches(inventoried: dict[str, InstanceFacts]) -> list[str]:
    wrong = []
    for spec in SYSTEMS:
        facts = inventoried[spec.name]
        assert not facts.ssm_managed  # the OS below comes from the image alone
        declared = identify_os(spec.os_name, spec.os_version)
        read = identify_os(facts.os_name, facts.os_version)
        if (declared.distro, declared.major, declared.minor) != (read.distro, read.major, read.minor):
            wrong.append(f"{spec.os_name} {spec.os_version} booted as {facts.os_name!r} {facts.os_version!r}")
        elif (
            assess_os_support(spec.os_name, spec.os_version).status
            != assess_os_support(facts.os_name, facts.os_version).status
        ):
            wrong.append(f"{spec.os_name} {spec.os_version}: support status differs when read from the image")
    return wrong


def test_the_bundled_scenarios_declare_several_systems() -> None:
    assert len(SYSTEMS) >= 10
    assert {identify_os(s.os_name, s.os_version).distro.value for s in SYSTEMS} >= {"ubuntu", "rhel", "windows_server"}


def test_every_instance_boots_the_image_of_its_declared_os_and_version(inventoried: dict[str, InstanceFacts]) -> None:
    assert _mismatches(inventoried) == []


def test_the_check_fails_when_instances_boot_the_catalogue_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted defect: without the per-OS image every Ubuntu boots moto's 14.04 image again."""
    monkeypatch.setattr(images_module, "image_identity", lambda _spec: None)
    wrong = _mismatches(_inventory_without_ssm())
    assert any("Ubuntu 22.04 booted as 'Ubuntu' '14.04'" in line for line in wrong), wrong
