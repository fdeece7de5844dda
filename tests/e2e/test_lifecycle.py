"""The whole lifecycle, Linux and Windows, under both appliance providers, and the test_only / replicate_only modes.

One seeded stack serves the module; every wave runs its own instances of tests/e2e/scenarios/lifecycle.yaml.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.scenario import OperatorAction
from local.site_recovery import thawed
from local.stack import LocalStack, WaveOutcome
from reporting import WaveReport, write_report
from shared.aws_contracts import MIGRATION_ID_TAG, OUTCOME_TAG
from shared.lifecycle import VmState
from shared.request import vm_instance_id
from tests.site_recovery.sdk_contract import unknown_rcm_keys

from .helpers import (
    LIFECYCLE_OPERATIONS,
    appliance_rules,
    by_name,
    item_operations,
    lambda_results,
    open_stack,
    run_wave,
    source,
    stages,
    times_stopped,
    wave,
)

FULL_STAGES = [
    state.value
    for state in VmState
    if state.value not in {"rejected", "failed", "cancelled", "test_completed", "kept_replicating"}
]
TEST_ONLY_STAGES = [*FULL_STAGES[: FULL_STAGES.index("awaiting_approval")], "completing", "test_completed"]


class Waves:
    """The waves this module ran, with what the tests compare against."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.rules_before = appliance_rules(stack)
        self.outcomes: dict[str, WaveOutcome] = {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-lifecycle")) as opened:
        yield opened


@pytest.fixture(scope="module")
def waves(stack: LocalStack) -> Waves:
    ran = Waves(stack)
    # InMageRcm, manual approval given through the HTTP API once the VMs wait for it.
    ran.outcomes["rcm"] = run_wave(
        stack,
        wave(stack, "e2e-rcm", ["rcm-lin", {"instance": "rcm-win", "os_type": "windows"}], approval="manual"),
        operator=[OperatorAction(at_hours=6, action="approve", by="alice@contoso.example")],
    )
    # Automatic approval (the only provider is InMageRcm: the classic InMageAzureV2 stack is retired).
    ran.outcomes["auto"] = run_wave(
        stack, wave(stack, "e2e-auto", ["v2-lin", {"instance": "v2-win", "os_type": "windows"}])
    )
    ran.outcomes["test"] = run_wave(
        stack,
        wave(stack, "e2e-test-only", ["test-lin", {"instance": "test-win", "os_type": "windows"}], mode="test_only"),
    )
    ran.outcomes["replicate"] = run_wave(stack, wave(stack, "e2e-replicate", ["repl-lin"], mode="replicate_only"))
    return ran


FULL = [
    ("rcm", "rcm-lin", "alice@contoso.example"),
    ("rcm", "rcm-win", "alice@contoso.example"),
    ("auto", "v2-lin", "auto"),
    ("auto", "v2-win", "auto"),
]


@pytest.mark.parametrize(("key", "name", "approver"), FULL)
def test_full_migration_walks_every_stage_in_order_and_completes(
    waves: Waves, key: str, name: str, approver: str
) -> None:
    progress = by_name(waves.outcomes[key])[name]
    assert progress.state is VmState.COMPLETED
    assert progress.error is None
    assert stages(progress) == FULL_STAGES
    assert progress.approved_by == approver
    summary = waves.outcomes[key].summary
    assert summary is not None and summary.counts == {"completed": 2}


@pytest.mark.parametrize(("key", "name", "approver"), FULL)
def test_site_recovery_saw_each_lifecycle_action_once_in_order(
    waves: Waves, key: str, name: str, approver: str
) -> None:
    assert item_operations(waves.stack, waves.stack.seeded.instance_id(name)) == list(LIFECYCLE_OPERATIONS)


@pytest.mark.parametrize(("key", "name", "approver"), FULL)
def test_replication_was_enabled_the_modernized_way(waves: Waves, key: str, name: str, approver: str) -> None:
    """The enable on the wire names the machine Azure Migrate discovered (looked up on its site), the appliance's
    process server, an empty protectable item, and InMageRcm keys only."""
    stack = waves.stack
    instance_id = stack.seeded.instance_id(name)
    enables = [
        r for r in stack.site_recovery.requests if r.operation.value == "enable" and f"/ec2-{instance_id}" in r.path
    ]
    assert len(enables) == 1
    props = enables[0].body["properties"]
    details = props["providerSpecificDetails"]
    fabric = stack.site_recovery.estate.fabrics[0]
    assert props["protectableItemId"] == ""
    assert details["instanceType"] == "InMageRcm"
    site = stack.site_recovery.physical_site_id(fabric)
    assert details["fabricDiscoveryMachineId"].startswith(f"{site}/machines/")
    machine = stack.site_recovery._machine(name)
    assert details["fabricDiscoveryMachineId"] == stack.site_recovery.machine_id(machine)
    assert details["processServerId"] == fabric.process_server.id
    assert fabric.process_server.ip_address == stack.seeded.appliance.private_ip
    assert details["runAsAccountId"].startswith(f"{site}/runasaccounts/")
    assert unknown_rcm_keys(thawed(details)) == []
    lookups = [r for r in stack.site_recovery.requests if r.operation.value == "list_machines"]
    assert lookups and all(r.path == f"{site}/machines" and r.api_version == "2023-06-06" for r in lookups)


@pytest.mark.parametrize(("key", "name", "approver"), FULL)
def test_security_group_rules_were_added_then_removed(waves: Waves, key: str, name: str, approver: str) -> None:
    stack = waves.stack
    instance_id = stack.seeded.instance_id(name)
    prepared = lambda_results(stack, "prepare_network", instance_id)
    created = {rule["rule_id"] for result in prepared for rule in result["created"]}
    assert {rule["port"] for result in prepared for rule in result["created"]} >= {443, 9443}
    reverted = lambda_results(stack, "revert_changes", instance_id)
    assert len(reverted) == 1
    assert set(reverted[0]["rules_removed"]) == created
    remaining = {rule["SecurityGroupRuleId"] for rule in appliance_rules(stack)}
    assert not created & remaining
    assert _without_replicating(stack, appliance_rules(stack)) == waves.rules_before


@pytest.mark.parametrize(("key", "name", "approver"), FULL)
def test_source_was_stopped_once_and_tagged_with_the_outcome(waves: Waves, key: str, name: str, approver: str) -> None:
    stack = waves.stack
    instance_id = stack.seeded.instance_id(name)
    described = source(stack, name)
    assert described["state"] == "stopped"
    assert described["tags"][OUTCOME_TAG] == "migrated"
    assert described["tags"][MIGRATION_ID_TAG] == vm_instance_id(waves.outcomes[key].request_id, instance_id)
    assert times_stopped(stack, instance_id) == 1
    assert lambda_results(stack, "start_source", instance_id) == []


@pytest.mark.parametrize("name", ["rcm-lin", "v2-lin"])
def test_full_migration_says_the_guest_of_the_stopped_source_was_not_reverted(waves: Waves, name: str) -> None:
    progress = by_name(waves.outcomes["rcm" if name.startswith("rcm") else "auto"])[name]
    reverted = lambda_results(waves.stack, "revert_changes", waves.stack.seeded.instance_id(name))
    assert reverted[0]["guest"]["commands"] == []  # SSM cannot reach a stopped source: the Lambda skips it
    assert any("left as prepared" in line for line in progress.rolled_back), progress.rolled_back
    assert not any("restored sshd" in line for line in progress.rolled_back)


@pytest.mark.parametrize("name", ["test-lin", "test-win"])
def test_test_only_ends_test_completed_with_everything_reverted_and_the_source_running(waves: Waves, name: str) -> None:
    stack = waves.stack
    instance_id = stack.seeded.instance_id(name)
    progress = by_name(waves.outcomes["test"])[name]
    assert progress.state is VmState.TEST_COMPLETED
    assert stages(progress) == TEST_ONLY_STAGES
    assert item_operations(stack, instance_id) == ["enable", "test_failover", "test_failover_cleanup", "remove"]
    assert lambda_results(stack, "stop_source", instance_id) == []
    described = source(stack, name)
    assert described["state"] == "running"
    assert described["tags"][OUTCOME_TAG] == "test-completed"
    assert _without_replicating(stack, appliance_rules(stack)) == waves.rules_before
    assert any("restored sshd" in line for line in progress.rolled_back), progress.rolled_back


def test_replicate_only_ends_completed_with_replication_running_and_the_source_untouched(waves: Waves) -> None:
    stack = waves.stack
    instance_id = stack.seeded.instance_id("repl-lin")
    progress = by_name(waves.outcomes["replicate"])["repl-lin"]
    assert progress.state is VmState.COMPLETED
    assert stages(progress)[-3:] == ["initial_replication", "replicating", "completed"]
    assert item_operations(stack, instance_id) == ["enable"]
    item = stack.site_recovery.handle(
        "GET",
        next(r.path for r in stack.site_recovery.requests if r.operation.value == "enable" and instance_id in r.path)
        + "?api-version=2025-08-01",
        {"Authorization": "Bearer e2e"},
        None,
    ).json()
    assert item["properties"]["replicationHealth"] == "Normal"
    assert "Protected" in item["properties"]["protectionState"], item["properties"]["protectionState"]
    assert source(stack, "repl-lin")["state"] == "running"
    assert lambda_results(stack, "stop_source", instance_id) == []
    # Replication keeps running, so the rules it needs (443 and 9443 to the appliance) stay until cut-over.
    kept = [rule for rule in appliance_rules(stack) if rule not in waves.rules_before]
    assert sorted(rule["FromPort"] for rule in kept) == [443, 9443]
    assert {rule["Tags"][0]["Value"] for rule in kept} >= {vm_instance_id("e2e-replicate", instance_id)}


def _without_replicating(stack: LocalStack, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules but those of the replicate_only VM, which keeps replicating (and needs them) after its wave."""
    replicating = vm_instance_id("e2e-replicate", stack.seeded.instance_id("repl-lin"))
    return [rule for rule in rules if {"Key": MIGRATION_ID_TAG, "Value": replicating} not in rule.get("Tags", [])]


def _secret_values(stack: LocalStack) -> list[str]:
    values = [stack.seeded.agent_config.get_secret_value()]
    try:
        config = json.loads(values[0])
    except ValueError:
        config = {}
    values += [str(v) for v in config.values() if isinstance(v, str) and len(v) >= 12]
    assert all(len(value) >= 8 for value in values)
    return values


def test_no_secret_value_appears_anywhere(waves: Waves, tmp_path: Path) -> None:
    stack = waves.stack
    secrets = _secret_values(stack)
    texts: dict[str, str] = {}
    for status in stack.host.instances():
        full = stack.host.status(status.instance_id, show_history=True)
        assert full is not None
        texts[f"orchestration {status.instance_id}"] = json.dumps(
            [full.input, full.output, full.custom_status, full.history]
        )
    texts["events.jsonl"] = (stack.state_dir / "events.jsonl").read_text(encoding="utf-8")
    texts["lambdas.log"] = (stack.state_dir / "lambdas.log").read_text(encoding="utf-8")
    texts["lambda events"] = json.dumps([call.event for call in stack.invoker.history])
    texts["SSM parameters"] = json.dumps([dispatch.parameters for dispatch in stack.guests.history])
    texts["Site Recovery requests"] = json.dumps([thawed(request.body) for request in stack.site_recovery.requests])
    events = list(stack.events.read())
    for outcome in waves.outcomes.values():
        assert outcome.summary is not None
        report = WaveReport.from_run(outcome.summary, outcome.progress, events, environment="local", clock="virtual")
        for path in write_report(report, tmp_path):
            texts[f"report {path.name}"] = path.read_text(encoding="utf-8")
    assert len(texts["lambdas.log"]) > 1000 and texts["SSM parameters"].count("MigrationId") > 5
    leaks = [(where, secret[:3] + "…") for where, text in texts.items() for secret in secrets if secret in text]
    assert leaks == []
