"""The vault's job list (``ReplicationJobs_List``) filtered by start time, one request per page, through the real
SDK client: what the replication watch reads instead of one ``get_job`` per waiting VM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from azure.mgmt.recoveryservicessiterecovery import models as m

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.site_recovery import API_VERSION, Operation, SiteRecoveryEmulator
from local.site_recovery.estate import FaultKind, RequestFault
from shared.site_recovery import JobRef, VaultRef
from shared.watch import JobsPageRequest, job_filter
from tests.site_recovery.conftest import enable, run_for
from tests.site_recovery.sdk_contract import unknown_keys

#: The members of one entry of ``ReplicationJobs_List``'s 200 answer in the REST spec's example
#: (specification/recoveryservicessiterecovery, 2025-08-01, ``examples/ReplicationJobs_List.json``).
SPEC_JOB_KEYS = {"id", "name", "properties"}
SPEC_JOB_PROPERTIES = {
    "scenarioName",
    "friendlyName",
    "state",
    "stateDescription",
    "tasks",
    "errors",
    "startTime",
    "endTime",
    "allowedActions",
    "targetObjectId",
    "targetObjectName",
    "targetInstanceType",
}


def _raw(emulator: SiteRecoveryEmulator, query: str) -> Any:
    url = f"{emulator.base_url}{emulator.vault_id}/replicationJobs?api-version={API_VERSION}{query}"
    return emulator.handle("GET", url, {"Authorization": "Bearer x"}, None)


def _all(gateway: AzureSiteRecoveryGateway, vault: VaultRef, since: datetime) -> tuple[list[str], int]:
    names: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = gateway.list_jobs_page(JobsPageRequest(vault=vault, started_from=since, continuation_token=token))
        pages += 1
        names += [job.name for job in page.jobs]
        token = page.continuation_token
        if token is None:
            return names, pages


def test_the_filter_is_the_specs_start_time_in_utc() -> None:
    moment = datetime(2026, 12, 7, 13, 5, 9, 123456, tzinfo=UTC)
    assert job_filter(moment) == "startTime eq '2026-12-07T13:05:09Z'"
    assert job_filter(moment.astimezone(timezone(timedelta(hours=2)))) == "startTime eq '2026-12-07T13:05:09Z'"


def test_jobs_list_is_filtered_by_start_time_and_paged(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    emulator.estate.page_size = 2
    early = [enable(gateway, emulator, vault, f"web{i}", i)[2] for i in (1, 2)]
    run_for(emulator.clock, 3600)  # type: ignore[arg-type]
    since = emulator.clock.now()
    late = [enable(gateway, emulator, vault, f"app{i}", 10 + i)[2] for i in (1, 2, 3)]
    emulator.clear_requests()

    names, pages = _all(gateway, vault, since)
    assert sorted(names) == sorted(late) and not set(early) & set(names)
    assert pages == 2  # three jobs, two a page
    listed = [r for r in emulator.requests if r.operation == Operation.LIST_JOBS]
    assert len(listed) == pages == emulator.count_requests()
    assert all(r.query["$filter"] == job_filter(since) and r.api_version == API_VERSION for r in listed)
    everything, _ = _all(gateway, vault, since - timedelta(hours=2))
    assert set(everything) == set(early) | set(late)


def test_a_listed_job_has_the_specs_shape_and_its_state(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    since = emulator.clock.now()
    _, _, job = enable(gateway, emulator, vault)
    answer = _raw(emulator, f"&$filter={job_filter(since - timedelta(minutes=5))}")
    assert answer.status == 200
    body = answer.json()
    assert set(body) <= {"value", "nextLink"}
    entry = body["value"][0]
    assert set(entry) >= SPEC_JOB_KEYS and set(entry["properties"]) >= SPEC_JOB_PROPERTIES
    assert unknown_keys(m.Job, entry) == []
    assert entry["id"].endswith(f"/replicationJobs/{job}")
    page = gateway.list_jobs_page(JobsPageRequest(vault=vault, started_from=since - timedelta(minutes=5)))
    (listed,) = page.jobs
    assert listed.name == job and not listed.is_terminal
    run_for(emulator.clock, 600)  # type: ignore[arg-type]
    (done,) = gateway.list_jobs_page(JobsPageRequest(vault=vault, started_from=since - timedelta(minutes=5))).jobs
    assert done.succeeded and done == gateway.get_job(JobRef(vault=vault, job_name=job))


def test_a_failed_job_is_listed_with_its_error_not_raised(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    emulator.inject(
        RequestFault(
            kind=FaultKind.JOB_FAILURE,
            operation=Operation.ENABLE,
            machine="web01",
            error_code="ProcessServerUnreachable",
            error_message="The process server could not be reached.",
        )
    )
    since = emulator.clock.now()
    enable(gateway, emulator, vault)
    run_for(emulator.clock, 600)  # type: ignore[arg-type]
    (failed,) = gateway.list_jobs_page(JobsPageRequest(vault=vault, started_from=since)).jobs
    assert failed.state == "Failed" and failed.is_terminal
    assert (failed.error_code, failed.error_message) == (
        "ProcessServerUnreachable",
        "The process server could not be reached.",
    )


@pytest.mark.parametrize(
    "odata",
    ["startTime gt '2026-01-01T00:00:00Z'", "owner eq 'me'", "startTime eq 'yesterday'"],
)
def test_a_filter_the_service_does_not_know_is_refused(emulator: SiteRecoveryEmulator, odata: str) -> None:
    answer = _raw(emulator, f"&$filter={odata}")
    assert answer.status == 400 and answer.json()["error"]["code"] == "InvalidFilter"


def test_the_other_job_query_properties_narrow_the_list(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    _, _, first = enable(gateway, emulator, vault, "web1", 1)
    run_for(emulator.clock, 600)  # type: ignore[arg-type]
    _, _, second = enable(gateway, emulator, vault, "web2", 2)

    def names(odata: str) -> list[str]:
        return [job["name"] for job in _raw(emulator, f"&$filter={odata}").json()["value"]]

    assert names(f"jobName eq '{second}'") == [second]
    assert names("jobStatus eq 'Succeeded'") == [first]
    assert names("jobStatus eq 'NotStarted,InProgress' and fabricId eq 'any'") == [second]
