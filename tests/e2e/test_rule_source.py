"""Large waves: the appliance's rules can name the sources' security groups instead of one /32 per VM
(sources sharing a group then share one pair of rules)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.stack import LocalStack
from shared.lifecycle import VmState

from .helpers import appliance_rules, by_name, lambda_results, open_stack, run_wave, wave


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-rule-source")) as opened:
        yield opened


def test_security_group_sources_scope_rules_to_each_source_group(stack: LocalStack) -> None:
    names = ["rcm-lin", "v2-lin"]
    before = appliance_rules(stack)
    request = wave(stack, "e2e-rule-source", names, mode="test_only", appliance={"rule_source": "security_group"})
    outcome = run_wave(stack, request)
    results = by_name(outcome)
    assert {name: results[name].state for name in names} == dict.fromkeys(names, VmState.TEST_COMPLETED)
    for name in names:
        group = stack.seeded.instances[name].security_group_id
        answers = lambda_results(stack, "prepare_network", stack.seeded.instance_id(name))
        rules = [rule for answer in answers for rule in answer["created"] + answer["pre_existing"]]
        assert {(rule["source_group_id"], rule["cidr"], rule["port"]) for rule in rules} == {
            (group, "", 443),
            (group, "", 9443),
        }, name
    assert appliance_rules(stack) == before
