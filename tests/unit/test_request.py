import json

import pytest
import yaml

from shared.errors import InvalidRequestError
from shared.licensing import LinuxLicense, SqlServerLicense
from shared.request import (
    ApprovalMode,
    DiskType,
    EncryptionType,
    Mode,
    Provider,
    parse_request,
    vm_instance_id,
    wave_instance_id,
)
from shared.request_schema import request_json_schema
from tests.unit.requests import VALID, arm, request


def issues_of(data) -> tuple[str, ...]:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(data)
    return caught.value.issues


def test_valid_request_gets_the_documented_defaults():
    parsed = parse_request(VALID)
    assert parsed.mode is Mode.FULL
    assert parsed.approval is ApprovalMode.MANUAL
    assert parsed.max_parallel == 10
    assert parsed.appliance.provider is Provider.INMAGE_RCM
    assert parsed.target.disk_type is DiskType.PREMIUM_LRS
    assert parsed.target.disk_encryption.type is EncryptionType.PLATFORM
    assert parsed.target.availability.zone is None and parsed.target.availability.set_id is None


def test_json_and_yaml_text_parse_to_the_same_request():
    assert parse_request(json.dumps(VALID)) == parse_request(yaml.safe_dump(VALID)) == parse_request(VALID)
    assert parse_request(json.dumps(VALID).encode()) == parse_request(VALID)


def test_instance_ids_are_deterministic():
    parsed = parse_request(VALID)
    assert parsed.wave_instance_id == wave_instance_id("wave-1") == "wave-wave-1"
    assert parsed.vm_instance_id(parsed.vms[0]) == vm_instance_id("wave-1", "i-0b000000000000001")


def test_bad_instance_id_names_the_path_and_the_expectation():
    data = request()
    data["vms"][1]["instance_id"] = "i-123"
    assert issues_of(data) == ("vms[1].instance_id: expected an EC2 instance id like i-0123456789abcdef0, got 'i-123'",)


def test_unknown_fields_are_rejected_at_every_level():
    data = request(colour="blue")
    data["target"]["vault"]["sku"] = "x"
    data["vms"][0]["speed"] = 3
    issues = issues_of(data)
    assert "colour: unknown field (not part of the migration request)" in issues
    assert "target.vault.sku: unknown field (not part of the migration request)" in issues
    assert "vms[0].speed: unknown field (not part of the migration request)" in issues


def test_missing_required_fields_are_named():
    data = request()
    del data["appliance"]["security_group_id"]
    del data["target"]
    assert set(issues_of(data)) == {
        "appliance.security_group_id: required field is missing",
        "target: required field is missing",
    }


def test_duplicate_instance_ids_are_rejected():
    data = request()
    data["vms"].append({"instance_id": "i-0b000000000000001"})
    assert issues_of(data) == ("vms[2].instance_id: i-0b000000000000001 is listed twice (first at vms[0])",)


def test_the_appliance_cannot_be_migrated_by_its_own_wave():
    data = request()
    data["vms"][0]["instance_id"] = VALID["appliance"]["instance_id"]
    assert issues_of(data) == ("vms[0].instance_id: i-0a000000000000001 is the replication appliance itself",)


def test_duplicate_target_names_are_rejected_case_insensitively():
    data = request()
    data["vms"][1]["target_vm_name"] = "WEB-01"
    data["vms"][1]["os_type"] = "linux"
    assert issues_of(data) == ("vms[1].target_vm_name: 'WEB-01' is already used by vms[0]",)


@pytest.mark.parametrize(
    ("os_type", "name"),
    [
        ("windows", "a-very-long-windows-name"),  # 24 > 15
        ("windows", "12345"),  # all digits
        ("windows", "app_01"),  # underscore not allowed on Windows
        ("windows", "app-"),
        ("linux", "x" * 65),
        ("linux", "web 01"),
        ("linux", "web-"),
        ("linux", "-web"),
        (None, "web$01"),
    ],
)
def test_invalid_azure_vm_names_are_rejected(os_type, name):
    data = request()
    data["vms"][0]["target_vm_name"] = name
    if os_type:
        data["vms"][0]["os_type"] = os_type
    (issue,) = issues_of(data)
    assert issue.startswith("vms[0].target_vm_name: expected a ")
    assert repr(name[:80]) in issue


@pytest.mark.parametrize(("os_type", "name"), [("windows", "SQL-01"), ("windows", "a" * 15), ("linux", "db_01.prod")])
def test_valid_azure_vm_names_pass(os_type, name):
    data = request()
    data["vms"][0].update(target_vm_name=name, os_type=os_type)
    assert parse_request(data).vms[0].target_vm_name == name


def test_zone_and_set_exclude_each_other():
    data = request()
    data["target"]["availability"] = {"zone": 1, "set_id": arm("Microsoft.Compute/availabilitySets", "as1")}
    assert issues_of(data) == (
        "target.availability: an availability zone and an availability set exclude each other: give one",
    )


def test_availability_text_forms():
    data = request()
    data["target"]["availability"] = "zone:2"
    data["vms"][0]["target"] = {"availability": "set:" + arm("Microsoft.Compute/availabilitySets", "as1")}
    parsed = parse_request(data)
    assert parsed.target.availability.zone == 2
    first = parsed.target_for(parsed.vms[0])
    assert first.availability.set_id.endswith("/availabilitySets/as1") and first.availability.zone is None
    assert parsed.target_for(parsed.vms[1]).availability.zone == 2
    data["target"]["availability"] = "zone:9"
    assert issues_of(data)[0].startswith("target.availability.zone: Input should be less than or equal to 3")


@pytest.mark.parametrize("kind", ["customer", "double"])
def test_customer_and_double_encryption_need_a_disk_encryption_set(kind):
    data = request()
    data["target"]["disk_encryption"] = kind
    assert issues_of(data) == (
        f"target.disk_encryption: {kind} encryption needs a disk encryption set id ('{kind}:<id>')",
    )
    des = arm("Microsoft.Compute/diskEncryptionSets", "des1")
    data["target"]["disk_encryption"] = f"{kind}:{des}"
    assert parse_request(data).target.disk_encryption.disk_encryption_set_id == des


def test_a_test_network_is_required_unless_replicate_only():
    data = request()
    del data["target"]["test_virtual_network_id"]
    (issue,) = issues_of(data)
    assert issue.startswith("target.test_virtual_network_id: a test network and test subnet are required")
    assert "vms[0] and 1 more" in issue
    data["mode"] = "replicate_only"
    assert parse_request(data).mode is Mode.REPLICATE_ONLY
    data["mode"] = "full"
    for vm in data["vms"]:
        vm["target"] = {"test_virtual_network_id": VALID["target"]["test_virtual_network_id"]}
    assert parse_request(data).target_for(parse_request(data).vms[0]).test_subnet == "test"


def test_excluded_disk_cannot_also_get_a_disk_type():
    data = request()
    data["vms"][0].update(exclude_disks=["/dev/sdf"], disk_types={"/dev/sdf": "Premium_LRS"})
    assert issues_of(data) == ("vms[0].exclude_disks: disks both excluded and given a disk type: /dev/sdf",)


def test_every_problem_is_reported_at_once():
    data = request(max_parallel=0, mode="sometimes")
    data["appliance"]["private_ip"] = "10.0.0.300"
    data["vms"][0]["vm_size"] = "huge"
    issues = issues_of(data)
    paths = [issue.split(":", 1)[0] for issue in issues]
    assert paths == ["mode", "max_parallel", "appliance.private_ip", "vms[0].vm_size"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("[1, 2]", "expected a JSON object at the top level, got list"),
        ("just words", "expected a JSON object at the top level, got str"),
        ("a: [", "not valid YAML"),
        (b"\xff\xfe", "request is not UTF-8 text"),
    ],
)
def test_unreadable_input_gets_a_clear_error(text, expected):
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(text)
    assert str(caught.value.message).startswith(expected)


def test_vm_count_is_bounded():
    data = request()
    data["vms"] = [{"instance_id": f"i-{n:017x}"} for n in range(1001)]
    assert issues_of(data) == ("vms: List should have at most 1000 items after validation, not 1001",)
    assert issues_of(request(vms=[])) == ("vms: List should have at least 1 item after validation, not 0",)


def test_json_schema_describes_the_request():
    schema = request_json_schema()
    assert schema["title"] == "EC2 to Azure migration request"
    assert set(schema["required"]) == {"request_id", "region", "appliance", "target"}
    assert schema["oneOf"] == [{"required": ["vms"]}, {"required": ["select"]}]  # a request file lists or selects
    assert schema["additionalProperties"] is False
    json.dumps(schema)


# --- one provider: the classic stack is retired -----------------------------------------------------------------

RETIREMENT = "InMageAzureV2 (classic) was retired by Microsoft on 30 September 2026; use InMageRcm"


@pytest.mark.parametrize("named", ["InMageAzureV2", "inmageazurev2", " InMageAzureV2 "])
def test_the_retired_classic_provider_is_refused_with_its_retirement(named):
    data = request()
    data["appliance"]["provider"] = named
    assert issues_of(data) == (f"appliance.provider: {RETIREMENT}",)


def test_an_unknown_provider_is_refused_naming_the_only_one():
    data = request()
    data["appliance"]["provider"] = "HyperVReplicaAzure"
    (issue,) = issues_of(data)
    assert issue.startswith("appliance.provider: Input should be 'InMageRcm'")


def test_there_is_one_provider_enum_with_one_member():
    import shared.aws_contracts
    import shared.provider
    import shared.request

    assert [p.value for p in Provider] == ["InMageRcm"]
    assert shared.request.Provider is shared.provider.Provider is shared.aws_contracts.Provider
    schema = request_json_schema()
    assert schema["$defs"]["Provider"]["enum"] == ["InMageRcm"]


# --- licences per OS -----------------------------------------------------------------------------------------------


def test_licences_default_to_not_specified_and_parse_per_vm():
    parsed = parse_request(VALID)
    assert parsed.vms[0].linux_license is None and parsed.vms[0].sql_server_license is None
    assert parsed.target.hybrid_benefit is False
    data = request()
    data["vms"][0].update(os_type="linux", linux_license="RHEL_BYOS", sql_server_license="PAYG")
    data["vms"][1].update(sql_server_license="AHUB", target={"hybrid_benefit": True})
    parsed = parse_request(data)
    assert parsed.vms[0].linux_license is LinuxLicense.RHEL_BYOS
    assert parsed.vms[0].sql_server_license is SqlServerLicense.PAYG
    assert parsed.vms[1].sql_server_license is SqlServerLicense.AHUB
    assert parsed.target_for(parsed.vms[1]).hybrid_benefit is True


def test_a_linux_licence_on_a_windows_vm_is_refused():
    data = request()
    data["vms"][1]["linux_license"] = "SLES_BYOS"
    assert issues_of(data) == (
        "vms[1].linux_license: SLES_BYOS applies to Linux VMs; this VM's os_type is windows "
        "(Windows Server licences: target.hybrid_benefit)",
    )


def test_windows_hybrid_benefit_on_a_linux_vm_is_refused():
    data = request()
    data["vms"][0].update(os_type="linux", target={"hybrid_benefit": True})
    (issue,) = issues_of(data)
    assert issue.startswith("vms[0].target.hybrid_benefit: Azure Hybrid Benefit for Windows Server applies to Windows")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("linux_license", "LinuxServer", "'NoLicenseType', 'RHEL_BYOS' or 'SLES_BYOS'"),
        ("sql_server_license", "Enterprise", "'NoLicenseType', 'PAYG' or 'AHUB'"),
    ],
)
def test_unknown_licence_values_name_the_accepted_ones(field, value, expected):
    data = request()
    data["vms"][0][field] = value
    (issue,) = issues_of(data)
    assert issue.startswith(f"vms[0].{field}: Input should be ") and expected in issue


def test_json_schema_offers_the_licences():
    vm = request_json_schema()["$defs"]["VmSpec"]["properties"]
    assert {"linux_license", "sql_server_license"} <= set(vm)
