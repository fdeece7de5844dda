"""Pages the watch and the sweep read every tick are read as JSON, by the names the SDK's generated models give the
wire (:mod:`functions.gateways.site_recovery_wire`), and build no SDK model.

The anchor is the SDK (azure-mgmt-recoveryservicessiterecovery 2.0.0): each field the wire reader returns is
compared with the same field read through the SDK's model attributes, on the REST spec's examples and on the
emulator's InMageRcm answers (initial replication running, a job that failed with an error)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.recoveryservicessiterecovery import models as m

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from functions.gateways.site_recovery_wire import item_health_fields, item_ref, item_status_extras, job_status_of
from local.site_recovery import Operation, SiteRecoveryEmulator
from local.site_recovery.estate import FaultKind, RequestFault
from shared.site_recovery import ProtectedItemsPageRequest, VaultRef
from shared.watch import JobsPageRequest
from tests.site_recovery.conftest import enable, run_for

EXAMPLES = Path(__file__).parents[1] / "fixtures" / "site-recovery-api-2025-08-01"


def _example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))["responses"]["200"]["body"]


def _text(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))


def _sdk_item_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields as the SDK's models read them (attribute names mapped to the wire by the generated code)."""
    props = m.ReplicationProtectedItem(raw).properties
    assert props is not None
    details = props.provider_specific_details
    rcm = isinstance(details, m.InMageRcmReplicationDetails)
    scenario = props.current_scenario
    return {
        "friendly_name": props.friendly_name or "",
        "protection_state": _text(props.protection_state),
        "health_errors": [
            (e.error_code or "", e.error_message or e.summary_message or "") for e in props.health_errors or []
        ],
        "initial_replication_percent": details.initial_replication_progress_percentage if rcm else None,
        "resync_percent": details.resync_progress_percentage if rcm else None,
        "rpo_seconds": details.last_rpo_in_seconds if rcm else None,
        "last_recovery_point_time": details.last_recovery_point_received if rcm else None,
        "last_recovery_point_id": details.last_recovery_point_id if rcm else None,
        "allowed_operations": tuple(props.allowed_operations or ()),
        "scenario": (scenario.scenario_name, scenario.start_time)
        if scenario and scenario.scenario_name != "None"
        else None,
        "test_failover_state": _text(props.test_failover_state),
        "active_location": _text(props.active_location),
        "failover_recovery_point_id": props.failover_recovery_point_id,
        "target_vm_name": details.target_vm_name if rcm else None,
    }


def _wire_item_fields(raw: dict[str, Any], vault: VaultRef) -> dict[str, Any]:
    fields = {**item_health_fields(raw, item_ref(vault, raw)), **item_status_extras(raw)}
    scenario = fields["current_scenario"]
    return {
        "friendly_name": fields["friendly_name"],
        "protection_state": fields["protection_state"],
        "health_errors": [(issue.code, issue.message) for issue in fields["health_errors"]],
        "initial_replication_percent": fields["initial_replication_percent"],
        "resync_percent": fields["resync_percent"],
        "rpo_seconds": fields["rpo_seconds"],
        "last_recovery_point_time": fields["last_recovery_point_time"],
        "last_recovery_point_id": fields["last_recovery_point_id"],
        "allowed_operations": fields["allowed_operations"],
        "scenario": (scenario.name, scenario.start_time) if scenario else None,
        "test_failover_state": fields["test_failover_state"],
        "active_location": fields["active_location"],
        "failover_recovery_point_id": fields["failover_recovery_point_id"],
        "target_vm_name": fields["target_vm_name"],
    }


def _parsed(fields: dict[str, Any]) -> dict[str, Any]:
    """Wire timestamps are strings until the port's model parses them: compare as the port holds them."""
    from datetime import datetime

    from pydantic import TypeAdapter

    moment = TypeAdapter(datetime | None)
    out = dict(fields)
    out["last_recovery_point_time"] = moment.validate_python(out["last_recovery_point_time"])
    if out["scenario"] is not None:
        out["scenario"] = (out["scenario"][0], moment.validate_python(out["scenario"][1]))
    return out


def _sdk_job(raw: dict[str, Any]) -> tuple[Any, ...]:
    props = m.Job(raw).properties
    assert props is not None
    error = (props.errors or [None])[0]
    service = error.service_error_details if error else None
    return (props.state, props.scenario_name, props.start_time, props.end_time, service.code if service else None)


def _wire_job(raw: dict[str, Any]) -> tuple[Any, ...]:
    job = job_status_of(raw)
    return (job.state, job.scenario_name, job.start_time, job.end_time, job.error_code or None)


def test_the_rest_specs_examples_read_the_same_on_the_wire_as_through_the_sdks_models(vault: VaultRef) -> None:
    items = [_example("ReplicationProtectedItems_Get"), *_example("ReplicationProtectedItems_List")["value"]]
    for raw in items:
        assert _parsed(_wire_item_fields(raw, vault)) == _sdk_item_fields(raw)
    job = _example("ReplicationJobs_Get")
    assert _wire_job(job) == _sdk_job(job)


def test_the_emulators_inmage_rcm_pages_read_the_same_on_the_wire_as_through_the_sdks_models(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    emulator.inject(
        RequestFault(
            kind=FaultKind.JOB_FAILURE,
            operation=Operation.ENABLE,
            machine="web02",
            error_code="ProcessServerUnreachable",
            error_message="The process server could not be reached.",
        )
    )
    enable(gateway, emulator, vault)
    enable(gateway, emulator, vault, name="web02", index=2)
    run_for(emulator.clock, 5 * 3600)  # type: ignore[arg-type] # replicated: progress, RPO and recovery points
    url = f"{emulator.base_url}{emulator.vault_id}/replicationProtectedItems?api-version={emulator.estate.api_version}"
    answer = emulator.handle("GET", url, {"Authorization": "Bearer x"}, None)
    raws = json.loads(answer.body)["value"]
    read = [_sdk_item_fields(raw) for raw in raws]
    assert [_parsed(_wire_item_fields(raw, vault)) for raw in raws] == read
    # the InMageRcm fields were compared, not Nones: progress, RPO and a recovery point
    assert any(f["initial_replication_percent"] and f["rpo_seconds"] and f["last_recovery_point_time"] for f in read)

    jobs_url = f"{emulator.base_url}{emulator.vault_id}/replicationJobs?api-version={emulator.estate.api_version}"
    listed = json.loads(emulator.handle("GET", jobs_url, {"Authorization": "Bearer x"}, None).body)["value"]
    assert [_wire_job(job) for job in listed] == [_sdk_job(job) for job in listed]
    assert any(_sdk_job(job)[-1] == "ProcessServerUnreachable" for job in listed)  # an error was compared


@pytest.mark.parametrize("model", [m.ReplicationProtectedItem, m.Job])
def test_a_page_read_builds_no_sdk_model(
    gateway: AzureSiteRecoveryGateway,
    emulator: SiteRecoveryEmulator,
    vault: VaultRef,
    monkeypatch: pytest.MonkeyPatch,
    model: type,
) -> None:
    enable(gateway, emulator, vault)
    run_for(emulator.clock, 60)  # type: ignore[arg-type]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{model.__name__} built for a page read")

    monkeypatch.setattr(model, "__init__", refuse)
    since = emulator.clock.now().replace(year=2000)
    assert gateway.list_protected_items_page(ProtectedItemsPageRequest(vault=vault)).items
    assert gateway.list_jobs_page(JobsPageRequest(vault=vault, started_from=since)).jobs


def test_a_throttled_page_read_is_a_transient_error_after_the_clients_own_retries(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    from shared.errors import TransientError

    enable(gateway, emulator, vault)
    emulator.inject(RequestFault(kind=FaultKind.THROTTLE, operation=Operation.LIST_VAULT_ITEMS, times=None))
    with pytest.raises(TransientError):
        gateway.list_protected_items_page(ProtectedItemsPageRequest(vault=vault))
