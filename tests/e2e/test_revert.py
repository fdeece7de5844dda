"""Reverting leaves the appliance's security group and the guest's sshd and cloud-init exactly as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.aws.guest import prepare_scratch_root
from local.stack import LocalStack
from shared.lifecycle import VmState

from .helpers import appliance_rules, by_name, lambda_results, open_stack, run_wave, source, wave


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-revert"), run_linux_scripts=True) as opened:
        yield opened


def _guest(stack: LocalStack, name: str) -> Path:
    instance_id = stack.seeded.instance_id(name)
    behaviour = stack.guests.behaviour(instance_id)
    assert behaviour is not None and behaviour.run_linux_scripts
    root = stack.guests.guest_root(instance_id)
    prepare_scratch_root(root, behaviour)  # the guest as it is before the migration touches it
    return root


def test_test_only_run_restores_sshd_cloud_init_and_the_security_group(stack: LocalStack) -> None:
    root = _guest(stack, "test-lin")
    sshd_before = (root / "etc/ssh/sshd_config").read_bytes()
    rules_before = appliance_rules(stack)
    outcome = run_wave(
        stack, wave(stack, "e2e-revert-test", ["test-lin"], mode="test_only", appliance={"discovery_ip": "10.0.1.5"})
    )
    progress = by_name(outcome)["test-lin"]
    assert progress.state is VmState.TEST_COMPLETED, (progress.error, progress.rolled_back)
    prepared = lambda_results(stack, "prepare_network", stack.seeded.instance_id("test-lin"))
    assert {rule["port"] for result in prepared for rule in result["created"]} == {443, 9443, 22}
    assert (root / "etc/ssh/sshd_config").read_bytes() == sshd_before
    assert not (root / "etc/cloud/cloud-init.disabled").exists()
    assert (root / "etc/cloud").is_dir()
    assert appliance_rules(stack) == rules_before
    assert "restored sshd / WinRM and cloud-init on the guest" in progress.rolled_back


def test_full_migration_closes_discovery_access_before_cutover_and_says_what_stays(stack: LocalStack) -> None:
    root = _guest(stack, "rcm-lin")
    sshd_before = (root / "etc/ssh/sshd_config").read_bytes()
    rules_before = appliance_rules(stack)
    outcome = run_wave(stack, wave(stack, "e2e-revert-full", ["rcm-lin"], appliance={"discovery_ip": "10.0.1.5"}))
    progress = by_name(outcome)["rcm-lin"]
    assert progress.state is VmState.COMPLETED, (progress.error, progress.rolled_back)
    assert source(stack, "rcm-lin")["state"] == "stopped"
    # sshd is restored while the guest still runs, before the final sync, so the Azure VM does not inherit the
    # discovery access; cloud-init stays disabled (the tutorial wants it off in Azure), and the record says so.
    assert (root / "etc/ssh/sshd_config").read_bytes() == sshd_before
    assert (root / "etc/cloud/cloud-init.disabled").exists()
    assert any("sshd / WinRM restored before cutover" in line for line in progress.rolled_back), progress.rolled_back
    assert appliance_rules(stack) == rules_before
