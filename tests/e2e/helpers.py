"""What the end-to-end tests share: opening a seeded stack, building and running waves, reading the clouds."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.aws.seed import aws_client
from local.scenario import OperatorAction, Scenario, load_scenario
from local.site_recovery.estate import Operation
from local.stack import LocalStack, WaveOutcome
from shared.lifecycle import VmProgress

SCENARIOS = Path(__file__).parent / "scenarios"
#: The Site Recovery operations a completed migration performs on its protected item, in order.
LIFECYCLE_OPERATIONS = ("enable", "test_failover", "test_failover_cleanup", "failover", "commit", "remove")
#: The vault-level list calls of the replication-health sweep and the replication watch (protected items, jobs): one
#: per page for the whole vault, not per VM.
SWEEP_OPERATIONS = {Operation.LIST_VAULT_ITEMS, Operation.LIST_ITEMS, Operation.LIST_JOBS}


def scenario(name: str = "lifecycle") -> Scenario:
    return load_scenario(SCENARIOS / f"{name}.yaml")


@contextmanager
def open_stack(directory: Path, the_scenario: Scenario | None = None, **options: Any) -> Iterator[LocalStack]:
    with LocalStack.open(the_scenario or scenario(), directory, **options) as stack:
        yield stack


def wave(stack: LocalStack, request_id: str, vms: list[str | dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """The scenario's request template for ``vms`` (estate names, or dicts with ``instance``) with ``fields``."""
    request = copy.deepcopy(stack.scenario.request)
    request["request_id"] = request_id
    request["vms"] = [{"instance": vm} if isinstance(vm, str) else vm for vm in vms]
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(request.get(key), dict):
            request[key] = {**request[key], **value}
        else:
            request[key] = value
    return request


def run_wave(stack: LocalStack, request: dict[str, Any], operator: list[OperatorAction] | None = None) -> WaveOutcome:
    """Submit ``request`` and run it to its end on the virtual clock."""
    stack.use_request(request)
    stack.submit()
    outcome = stack.run(operator=operator or [])
    assert outcome.runtime_status == "Completed", outcome
    return outcome


def by_name(outcome: WaveOutcome) -> dict[str, VmProgress]:
    return {progress.name: progress for progress in outcome.progress}


def stages(progress: VmProgress) -> list[str]:
    return [stage.state.value for stage in progress.stages]


def item_operations(stack: LocalStack, instance_id: str) -> list[str]:
    """The actions Site Recovery saw on this VM's protected item, in order (reads excluded)."""
    actions = {Operation(name) for name in LIFECYCLE_OPERATIONS}
    return [
        request.operation.value
        for request in stack.site_recovery.requests
        if request.operation in actions and f"/ec2-{instance_id}" in request.path and request.status < 300
    ]


def ec2(stack: LocalStack) -> Any:
    return aws_client("ec2", stack.seeded.region, stack.seeded.endpoint_url)


def appliance_rules(stack: LocalStack) -> list[dict[str, Any]]:
    """Every rule of the appliance's security group, as EC2 describes it (sorted, comparable)."""
    group = stack.seeded.appliance.security_group_id
    rules = ec2(stack).describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return sorted(rules["SecurityGroupRules"], key=lambda rule: str(sorted(rule.items())))


def source(stack: LocalStack, name: str) -> dict[str, Any]:
    """State and tags of an estate instance."""
    found = ec2(stack).describe_instances(InstanceIds=[stack.seeded.instance_id(name)])
    instance = found["Reservations"][0]["Instances"][0]
    return {"state": instance["State"]["Name"], "tags": {t["Key"]: t["Value"] for t in instance.get("Tags", [])}}


def lambda_results(stack: LocalStack, function: str, instance_id: str) -> list[dict[str, Any]]:
    return [
        call.result
        for call in stack.invoker.history
        if call.function == function and call.result is not None and instance_id in call.event.get("instance_ids", [])
    ]


def times_stopped(stack: LocalStack, instance_id: str) -> int:
    """How many stop_source calls found this instance running (so really stopped it)."""
    return sum(
        1
        for result in lambda_results(stack, "stop_source", instance_id)
        for change in result["instances"]
        if change["instance_id"] == instance_id and change["previous_state"] in {"running", "pending"}
    )


def operations_between(stack: LocalStack, first: int, last: int | None = None) -> Counter[str]:
    return Counter(request.operation.value for request in stack.site_recovery.requests[first:last])
