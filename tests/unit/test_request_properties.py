"""Property-based checks of the request parser: round-trips, and nothing but validation errors on any input."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InvalidRequestError
from shared.request import MigrationRequest, parse_request
from tests.unit.requests import request

instance_ids = st.from_regex(r"i-[0-9a-f]{17}", fullmatch=True)
names = st.from_regex(r"[a-z][a-z0-9-]{0,12}[a-z0-9]", fullmatch=True)


@st.composite
def valid_requests(draw):
    ids = draw(st.lists(instance_ids, min_size=1, max_size=8, unique=True))
    vms = []
    used_names: set[str] = set()
    for instance_id in ids:
        vm = {"instance_id": instance_id}
        name = draw(names)
        if name not in used_names:
            used_names.add(name)
            vm["target_vm_name"] = name
        if draw(st.booleans()):
            vm["exclude_disks"] = ["/dev/sdf"]
        vms.append(vm)
    data = request(
        vms=vms,
        mode=draw(st.sampled_from(["full", "test_only", "replicate_only"])),
        approval=draw(st.sampled_from(["manual", "auto"])),
        max_parallel=draw(st.integers(1, 200)),
    )
    data["target"]["availability"] = draw(st.sampled_from(["none", "zone:1", "zone:3"]))
    data["target"]["hybrid_benefit"] = draw(st.booleans())
    return data


@given(valid_requests())
def test_valid_requests_round_trip_through_json_and_the_model(data):
    parsed = parse_request(data)
    again = parse_request(parsed.model_dump_json())
    assert again == parsed
    assert MigrationRequest.model_validate(json.loads(parsed.model_dump_json())) == parsed


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), st.dictionaries(st.text(max_size=12), json_values)))
def test_any_input_is_parsed_or_rejected_with_a_validation_error(garbage):
    try:
        parse_request(garbage)
    except InvalidRequestError as error:
        assert error.issues and all(isinstance(issue, str) and issue for issue in error.issues)


@settings(max_examples=150)
@given(st.sampled_from(["request_id", "region", "appliance", "target", "vms"]), json_values)
def test_any_value_in_a_required_field_is_accepted_or_named(field, value):
    data = request()
    data[field] = value
    try:
        parse_request(data)
    except InvalidRequestError as error:
        assert any(issue.startswith(field) for issue in error.issues)
