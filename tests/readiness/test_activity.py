"""``check_readiness`` as the Functions host calls it (the activity envelope), over the Site Recovery and ARM
emulators through the real clients."""

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
    arm = _install(tmp_path, SiteRecoveryEmulator(EmulatorEstate()))
    answer = check_readiness({"input": {"request": REQUEST}, "events": []})
    report = ReadinessReport.model_validate(answer["value"])
    assert report.ready, report.lines()
    assert any(path.endswith("/permissions") for path in (r.path for r in arm.requests))


def test_a_vault_site_recovery_cannot_find_is_a_gap_listed_with_the_resource_gaps(tmp_path: Any) -> None:
    arm = _install(tmp_path, SiteRecoveryEmulator(EmulatorEstate()))
    arm.revoke("Storage Account Key Operator Service Role")
    elsewhere = {**REQUEST, "target": {**REQUEST["target"], "vault": {"name": "no-such-vault", "resource_group": "rg"}}}
    report = ReadinessReport.model_validate(check_readiness({"input": {"request": elsewhere}})["value"])
    kinds = [gap.kind for gap in report.gaps]
    assert kinds == [GapKind.SITE_RECOVERY_SETUP, GapKind.PERMISSION_MISSING]
    assert report.gaps[0].resource_id.endswith("/vaults/no-such-vault")
    assert "correct target.vault" in report.gaps[0].fix
    assert "listKeys/action" in report.gaps[1].why


def test_a_malformed_input_is_one_clear_line(tmp_path: Any) -> None:
    _install(tmp_path, SiteRecoveryEmulator(EmulatorEstate()))
    answer = check_readiness({"input": {"request": {**REQUEST, "vms": []}}})
    assert answer["error"]["type"] == "InvalidRequestError"
    assert "ReadinessInput" in answer["error"]["message"]
