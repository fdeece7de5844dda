"""Helpers of the reliability suite: scenarios, one wave run per module, EC2 views through boto3 on moto."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.aws.seed import aws_client
from local.scenario import Scenario, load_scenario
from local.stack import LocalStack, WaveOutcome
from shared.aws_contracts import MIGRATION_ID_TAG
from shared.lifecycle import VmState
from shared.pipeline import VmResult

SCENARIOS = Path(__file__).parent / "scenarios"

TARGET = {
    "subscription_id": "00000000-0000-0000-0000-000000000001",
    "resource_group": "rg-migrated",
    "region": "westeurope",
    "vault": {"name": "mig-vault", "resource_group": "rg-migration"},
    "virtual_network_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-network/providers/"
    "Microsoft.Network/virtualNetworks/vnet-prod",
    "subnet": "apps",
    "test_virtual_network_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-network/"
    "providers/Microsoft.Network/virtualNetworks/vnet-test",
    "test_subnet": "test",
    "cache_storage_account_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-migration/"
    "providers/Microsoft.Storage/storageAccounts/migcache01",
}

FAST_TIMINGS = {
    "command_first_poll": 60,
    "registration_first_poll": 120,
    "job_first_poll": 120,
}


def scenario_file(name: str) -> Scenario:
    return load_scenario(SCENARIOS / name)


def small_scenario(
    name: str,
    count: int,
    *,
    approval: str = "auto",
    behaviour: dict[str, Any] | None = None,
    operator: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
    max_parallel: int = 50,
) -> Scenario:
    """A wave of ``count`` Ubuntu instances named vm-000.. with the given behaviour, on quick timings."""
    names = [f"vm-{index:03d}" for index in range(count)]
    return Scenario.model_validate(
        {
            "name": name,
            "estate": {"region": "eu-west-1", "instances": [{"name": n} for n in names]},
            "site_recovery": {"initial_replication_seconds": 3600, "discovery_seconds": 120},
            "timings": FAST_TIMINGS,
            "request": {
                "request_id": request_id or name,
                "mode": "full",
                "approval": approval,
                "max_parallel": max_parallel,
                "appliance": {"provider": "InMageRcm"},
                "target": TARGET,
                "vms": [{"instance": n} for n in names],
            },
            "behaviour": behaviour or {},
            "operator": operator or [],
            "max_virtual_hours": 96,
        }
    )


@dataclass
class WaveRun:
    """A finished (or stopped) wave on an open stack, with views by estate name."""

    stack: LocalStack
    outcome: WaveOutcome
    rules_before: list[dict[str, Any]]
    rules_seen: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def results(self) -> dict[str, VmResult]:
        assert self.outcome.summary is not None, f"wave ended {self.outcome.runtime_status}"
        return {self.stack.names[vm.instance_id]: vm for vm in self.outcome.summary.vms}

    def ec2(self) -> Any:
        return aws_client("ec2", self.stack.scenario.estate.region, self.stack.seeded.endpoint_url)

    def instance_state(self, name: str) -> str:
        found = self.ec2().describe_instances(InstanceIds=[self.stack.seeded.instance_id(name)])
        return str(found["Reservations"][0]["Instances"][0]["State"]["Name"])

    def appliance_rules(self) -> list[dict[str, Any]]:
        return appliance_rules(self.stack)

    def rules_of(self, name: str) -> list[dict[str, Any]]:
        """The appliance group's rules tagged with the orchestration of the VM ``name``."""
        orchestration = self.results[name].orchestration_id
        return [
            rule
            for rule in self.appliance_rules()
            if any(t["Key"] == MIGRATION_ID_TAG and t["Value"] == orchestration for t in rule.get("Tags") or [])
        ]

    def kept_for_replication(self) -> list[dict[str, Any]]:
        """The rules VMs that kept replicating leave on purpose: their 443/9443 to the appliance, which the Mobility
        agent replicates through (a later request adopts them with the replication)."""
        kept = [name for name, result in self.results.items() if result.state is VmState.KEPT_REPLICATING]
        return [rule for name in kept for rule in self.rules_of(name)]


def appliance_rules(stack: LocalStack) -> list[dict[str, Any]]:
    """Every rule of the appliance's security group, as EC2 describes it."""
    ec2 = aws_client("ec2", stack.scenario.estate.region, stack.seeded.endpoint_url)
    group = stack.seeded.appliance.security_group_id
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return list(rules["SecurityGroupRules"])


def all_rules(stack: LocalStack) -> list[dict[str, Any]]:
    ec2 = aws_client("ec2", stack.scenario.estate.region, stack.seeded.endpoint_url)
    return list(ec2.describe_security_group_rules()["SecurityGroupRules"])


def rule_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    """What a rule allows, independent of its id."""
    return (
        rule["GroupId"],
        rule["IsEgress"],
        rule.get("IpProtocol"),
        rule.get("FromPort"),
        rule.get("ToPort"),
        rule.get("CidrIpv4"),
        rule.get("CidrIpv6"),
        (rule.get("ReferencedGroupInfo") or {}).get("GroupId"),
    )


@contextmanager
def wave(
    scenario: Scenario,
    state_dir: Path,
    *,
    on_open: Callable[[LocalStack], None] | None = None,
    listener: Callable[[LocalStack, Any], None] | None = None,
    watch_rules: bool = False,
) -> Iterator[WaveRun]:
    """Open a stack for ``scenario``, run its wave to the end and yield it (still open) for inspection.

    ``watch_rules`` records every security group rule that exists when a VM starts installing its agent (its
    rules are in place then) or fails, so rules that came and went during the run can be checked too.
    """
    with LocalStack.open(scenario, state_dir) as stack:
        if on_open is not None:
            on_open(stack)
        before = all_rules(stack)
        seen: dict[str, dict[str, Any]] = {}

        def on_change(change: Any) -> None:
            if listener is not None:
                listener(stack, change)
            custom = change.custom_status if isinstance(change.custom_status, dict) else {}
            previous = change.previous_custom_status if isinstance(change.previous_custom_status, dict) else {}
            entered = custom.get("state") != previous.get("state")
            # Rules exist from preparing_guest until completing; look once per VM there and at rollbacks.
            if watch_rules and entered and custom.get("state") in {"installing_agent", "failed", "cancelled"}:
                for rule in all_rules(stack):
                    seen.setdefault(rule["SecurityGroupRuleId"], rule)

        stack.submit()
        outcome = stack.run(on_progress=on_change if (listener or watch_rules) else None)
        yield WaveRun(stack, outcome, before, seen)
