"""Site Recovery job reads over the real SDK: one job (``ReplicationJobs_Get``) and the vault's job list
(``ReplicationJobs_List``), one page per call.

The list is filtered by start time with the operation's OData ``$filter`` (its properties are the REST spec's
``JobQueryParameter``: ``startTime`` "Date time to get jobs from", ``endTime``, ``fabricId``,
``affectedObjectTypes``, ``jobStatus``, ``jobName``, ``timezoneOffset``); see :func:`shared.watch.job_filter`.
"""

from __future__ import annotations

from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from functions.gateways.site_recovery_client import _translated
from functions.gateways.site_recovery_wire import job_status_of, json_page, vault_path, wire
from shared.site_recovery import JobRef, JobStatus, VaultRef
from shared.watch import JobsPage, JobsPageRequest, job_filter


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
        status = job_status_of(wire(found), job.job_name)
        status.raise_for_failure()
        return status

    def list_jobs_page(self, request: JobsPageRequest) -> JobsPage:
        """One page of the jobs that started from ``request.started_from`` (failed jobs are listed, not raised);
        read as JSON (:mod:`functions.gateways.site_recovery_wire`): the watch reads it every tick."""
        vault = request.vault
        self._check_vault(vault)
        path = f"{vault_path(vault)}/replicationJobs"
        params = {"api-version": self.client._config.api_version, "$filter": job_filter(request.started_from)}
        with _translated(f"vaults/{vault.vault_name}/replicationJobs"):
            if request.continuation_token:
                jobs, token = json_page(self.client, request.continuation_token)
            else:
                jobs, token = json_page(self.client, path, params)
        return JobsPage(jobs=tuple(job_status_of(found) for found in jobs), continuation_token=token)
