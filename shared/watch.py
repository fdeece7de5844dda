"""Wake on change: what a waiting VM orchestration tells the watchers, and when a watcher wakes it.

A VM that waits on Site Recovery does not poll. It records what it waits for in its custom status
(:class:`WaitingFor`, on :class:`shared.lifecycle.VmProgress`) and waits for an external event. Two timer-triggered
watchers read Site Recovery for the whole vault, one request per page, and raise an event to a VM only when what it
waits for happened:

- the replication watch (:mod:`functions.triggers.watch`, every few seconds, and only while some VM waits) reads
  the vault's job list filtered by start time (``replicationJobs?$filter=startTime eq '…'``, the
  ``JobQueryParameter`` of the REST spec) and raises :data:`shared.pipeline.JOB_EVENT` with the job's status once
  a job a VM waits for ended; it reads the vault's protected items while a VM waits for its final sync and raises
  :data:`shared.pipeline.FINAL_SYNC_EVENT` once the item reports a recovery point newer than the source's stop;
- the same replication watch asks the ``command_watch`` Lambda, once per Region, which of the guest commands VMs
  wait for (SSM Run Command) ended (SSM's ListCommands filtered by request time, one request per page) and raises
  :data:`shared.pipeline.COMMAND_EVENT` with the command's invocation to each VM whose command ended;
- the discovery watch (same module, every minute) reads the InMageRcm fabric and the Azure Migrate site's machines
  (one read of each, paged, for all the VMs waiting there) while a VM waits for its machine to be discovered with its
  agent registered, and raises :data:`shared.pipeline.DISCOVERY_EVENT` with the match once it is (or once two
  machines match: the VM fails, naming both);
- the replication-health sweep (:mod:`functions.triggers.health`, every 15 minutes) raises
  :data:`shared.pipeline.HEALTH_EVENT` when initial replication completed or the health level changed, and the
  final-sync event too for the items it reads anyway.

The safety net (the VM reading for itself, in case an event never comes) is timed by the replication watch too:
the wait publishes when it wants to look (:attr:`WaitingFor.look_at`) and the watch raises
:data:`shared.pipeline.LOOK_EVENT` once that time passed (:func:`looks_due`). A durable timer per look would do the
same, but a durable timer cannot be withdrawn: one that lost the race to its event still woke the orchestration
once, for nothing (3.3 times per VM, measured at 1,000 VMs). The wait keeps one durable timer, at its deadline: the
backstop that fails it on time if no watch runs at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.aws_contracts import CommandStatusResult, WatchedCommand
from shared.site_recovery import FindMachineSpec, JobStatus, MachineMatch, ProtectedItemSummary, VaultRef

#: How far before the earliest wait's ``since`` the job list is read. A job wait's ``since`` is when the VM asked for
#: the action (:attr:`functions.activities.site_recovery.ActionStarted.requested_at`): the job the action creates
#: starts (Site Recovery stamps the start when it leaves its queue) no earlier, so the margin covers only the
#: clocks of the Functions host and Site Recovery. A job found already running (an action adopted from an earlier
#: request, a failover awaited before it is cancelled) may have started earlier: the VM's safety-net read finds it.
#: Each tick reads every job from there on, so the margin is also what every tick pays for (was 10 min, when
#: ``since`` was the wait's start).
JOB_LOOKBACK = timedelta(minutes=2)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: How far before the earliest command wait's ``since`` (when the VM asked for the command to be sent) SSM's command
#: list is read: the command is requested later, so this covers only the clocks of the Functions host and AWS.
COMMAND_LOOKBACK = timedelta(minutes=2)


class WaitKind(StrEnum):
    JOB = "job"
    FINAL_SYNC = "final_sync"
    DISCOVERY = "discovery"
    COMMAND = "command"


class WaitingFor(_Model):
    """What a VM orchestration waits for, published in its custom status for the watchers.

    ``job``: the Site Recovery job ``job_name`` to end. ``final_sync``: a recovery point of ``item_name`` newer
    than ``since`` (the source's stop). ``discovery``: the machine ``discovery`` looks for, discovered on its site
    with its agent registered (``item_name`` is empty: no protected item yet). ``command``: the guest command
    ``command`` (sent in ``region``, "" for the Lambdas' own) to end; no vault. ``since`` is when the wait began (for
    a job or a command: when the VM asked for it). ``look_at``: when the VM reads for itself if no event came (the
    safety net; the watch raises the look event).
    """

    kind: WaitKind
    vault: VaultRef | None = None
    item_name: str = ""
    since: datetime
    job_name: str = ""
    discovery: FindMachineSpec | None = None
    region: str = ""
    command: WatchedCommand | None = None
    look_at: datetime | None = None


class JobsPageRequest(_Model):
    """One page of the vault's jobs that started at or after ``started_from``; no token: the first page."""

    vault: VaultRef
    started_from: datetime
    continuation_token: str | None = None


class JobsPage(_Model):
    jobs: tuple[JobStatus, ...]
    continuation_token: str | None = None


def job_filter(started_from: datetime) -> str:
    """The OData ``$filter`` of ``ReplicationJobs_List`` for jobs from ``started_from`` (``JobQueryParameter``'s
    ``startTime``, "Date time to get jobs from"), in UTC ISO 8601."""
    moment = started_from.astimezone(UTC).replace(microsecond=0)
    return f"startTime eq '{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def discovery_settled(match: MachineMatch) -> bool:
    """Whether a discovery wait is over: its machine is there with its agent registered, or two machines match (which
    fails the VM, naming both)."""
    return match.ambiguous or (match.machine is not None and match.machine.agent_registered)


def match_of_event(data: Any) -> MachineMatch | None:
    """The settled match in a discovery event's data; None for bad data or a match that is not settled."""
    try:
        match = MachineMatch.model_validate(data if isinstance(data, dict) else {})
    except ValueError:
        return None
    return match if discovery_settled(match) else None


def job_event(status: JobStatus) -> dict[str, Any]:
    """The data of a job-completed event: the job's status as the job list reported it."""
    return status.model_dump(mode="json")


def job_of_event(data: Any, job_name: str) -> JobStatus | None:
    """The ended job ``job_name`` in an event's data; None for another job, a job still running or bad data."""
    try:
        status = JobStatus.model_validate(data if isinstance(data, dict) else {})
    except ValueError:
        return None
    if status.name.lower() != job_name.lower() or not status.is_terminal:
        return None
    return status


def command_of_event(data: Any, command_id: str) -> CommandStatusResult | None:
    """The ended command ``command_id`` in a command event's data; None for another command, one still running or
    bad data."""
    try:
        status = CommandStatusResult.model_validate(data if isinstance(data, dict) else {})
    except ValueError:
        return None
    if status.command_id.lower() != command_id.lower() or not status.invocations or not status.finished:
        return None
    return status


def final_sync_event(item: ProtectedItemSummary, waiting: WaitingFor) -> dict[str, Any] | None:
    """The final-sync event for a VM waiting on ``item``: only once the item reports a recovery point newer than
    the source's stop (``waiting.since``)."""
    point_time = item.last_recovery_point_time
    if waiting.kind is not WaitKind.FINAL_SYNC or point_time is None or point_time <= waiting.since:
        return None
    return {
        "item_name": item.item.item_name,
        "recovery_point_id": item.last_recovery_point_id,
        "recovery_point_time": point_time.isoformat(),
    }


def final_sync_reached(data: Any, waiting: WaitingFor) -> bool:
    """Whether a final-sync event is about this wait (a later read of the recovery points confirms it)."""
    if not isinstance(data, dict) or str(data.get("item_name") or "").lower() != waiting.item_name.lower():
        return False
    try:
        point_time = datetime.fromisoformat(str(data.get("recovery_point_time")))
    except ValueError:
        return False
    return point_time.tzinfo is not None and point_time > waiting.since


def look_event(waiting: WaitingFor) -> dict[str, Any]:
    """The data of a look event: the ``look_at`` it answers (a VM takes only the look it asked for last)."""
    assert waiting.look_at is not None
    return {"look_at": waiting.look_at.isoformat()}


def looks_due(waits: Iterable[tuple[str, WaitingFor]], now: datetime) -> list[tuple[str, WaitingFor]]:
    """The waits whose look time has come at ``now``."""
    return [(o, w) for o, w in waits if w.look_at is not None and w.look_at <= now]


def look_taken(data: Any, look_at: datetime) -> bool:
    """Whether a look event answers the wait's current ``look_at``; one raised for an earlier look (the watch ticked
    again before the VM had published its next one) or bad data is not."""
    if not isinstance(data, dict):
        return False
    try:
        asked = datetime.fromisoformat(str(data.get("look_at")))
    except ValueError:
        return False
    return asked.tzinfo is not None and asked == look_at
