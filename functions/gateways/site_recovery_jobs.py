"""Site Recovery job reads over the real SDK: one job (``ReplicationJobs_Get``) and the vault's job list
(``ReplicationJobs_List``), one page per call.

The list is filtered by start time with the operation's OData ``$filter`` (its properties are the REST spec's
``JobQueryParameter``: ``startTime`` "Date time to get jobs from", ``endTime``, ``fabricId``,
``affectedObjectTypes``, ``jobStatus``, ``jobName``, ``timezoneOffset``); see :func:`shared.watch.job_filter`.
"""

from __future__ import annotations

from typing import Any

from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from functions.gateways.site_recovery_client import _get, _translated
from functions.gateways.site_recovery_discovery import text
from shared.site_recovery import JobRef, JobStatus, VaultRef
from shared.watch import JobsPage, JobsPageRequest, job_filter


def job_status_of(found: Any, default_name: str = "") -> JobStatus:
    """The SDK's ``Job`` as the pipeline's :class:`JobStatus` (the first error's code and message)."""
    props = found.properties
    code = message = ""
    for error in _get(props, "errors") or []:
        service = _get(error, "service_error_details")
        provider = _get(error, "provider_error_details")
        code = str(_get(service, "code") or _get(provider, "error_code") or "")
        message = str(_get(service, "message") or _get(provider, "error_message") or "")
        if code or message:
            break
    return JobStatus(
        name=str(found.name or default_name),
        state=text(_get(props, "state")),
        scenario_name=str(_get(props, "scenario_name") or ""),
        friendly_name=str(_get(props, "friendly_name") or ""),
        target_object_name=str(_get(props, "target_object_name") or ""),
        start_time=_get(props, "start_time"),
        end_time=_get(props, "end_time"),
        error_code=code,
        error_message=message,
        test_vm_names=tuple(
            str(_get(d, "test_vm_name"))
            for d in _get(_get(props, "custom_details"), "protected_item_details") or []
            if _get(d, "test_vm_name")
        ),
    )


class JobReads:
    """Job reads over ``self.client``."""

    @property
    def client(self) -> SiteRecoveryManagementClient:  # provided by the gateway
        raise NotImplementedError

    def _check_vault(self, vault: VaultRef) -> None:  # provided by the gateway
        raise NotImplementedError

    def get_job(self, job: JobRef) -> JobStatus:
        self._check_vault(job.vault)
        with _translated(f"replicationJobs/{job.job_name}"):
            found = self.client.replication_jobs.get(job.vault.resource_group, job.vault.vault_name, job.job_name)
        status = job_status_of(found, job.job_name)
        status.raise_for_failure()
        return status

    def list_jobs_page(self, request: JobsPageRequest) -> JobsPage:
        """One page of the jobs that started from ``request.started_from`` (failed jobs are listed, not raised)."""
        vault = request.vault
        self._check_vault(vault)
        with _translated(f"vaults/{vault.vault_name}/replicationJobs"):
            pages = self.client.replication_jobs.list(
                vault.resource_group, vault.vault_name, filter=job_filter(request.started_from)
            ).by_page(continuation_token=request.continuation_token)
            page = list(next(pages))
            token = getattr(pages, "continuation_token", None)
        return JobsPage(jobs=tuple(job_status_of(found) for found in page), continuation_token=token or None)
