"""``check_readiness`` as the Functions host calls it (the activity envelope), over the Site Recovery and ARM
emulators through the real clients: the Site Recovery gateway's facts and the ARM facts, judged in one report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from functions import runtime
from functions.activities.readiness import check_readiness
from functions.gateways.azure_resources import ArmResourceReader
from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from functions.settings import FunctionAppSettings
from local.azure_resources import AzureResourcesEmulator, build_emulated_arm_client, seed_from_request
from local.clock import VirtualClock
from local.events import EventLog
from local.site_recovery import EmulatorEstate, SiteRecoveryEmulator, build_emulated_client
from shared.readiness import GapKind, ReadinessReport

from .test_arm_gateway import REQUEST, SITE


class _NoLambdas:
    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError(f"the readiness check must not call AWS ({function})")


VM = REQUEST["vms"][0]["instance_id"]
VM_IP = "10.0.2.5"


def _vault(health: str = "Normal", **faults: Any) -> SiteRecoveryEmulator:
    """The request's vault, its appliance as the fabric's process server, and the VM discovered at its IP."""
    estate = EmulatorEstate().model_dump()
    fabric = estate["fabrics"][0]
    fabric["physical_site_id"] = SITE
    fabric["process_server"].update(ip_address=REQUEST["appliance"]["private_ip"], health=health)
    if health == "Critical":
        fabric["process_server"]["health_errors"] = [{"code": "PsHeartbeatMissing", "message": "no heartbeat"}]
    fabric.update(faults)
    emulator = SiteRecoveryEmulator(EmulatorEstate.model_validate(estate))
    emulator.discover_machine("vm-1", VM_IP, "EC2AAAAA-0000-4000-8000-00000000AAAA", "linux")
    return emulator


def _check(request: dict[str, Any], *ips: str) -> ReadinessReport:
    vms = [{"instance_id": VM, "ip_address": ip} for ip in ips]
    answer = check_readiness({"input": {"request": request, "vms": vms}, "events": []})
    assert "value" in answer, answer
    return ReadinessReport.model_validate(answer["value"])


def _install(tmp_path: Any, site_recovery: SiteRecoveryEmulator) -> AzureResourcesEmulator:
    clock = VirtualClock()
    arm = AzureResourcesEmulator(clock=clock)
    seed_from_request(arm, REQUEST, SITE)
    gateway = AzureSiteRecoveryGateway(client=build_emulated_client(site_recovery))
    runtime.install(
        runtime.Runtime(
            settings=FunctionAppSettings(),
            lambdas=_NoLambdas(),
            events=EventLog(tmp_path / "events.jsonl"),
            site_recovery=lambda vault: gateway,
            azure_resources=ArmResourceReader(build_emulated_arm_client(arm)),
        )
    )
    return arm


@pytest.fixture(autouse=True)
def _reset_runtime() -> Iterator[None]:
    yield
    runtime.install(None)


def test_a_ready_vault_and_estate_answer_an_empty_report(tmp_path: Any) -> None:
    site_recovery = _vault()
    arm = _install(tmp_path, site_recovery)
    report = _check(REQUEST, VM_IP)
    assert report.ready, report.lines()
    assert any(path.endswith("/permissions") for path in (r.path for r in arm.requests))
    assert any(r.path.endswith(f"{SITE}/machines") for r in site_recovery.requests), "the VM was looked up"
    assert {r.method for r in site_recovery.requests} == {"GET"}


def test_a_vault_site_recovery_cannot_find_is_a_gap_listed_with_the_resource_gaps(tmp_path: Any) -> None:
    arm = _install(tmp_path, _vault())
    arm.revoke("Storage Account Key Operator Service Role")
    elsewhere = {**REQUEST, "target": {**REQUEST["target"], "vault": {"name": "no-such-vault", "resource_group": "rg"}}}
    report = _check(elsewhere, VM_IP)
    kinds = [gap.kind for gap in report.gaps]
    assert kinds == [GapKind.SITE_RECOVERY_SETUP, GapKind.PERMISSION_MISSING]
    assert report.gaps[0].resource_id.endswith("/vaults/no-such-vault")
    assert "correct target.vault" in report.gaps[0].fix
    assert "listKeys/action" in report.gaps[1].why


def test_an_unhealthy_appliance_an_undiscovered_vm_and_a_missing_role_are_listed_together(tmp_path: Any) -> None:
    arm = _install(tmp_path, _vault("Critical", mapping_exists=False))
    arm.revoke("Storage Account Key Operator Service Role")
    report = _check(REQUEST, "10.0.9.9")
    assert [gap.kind for gap in report.gaps] == [
        GapKind.APPLIANCE,
        GapKind.SITE_RECOVERY_SETUP,
        GapKind.MACHINE_NOT_DISCOVERED,
        GapKind.PERMISSION_MISSING,
    ], report.lines()
    assert "health Critical (PsHeartbeatMissing: no heartbeat)" in report.gaps[0].why
    assert "protection container mapping" in report.gaps[1].what
    assert report.gaps[2].instance_ids == (VM,) and "10.0.9.9" in report.gaps[2].why


def test_a_vm_not_yet_discovered_is_no_gap_when_the_pipeline_opens_discovery(tmp_path: Any) -> None:
    _install(tmp_path, _vault())
    opens = {**REQUEST, "appliance": {**REQUEST["appliance"], "discovery_ip": "10.0.1.5"}}
    assert _check(opens, "10.0.9.9").ready
    assert not _check(REQUEST, "10.0.9.9").ready


def test_a_malformed_input_is_one_clear_line(tmp_path: Any) -> None:
    _install(tmp_path, SiteRecoveryEmulator(EmulatorEstate()))
    answer = check_readiness({"input": {"request": {**REQUEST, "vms": []}}})
    assert answer["error"]["type"] == "InvalidRequestError"
    assert "ReadinessInput" in answer["error"]["message"]
