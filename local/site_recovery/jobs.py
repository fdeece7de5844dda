"""Jobs and operation status: every action answers 202 with ``Azure-AsyncOperation`` (to the job, or to a
``replicationOperationStatus/{id}`` as Microsoft's own TestFailover example and live answers show), ``Location``
(the item's ``operationresults/{job}``) and ``Retry-After``. Jobs end as functions of the clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from local.site_recovery.estate import FaultKind, Operation
from local.site_recovery.model import _FRIENDLY_JOB_NAMES, EmulatorCore, EmulatorHttpError, _guid, _iso, _Item, _Job


class JobsMixin(EmulatorCore):
    """Jobs, their effects on the items, and the operation monitors."""

    def _start_job(self, item: _Item, scenario: str, operation: Operation) -> _Job:
        now = self.clock.now()
        timings = self.estate.timings
        self._job_counter += 1
        name = _guid("job", item.name, scenario, str(self._job_counter))
        key = (item.name, scenario, _iso(now))  # the draw: the same in every run, whatever order jobs start in
        queue = timedelta(seconds=timings.job_queue_seconds)
        job = _Job(
            name=name,
            scenario=scenario,
            operation=operation,
            item_key=item.key,
            target_object_name=item.machine.name,
            target_object_id=item.name,
            created=now,
            start=now + queue,
            end=now + queue + timedelta(seconds=timings.drawn(timings.job_seconds.get(scenario, 60.0), *key)),
        )
        fault = self._take_fault(operation, item.machine, {FaultKind.JOB_FAILURE})
        if fault is not None:
            job.failure = (
                fault.error_code or "InternalError",
                fault.error_message or f"The {_FRIENDLY_JOB_NAMES.get(scenario, scenario)} job failed.",
            )
        if scenario == "TestFailover":
            job.test_vm_name = self.test_vm_name(item)
        self._jobs[name] = job
        self._unsettled.append(job)
        item.running_job = job
        item.scenario = (scenario, name, now)
        return job

    def cutover_floor_seconds(self, item_name: str) -> float | None:
        """What the emulator itself took of a VM's cutover: the final sync's delay after the source stopped, plus
        the failover's and the commit's jobs from creation to end (queue included); None before a commit."""
        with self._lock:
            jobs = {j.scenario: j for j in self._jobs.values() if j.target_object_id.lower() == item_name.lower()}
            failover, commit = jobs.get("UnplannedFailover"), jobs.get("FailoverCommit")
            if failover is None or commit is None:
                return None
            machine = self._machines.get(failover.target_object_name.lower())
            if machine is None or machine.source_stopped_at is None:
                return None
            stopped = machine.source_stopped_at
            timings = self.estate.timings
            final_sync = timings.drawn(
                timings.final_sync_delay_seconds, "final-sync", failover.target_object_id, _iso(stopped)
            )
            return final_sync + sum((j.end - j.created).total_seconds() for j in (failover, commit))

    def _settle(self) -> None:
        """Apply the effects of every job that has ended by now, in end-time order."""
        now = self.clock.now()
        due = sorted((j for j in self._unsettled if j.end <= now), key=lambda j: j.end)
        if not due:
            return
        self._unsettled = [j for j in self._unsettled if j.end > now]
        for job in due:
            job.settled = True
            item = self._items.get(job.item_key)
            if item is None:
                continue
            if item.running_job is job:
                item.running_job = None
            self._apply(item, job)

    def _apply(self, item: _Item, job: _Job) -> None:  # noqa: PLR0912 - one branch per scenario
        ok = job.failure is None
        scenario = job.scenario
        keep_scenario = False
        if scenario == "EnableDr":
            if ok:
                item.enabled_at = job.end
            else:
                del self._items[item.key]
                return
        elif scenario == "TestFailover":
            item.test_failover_state = "WaitingForCompletion" if ok else "None"
            if ok:
                item.last_test_failover_time = job.end
                keep_scenario = True
                self._test_vm_created(item, job.end)
        elif scenario == "TestFailoverCleanup":
            item.test_failover_state = "None" if ok else "WaitingForCompletion"
            if ok:
                self._test_vm_removed(item)
        elif scenario == "UnplannedFailover":
            item.failover_state = "FailedOver" if ok else "None"
            if ok:
                item.replication_stopped_at = job.end
                item.last_failover_time = job.end
                keep_scenario = True
                target = item.details.get("targetVmName") or item.machine.name
                self._failed_over_vms[item.machine.name] = str(target)
        elif scenario == "CancelFailover":
            # the failed-over VM is removed and replication resumes from the source
            item.failover_state = "None" if ok else "FailedOver"
            if ok:
                item.replication_stopped_at = None
                item.failover_recovery_point_id = None
                self._failed_over_vms.pop(item.machine.name, None)
        elif scenario == "FailoverCommit":
            item.failover_state = "Committed" if ok else "FailedOver"
        elif scenario == "DisableDr":
            if ok:
                del self._items[item.key]
                return
            item.disabling = False
        if not keep_scenario:
            item.scenario = None

    def _job_body(self, job: _Job) -> dict[str, Any]:
        now = self.clock.now()
        state = job.state(now)
        done = state in ("Succeeded", "Failed")
        errors = []
        if state == "Failed" and job.failure:
            errors.append(
                {
                    "serviceErrorDetails": {
                        "code": job.failure[0],
                        "message": job.failure[1],
                        "possibleCauses": "",
                        "recommendedAction": "Resolve the issue and retry the operation.",
                        "activityId": _guid("activity", job.name),
                    },
                    "errorLevel": "Error",
                    "creationTime": _iso(job.end),
                    "taskId": _guid("task", job.name),
                }
            )
        descriptions = {"NotStarted": "NotStarted", "InProgress": "InProgress", "Succeeded": "Completed"}
        return {
            "name": job.name,
            "id": self._job_id(job.name),
            "properties": {
                "activityId": _guid("activity", job.name),
                "allowedActions": [] if done else ["Cancel"],
                "customDetails": self._job_details(job),
                "endTime": _iso(job.end) if done else None,
                "errors": errors,
                "friendlyName": _FRIENDLY_JOB_NAMES.get(job.scenario, job.scenario),
                "scenarioName": job.scenario,
                "startTime": _iso(job.start if now >= job.start else job.created),
                "state": state,
                "stateDescription": descriptions.get(state, state),
                "targetInstanceType": "ProtectionEntity",
                "targetObjectId": job.target_object_id,
                "targetObjectName": job.target_object_name,
                "tasks": [],
            },
        }

    def _job_details(self, job: _Job) -> dict[str, Any]:
        """``AsrJobDetails``; a test failover's are ``TestFailoverJobDetails`` naming the test VM it created."""
        affected = {"ProtectedItemName": job.target_object_name}
        if not job.test_vm_name:
            return {"instanceType": "AsrJobDetails", "affectedObjectDetails": affected}
        return {
            "instanceType": "TestFailoverJobDetails",
            "affectedObjectDetails": affected,
            "testFailoverStatus": "Completed" if job.state(self.clock.now()) == "Succeeded" else "",
            "comments": "",
            "networkType": "VmNetworkAsInput",
            "protectedItemDetails": [
                {
                    "name": job.target_object_id,
                    "friendlyName": job.target_object_name,
                    "testVmName": job.test_vm_name,
                    "testVmFriendlyName": job.test_vm_name,
                    "networkConnectionStatus": "Connected",
                }
            ],
        }

    def test_vm_name(self, item: _Item) -> str:  # the Compute family names it
        raise NotImplementedError

    def _test_vm_created(self, item: _Item, at: datetime) -> None:  # the Compute family keeps test VMs
        raise NotImplementedError

    def _test_vm_removed(self, item: _Item) -> None:
        raise NotImplementedError

    def _operation_status_body(self, operation_id: str) -> dict[str, Any]:
        """The ARM async-operation shape (``id``, ``name``, ``status``, ``startTime``, ``endTime``, ``error``)."""
        job_name = self._operations.get(operation_id.lower())
        if job_name is None:
            raise EmulatorHttpError(404, "OperationNotFound", f"The operation '{operation_id}' was not found.")
        job = self._jobs[job_name]
        state = job.state(self.clock.now())
        status = {"NotStarted": "InProgress"}.get(state, state)
        body: dict[str, Any] = {
            "id": f"{self.vault_id}/replicationOperationStatus/{operation_id}",
            "name": operation_id,
            "status": status,
            "startTime": _iso(job.created),
        }
        if state in ("Succeeded", "Failed"):
            body["endTime"] = _iso(job.end)
        if state == "Failed" and job.failure:
            body["error"] = {"code": job.failure[0], "message": job.failure[1]}
        return body

    def _accepted(self, item: _Item, job: _Job) -> tuple[int, dict[str, str], Any]:
        version = self.estate.api_version
        if self.estate.async_operation_style == "operation_status":
            operation_id = _guid("operation", job.name)
            self._operations[operation_id] = job.name
            monitor = f"{self.base_url}{self.vault_id}/replicationOperationStatus/{operation_id}?api-version={version}"
        else:
            monitor = f"{self.base_url}{self._job_id(job.name)}?api-version={version}"
        return (
            202,
            {
                "Azure-AsyncOperation": monitor,
                "Location": f"{self.base_url}{self._item_id(item.fabric, item.name)}/operationresults/{job.name}"
                f"?api-version={version}",
                "Retry-After": str(self.estate.timings.retry_after_seconds),
            },
            None,
        )

    def _listed_jobs(self, odata: str) -> list[_Job]:
        """The jobs ``ReplicationJobs_List`` answers for its ``$filter`` (oldest first).

        The filter's properties are the REST spec's ``JobQueryParameter``, as ``name eq 'value'`` clauses joined by
        ``and``: ``startTime`` (jobs that started at or after it), ``endTime`` (… at or before it), ``jobName``,
        ``jobStatus`` (comma-separated states); ``fabricId``, ``affectedObjectTypes`` and ``timezoneOffset`` are
        accepted and do not narrow a one-fabric vault. Anything else is refused with 400, as an unknown OData
        property would be.
        """
        now = self.clock.now()
        jobs = list(self._jobs.values())
        for name, value in _filter_clauses(odata):
            if name == "starttime":
                since = _filter_time(name, value)
                jobs = [j for j in jobs if _listed_start(j, now) >= since]
            elif name == "endtime":
                until = _filter_time(name, value)
                jobs = [j for j in jobs if _listed_start(j, now) <= until]
            elif name == "jobname":
                jobs = [j for j in jobs if j.name.lower() == value.lower()]
            elif name == "jobstatus":
                wanted = {state.strip().lower() for state in value.split(",") if state.strip()}
                jobs = [j for j in jobs if j.state(now).lower() in wanted]
        return jobs

    def _find_job(self, name: str) -> _Job:
        job = self._jobs.get(name.lower())
        if job is None:
            raise EmulatorHttpError(404, "JobNotFound", f"The job '{name}' was not found.")
        return job

    def _operation_result(self, item: _Item, job_name: str) -> tuple[int, dict[str, str], Any]:
        job = self._find_job(job_name)
        state = job.state(self.clock.now())
        if state in ("NotStarted", "InProgress"):
            location = f"{self.base_url}{self._item_id(item.fabric, item.name)}/operationresults/{job.name}"
            return (
                202,
                {
                    "Location": f"{location}?api-version={self.estate.api_version}",
                    "Retry-After": str(self.estate.timings.retry_after_seconds),
                },
                None,
            )
        if state == "Failed" and job.failure:
            raise EmulatorHttpError(400, job.failure[0], job.failure[1])
        return 200, {}, self._item_body(item)

    def _item_body(self, item: _Item) -> dict[str, Any]:  # the protected items' family renders it
        raise NotImplementedError


#: ``JobQueryParameter``'s properties (REST spec), lower case.
_JOB_QUERY_PROPERTIES = {
    "starttime",
    "endtime",
    "fabricid",
    "affectedobjecttypes",
    "jobstatus",
    "jobname",
    "timezoneoffset",
    "joboutputtype",
}
_CLAUSE = re.compile(r"\s*(?P<name>\w+)\s+eq\s+'(?P<value>[^']*)'\s*", re.IGNORECASE)


def _filter_clauses(odata: str) -> list[tuple[str, str]]:
    """``name eq 'value'`` clauses joined by ``and``; a malformed filter or an unknown property is a 400."""
    if not odata.strip():
        return []
    clauses = []
    for part in re.split(r"\s+and\s+", odata.strip(), flags=re.IGNORECASE):
        found = _CLAUSE.fullmatch(part)
        if found is None:
            raise EmulatorHttpError(400, "InvalidFilter", f"The $filter '{odata}' is not valid: '{part}'.")
        name = found["name"].lower()
        if name not in _JOB_QUERY_PROPERTIES:
            raise EmulatorHttpError(400, "InvalidFilter", f"The $filter property '{found['name']}' is not supported.")
        clauses.append((name, found["value"]))
    return clauses


def _filter_time(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EmulatorHttpError(400, "InvalidFilter", f"The {name} '{value}' is not a date and time.") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _listed_start(job: _Job, now: datetime) -> datetime:
    """The start time a job reports (its queue time while it has not started), which the filter compares."""
    return job.start if now >= job.start else job.created
