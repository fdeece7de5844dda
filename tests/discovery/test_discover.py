"""discover on an emulated estate (in-process moto): report, draft request, same verdicts as preflight."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
import yaml
from rich.console import Console

from discovery.command import DiscoverDependencies, discover, run_discover
from discovery.options import DiscoverOptions
from discovery.select import resolve_selection
from shared.errors import InvalidRequestError
from shared.preflight import evaluate
from shared.request import parse_request
from tests.discovery.conftest import REGION, ManagedLookup

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-mig/providers"


def _deps(estate, **extra):
    return DiscoverDependencies(ec2_client=estate.ec2, ssm=ManagedLookup(estate.ssm), **extra)


def _defaults(estate) -> dict:
    return {
        "environment": "test",
        "appliance": {
            "instance_id": estate.seeded.appliance.instance_id,
            "private_ip": estate.seeded.appliance.private_ip,
            "security_group_id": estate.seeded.appliance.security_group_id,
        },
        "target": {
            "subscription_id": SUB,
            "resource_group": "rg-mig",
            "region": "westeurope",
            "vault": {"name": "vault-mig", "resource_group": "rg-mig"},
            "virtual_network_id": f"{RG}/Microsoft.Network/virtualNetworks/vnet-prod",
            "subnet": "apps",
            "test_virtual_network_id": f"{RG}/Microsoft.Network/virtualNetworks/vnet-test",
            "test_subnet": "apps-test",
            "cache_storage_account_id": f"{RG}/Microsoft.Storage/storageAccounts/cachemig",
        },
    }


def test_draft_with_target_file_parses_and_not_ready_matches_preflight(estate, tmp_path):
    target = tmp_path / "defaults.yaml"
    target.write_text(yaml.safe_dump(_defaults(estate)))
    out = tmp_path / "wave.yaml"
    console = Console(record=True, width=220)
    options = DiscoverOptions(region=REGION, out=out, target=target, request_id="wave-one")

    assert run_discover(options, console, deps=_deps(estate), now=NOW) == 0

    text = out.read_text()
    request = parse_request(text)
    assert request.request_id == "wave-one"
    listed = {vm.instance_id for vm in request.vms}
    assert estate.seeded.appliance.instance_id not in listed

    result = discover(options, _deps(estate), now=NOW)
    by_id = {a.instance_id: a for a in result.assessments}
    seeded_ids = {estate.seeded.instance_id(s.name) for s in estate.spec.instances}
    assert seeded_ids <= set(by_id)
    rejected = {}
    for assessment in result.assessments:
        verdict = evaluate(assessment.facts)
        if not verdict.accepted:
            rejected[assessment.instance_id] = verdict.reasons
    not_ready = {a.instance_id: a.verdict.reasons for a in result.assessments if a.readiness.value == "not ready"}
    assert not_ready == rejected
    names = {estate.seeded.instance_id(n) for n in ("legacy-al2", "arm-api", "unmanaged", "stopped-1")}
    assert set(not_ready) == names
    assert listed == set(by_id) - names - {estate.seeded.appliance.instance_id}
    # every not-ready reason is in the file's header for the operator
    for reasons in not_ready.values():
        for finding in reasons:
            if finding.severity.value == "error":
                assert finding.code.value in text
    vm = next(v for v in request.vms if v.instance_id == estate.seeded.instance_id("db-1"))
    assert vm.vm_size == "Standard_E4s_v5"
    assert vm.target_vm_name == "db-1"
    assert {str(k) for k in vm.disk_types} == {"/dev/sda1", "/dev/sdf"}
    screen = console.export_text()
    assert "not ready" in screen and "estimate" in screen.lower()


def test_draft_without_target_fails_validation_on_placeholders(estate, tmp_path):
    out = tmp_path / "wave.yaml"
    console = Console(record=True, width=200)
    assert run_discover(DiscoverOptions(region=REGION, out=out), console, deps=_deps(estate), now=NOW) == 0
    text = out.read_text()
    assert text.startswith("# Draft migration request")
    assert "FILL IN before submitting" in text
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(text)
    problems = "\n".join(caught.value.issues)
    for field in ("appliance.instance_id", "target.subscription_id", "target.resource_group", "target.subnet"):
        assert field in problems


def test_filters_json_and_csv(estate, tmp_path):
    report = tmp_path / "report.csv"
    console = Console(record=True, width=200)
    options = DiscoverOptions(region=REGION, filters=("tag:Wave=2",), json_output=True, csv_path=report)
    assert run_discover(options, console, deps=_deps(estate), now=NOW) == 0
    document = json.loads(console.export_text())
    names = sorted(i["name"] for i in document["instances"])
    assert names == ["arm-api", "ml-box", "stopped-1", "unmanaged"]
    assert "estimate" in document["cost_note"]
    arm = next(i for i in document["instances"] if i["name"] == "arm-api")
    assert arm["readiness"] == "not ready"
    assert arm["reasons"][0]["code"] == "architecture_unsupported"
    gpu = next(i for i in document["instances"] if i["name"] == "ml-box")
    assert gpu["sizing"]["size"] == "Standard_NC4as_T4_v3"
    assert any("GPU" in w for w in gpu["sizing"]["warnings"])
    rows = list(csv.DictReader(io.StringIO(report.read_text())))
    assert sorted(r["name"] for r in rows) == names
    assert {r["readiness"] for r in rows} == {"ready", "not ready"}
    assert all(r["estimated_monthly_cost"] for r in rows if r["azure_vm_size"])


def test_instance_ids_and_not_found(estate):
    web = estate.seeded.instance_id("web-1")
    console = Console(record=True, width=200)
    options = DiscoverOptions(region=REGION, instance_ids=(f"{web},i-0123456789abcdef0",))
    result = discover(options, _deps(estate), now=NOW)
    assert [a.instance_id for a in result.assessments] == [web]
    assert result.not_found == ["i-0123456789abcdef0"]
    assert run_discover(options, console, deps=_deps(estate), now=NOW) == 0
    assert "i-0123456789abcdef0" in console.export_text()


def test_bad_target_file_is_a_usage_error(estate, tmp_path):
    target = tmp_path / "defaults.yaml"
    target.write_text("target: {}\nvms: []\n")
    console = Console(record=True, width=200)
    options = DiscoverOptions(region=REGION, target=target)
    assert run_discover(options, console, deps=_deps(estate), now=NOW) == 2
    assert "unknown field(s) vms" in console.export_text()


def test_bad_options_name_the_problem():
    with pytest.raises(ValueError, match="tag:KEY=VALUE"):
        DiscoverOptions(region=REGION, filters=("Wave",))
    with pytest.raises(ValueError, match="EC2 instance ids"):
        DiscoverOptions(region=REGION, instance_ids=("web-1",))


def test_select_resolves_tags_to_instance_ids(estate):
    defaults = _defaults(estate)
    raw = {"request_id": "wave-sel", "region": REGION, **defaults, "select": {"filters": {"tag:Wave": "1"}}}
    resolved = resolve_selection(raw, estate.ec2)
    assert "select" not in resolved
    expected = sorted(estate.seeded.instance_id(n) for n in ("web-1", "db-1", "win-app"))
    assert [vm["instance_id"] for vm in resolved["vms"]] == expected
    assert len(parse_request(resolved).vms) == 3
    assert raw["select"]  # the input is not changed


def test_select_errors(estate):
    base = {"request_id": "wave-sel", "region": REGION}
    with pytest.raises(InvalidRequestError, match="no EC2 instance"):
        resolve_selection({**base, "select": {"filters": {"tag:Wave": "9"}}}, estate.ec2)
    with pytest.raises(InvalidRequestError, match="either vms or select"):
        resolve_selection(
            {**base, "vms": [{"instance_id": "i-12345678"}], "select": {"filters": {"tag:A": "b"}}}, estate.ec2
        )
    with pytest.raises(InvalidRequestError, match=r"select\.filters"):
        resolve_selection({**base, "select": {"filters": {"Wave": "1"}}}, estate.ec2)
    assert resolve_selection({**base, "vms": [{"instance_id": "i-12345678"}]}, estate.ec2)["vms"]
