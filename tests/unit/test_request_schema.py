"""Schema = validator: the JSON Schema (`python -m cli schema`) and :func:`parse_request` agree on every bundled
request (the scenarios' requests as the local stack submits them, the unit tests' valid request) and on a
bad-request corpus (the reliability suite's cases, cross-field cases, and Hypothesis mutations of a valid request).

The only allowed disagreement is the three checks JSON Schema cannot write (the schema's description names them):
the model refuses, the schema accepts, and every issue is one of those."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from local.scenario import resolve_request
from shared.errors import InvalidRequestError
from shared.request import parse_request
from shared.request_schema import request_json_schema
from tests.reliability.test_bad_input import BAD_MESSAGES, HOSTILE, mutated_requests
from tests.unit.requests import VALID, arm, request

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted([*ROOT.glob("local/scenarios/*.yaml"), *ROOT.glob("tests/**/*.yaml")])
VALIDATOR = Draft202012Validator(request_json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
#: The validator's cross-item checks (shared/request.py MigrationRequest._consistent) that JSON Schema cannot say.
CROSS_ITEM = ("is listed twice", "is the replication appliance itself", "is already used by")


def _model_accepts(data: Any) -> tuple[bool, tuple[str, ...]]:
    try:
        parse_request(data)
    except InvalidRequestError as error:
        return False, error.issues or (error.message,)
    return True, ()


def _agree(data: Any) -> None:
    model, issues = _model_accepts(data)
    schema = VALIDATOR.is_valid(data)
    if not model and schema and issues and all(any(m in issue for m in CROSS_ITEM) for issue in issues):
        return
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in VALIDATOR.iter_errors(data)][:5]
    assert model == schema, f"model {'accepts' if model else 'refuses'} ({issues[:3]}), schema errors {errors}"


def _estate_ids(scenario: dict[str, Any]) -> dict[str, str]:
    """Stand-in EC2 ids for the estate's names (the seeded ids have the same shape: i- and 17 hex digits)."""
    names = [item["name"] for item in scenario.get("estate", {}).get("instances", [])]
    return {name: "i-" + hashlib.sha256(name.encode()).hexdigest()[:17] for name in names}


def _scenario_requests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in SCENARIOS:
        scenario = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(scenario, dict) or not isinstance(scenario.get("request"), dict):
            continue
        appliance = {"instance_id": "i-0a0000000000000aa", "private_ip": "10.0.1.4", "security_group_id": "sg-0aa00001"}
        resolved = resolve_request(scenario["request"], scenario["estate"]["region"], _estate_ids(scenario), appliance)
        found.append((str(path.relative_to(ROOT)), resolved))
    return found


BUNDLED = [*_scenario_requests(), ("tests/unit/requests.py VALID", VALID)]


def test_the_corpus_holds_the_demo_request() -> None:
    assert "local/scenarios/demo.yaml" in {name for name, _ in BUNDLED}
    assert len(BUNDLED) >= 4


@pytest.mark.parametrize(("name", "data"), BUNDLED, ids=[name for name, _ in BUNDLED])
def test_every_bundled_request_is_accepted_by_both(name: str, data: dict[str, Any]) -> None:
    assert _model_accepts(data)[0], name
    assert VALIDATOR.is_valid(data), [e.message[:200] for e in VALIDATOR.iter_errors(data)][:5]


def _set(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(base or VALID)
    parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = data
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value
    return data


def _without(path: str) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part) if part.isdigit() else part]
    del target[last]
    return data


DES = arm("Microsoft.Compute/diskEncryptionSets", "des-1")
AVSET = arm("Microsoft.Compute/availabilitySets", "avset-1")
CORPUS: dict[str, dict[str, Any]] = {
    # the reliability suite's wrong types and unknown fields
    "request_id int": _set("request_id", 12345),
    "max_parallel text": _set("max_parallel", "ten"),
    "max_parallel numeric text": _set("max_parallel", "10"),
    "max_parallel too big": _set("max_parallel", 10_000),
    "timeout negative": _set("approval_timeout_hours", -1),
    "timeout as text": _set("approval_timeout_hours", "48"),
    "vms object": _set("vms", {"instance_id": "i-0b000000000000001"}),
    "vms empty": _set("vms", []),
    "instance id list": _set("vms.0.instance_id", ["i-0b000000000000001"]),
    "exclude_disks text": _set("vms.0.exclude_disks", "/dev/sdf"),
    "hybrid maybe": _set("target.hybrid_benefit", "maybe"),
    "hybrid yes": _set("target.hybrid_benefit", "yes"),
    "target text": _set("target", "westeurope"),
    "bad ip": _set("appliance.private_ip", "10.0.1.300"),
    "tags list": _set("tags", ["a", "b"]),
    "mode yolo": _set("mode", "yolo"),
    "unknown top": request(priority="x"),
    "unknown target": _set("target.password", "x"),
    "unknown vm": _set("vms.0.user_data", "x"),
    # the model's own checks
    "zone and set": _set("target.availability", {"zone": 1, "set_id": AVSET}),
    "zone text": _set("target.availability", "zone:2"),
    "zone 4": _set("target.availability", "zone:4"),
    "set text": _set("target.availability", f"set:{AVSET}"),
    "availability junk": _set("target.availability", "rack:1"),
    "encryption customer": _set("target.disk_encryption", f"customer:{DES}"),
    "encryption customer without set": _set("target.disk_encryption", "customer"),
    "encryption platform with set": _set("target.disk_encryption", {"type": "platform", "disk_encryption_set_id": DES}),
    "encryption double object": _set("target.disk_encryption", {"type": "double", "disk_encryption_set_id": DES}),
    "encryption double object without set": _set("target.disk_encryption", {"type": "double"}),
    "windows name too long": _set("vms.1.target_vm_name", "APP-0123456789012"),
    "windows name digits": _set("vms.1.target_vm_name", "12345"),
    "linux name long ok": _set("vms.0.target_vm_name", "web-" + "a" * 40),
    "linux name trailing dash": _set("vms.0.target_vm_name", "web-"),
    "no test network": _without("target.test_virtual_network_id"),
    "no test network replicate_only": _set("mode", "replicate_only", _without("target.test_virtual_network_id")),
    "test network per vm": _set(
        "vms",
        [
            {"instance_id": "i-0b000000000000001", "target": {"test_subnet": "t1"}},
            {"instance_id": "i-0b000000000000002", "target": {"test_subnet": "t2"}},
        ],
        _without("target.test_subnet"),
    ),
    "test network on one vm only": _set(
        "vms",
        [
            {"instance_id": "i-0b000000000000001", "target": {"test_subnet": "t1"}},
            {"instance_id": "i-0b000000000000002"},
        ],
        _without("target.test_subnet"),
    ),
    "disk type map bad device": _set("vms.0.disk_types", {"C:": "Premium_LRS"}),
    "tag name with slash": _set("tags", {"a/b": "v"}),
    "region with spaces kept": _set("region", "  eu-west-1 "),
    **{f"hostile request id {i}": _set("request_id", h) for i, h in enumerate(HOSTILE)},
    **{f"hostile subnet {i}": _set("target.subnet", h) for i, h in enumerate(HOSTILE)},
    **{f"hostile tag {i}": _set("tags", {h: "v"}) for i, h in enumerate(HOSTILE)},
}


def _json_objects(messages: dict[str, bytes]) -> dict[str, Any]:
    """The reliability suite's bad queue messages that are JSON objects (the rest never reach either check)."""
    found = {}
    for name, raw in messages.items():
        try:
            body = json.loads(raw)
        except ValueError:
            continue
        if isinstance(body, dict) and len(raw) < 1_000_000:
            found[f"queue message {name}"] = body
    return found


CORPUS.update(_json_objects(BAD_MESSAGES))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_schema_and_validator_agree_on_the_corpus(name: str) -> None:
    _agree(CORPUS[name])


def test_the_corpus_has_requests_both_refuse_and_both_accept() -> None:
    verdicts = {name: _model_accepts(data)[0] for name, data in CORPUS.items()}
    assert sum(verdicts.values()) >= 5
    assert len(verdicts) - sum(verdicts.values()) >= 40


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_requests())
def test_schema_and_validator_agree_on_mutated_requests(data: Any) -> None:
    if isinstance(data, dict):
        _agree(data)


SELECT_FILES: dict[str, dict[str, Any]] = {
    "select by tag": {"select": {"filters": {"tag:Wave": "1"}}},
    "select with region and a list": {"select": {"region": "eu-west-1", "filters": {"tag:Wave": ["1", "2"]}}},
    "select by instance type": {"select": {"filters": {"instance-type": "t3.micro"}}},
    "select and vms": {"select": {"filters": {"tag:Wave": "1"}}, "vms": VALID["vms"]},
    "select with empty vms": {"select": {"filters": {"tag:Wave": "1"}}, "vms": []},
    "select without filters": {"select": {"region": "eu-west-1"}},
    "select empty filters": {"select": {"filters": {}}},
    "select unknown filter": {"select": {"filters": {"image-id": "ami-1"}}},
    "select bare tag": {"select": {"filters": {"tag:": "1"}}},
    "select boolean value": {"select": {"filters": {"tag:Wave": True}}},
    "select empty list": {"select": {"filters": {"tag:Wave": []}}},
    "select unknown key": {"select": {"filters": {"tag:Wave": "1"}, "owner": "me"}},
    "select not a mapping": {"select": "tag:Wave=1"},
}


@pytest.fixture(scope="module")
def ec2() -> Iterator[Any]:
    """moto's EC2 with two t3.micro instances tagged Wave=1."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("ec2", region_name="eu-west-1")
        image = client.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
        client.run_instances(
            ImageId=image,
            MinCount=2,
            MaxCount=2,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Wave", "Value": "1"}]}],
        )
        yield client


@pytest.mark.parametrize("name", sorted(SELECT_FILES))
def test_schema_and_the_submit_path_agree_on_select(name: str, ec2: Any) -> None:
    """A `select:` request file checked as `cli submit` checks it: resolved against EC2 (moto), then parsed."""
    from discovery.select import resolve_selection

    data = {k: v for k, v in copy.deepcopy(VALID).items() if k != "vms"} | copy.deepcopy(SELECT_FILES[name])
    try:
        model = _model_accepts(resolve_selection(data, ec2))[0]
    except InvalidRequestError:
        model = False
    assert model == VALIDATOR.is_valid(data), [e.message[:200] for e in VALIDATOR.iter_errors(data)][:3]
