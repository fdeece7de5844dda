"""``replication_watch``: a timer that wakes a waiting VM orchestration only when what it waits for happened.

A VM waiting on a Site Recovery job, on its final sync or on a guest command says so in its custom status
(:class:`shared.watch.WaitingFor`) and waits for an event instead of polling. On each
tick (app setting ``REPLICATION_WATCH_SCHEDULE``, every 10 seconds in the templates) the watch lists the running
VM orchestrations; when none waits it reads nothing. Otherwise, per vault (and per Region for guest commands):

- jobs: the vault's job list filtered by start time (from the earliest wait, less :data:`shared.watch.JOB_LOOKBACK`),
  one request per page; each ended job a VM waits for raises :data:`shared.pipeline.JOB_EVENT` with its status;
- final syncs: the vault's protected items, one request per page; an item reporting a recovery point newer than
  the source's stop raises :data:`shared.pipeline.FINAL_SYNC_EVENT`;
- guest commands: per Region, one call of the ``command_watch`` Lambda for every VM waiting on a guest command (it
  reads SSM's command list from the earliest wait, less :data:`shared.watch.COMMAND_LOOKBACK`, one request per page);
  each command that ended raises :data:`shared.pipeline.COMMAND_EVENT` with its invocation;
- looks: a VM whose ``look_at`` passed (its safety net: it reads for itself in case an event never came) and that
  this tick woke for nothing else gets :data:`shared.pipeline.LOOK_EVENT`, whatever the kind of its wait.

``discovery_watch`` does the same for VMs waiting for their machine's discovery, on its own, slower schedule (app
setting ``DISCOVERY_WATCH_SCHEDULE``, every minute in the templates: each read lists the whole Azure Migrate site):
per site, one read of the InMageRcm fabric (its agents) and of the site's machines for every VM waiting there; a VM
whose machine is discovered with its agent registered (or matches two machines) gets
:data:`shared.pipeline.DISCOVERY_EVENT` with the match.

A failed read (throttled, unavailable) skips that vault until the next tick; the looks are raised all the same,
so the VMs' safety nets cover a vault the watch cannot read. A watch that does not run at all leaves each wait to its
deadline's durable timer (:meth:`functions.workflows.steps.Steps.await_change`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions import runtime
from functions.settings import DISCOVERY_WATCH_SCHEDULE_SETTING, WATCH_SCHEDULE_SETTING
from functions.triggers import bp
from functions.triggers.instances import list_instances
from functions.triggers.pages import protected_items
from shared import aws_contracts as awsc
from shared import site_recovery as sr
from shared.errors import MigrationError
from shared.pipeline import COMMAND_EVENT, DISCOVERY_EVENT, FINAL_SYNC_EVENT, JOB_EVENT, LOOK_EVENT
from shared.watch import (
    COMMAND_LOOKBACK,
    JOB_LOOKBACK,
    JobsPageRequest,
    WaitingFor,
    WaitKind,
    discovery_settled,
    final_sync_event,
    job_event,
    look_event,
    looks_due,
)

logger = logging.getLogger(__name__)

Waits = list[tuple[str, WaitingFor]]
#: The ``migration_id`` of the watch's Lambda calls (it acts for every waiting VM, not for one migration).
WATCH_ID = "replication-watch"
#: Commands per ``command_watch`` call (its event's limit).
WATCHED_PER_CALL = 1000


@bp.timer_trigger(schedule=f"%{WATCH_SCHEDULE_SETTING}%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def replication_watch(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Watch jobs, final syncs and guest commands, and time the VMs' looks, on the schedule in app setting
    ``REPLICATION_WATCH_SCHEDULE``."""
    report = await watch(client, runtime.current().now())
    if report["events"] or report["looks"] or report["errors"]:
        logger.info("replication watch: %s", report)


async def watch(client: Any, now: datetime) -> dict[str, int]:
    """One tick at ``now``; returns counts (VMs waiting, pages read, events raised, looks raised, vaults that failed
    a read)."""
    waiting = await waiting_vms(client)
    counts = {"waiting": len(waiting), "pages": 0, "events": 0, "looks": 0, "errors": 0}
    woken: set[str] = set()
    by_vault: dict[sr.VaultRef, Waits] = defaultdict(list)
    by_region: dict[str, Waits] = defaultdict(list)
    for orchestration_id, waits_for in waiting:
        if waits_for.command is not None:
            by_region[waits_for.region].append((orchestration_id, waits_for))
        elif waits_for.vault is not None:
            by_vault[waits_for.vault].append((orchestration_id, waits_for))
    for region, waits in by_region.items():
        try:
            await _commands(client, region, waits, woken, counts)
        except MigrationError as failed:
            counts["errors"] += 1
            logger.warning("replication watch: commands in %s not read this time: %s", region or "the default", failed)
    for vault, waits in by_vault.items():
        try:
            jobs = [(o, w) for o, w in waits if w.kind is WaitKind.JOB]
            if jobs:
                await _jobs(client, vault, jobs, woken, counts)
            syncs = [(o, w) for o, w in waits if w.kind is WaitKind.FINAL_SYNC]
            if syncs:
                await _final_syncs(client, vault, syncs, woken, counts)
        except MigrationError as failed:
            counts["errors"] += 1
            logger.warning("replication watch: vault %s not read this time: %s", vault.vault_name, failed)
    counts["events"] = len(woken)
    for orchestration_id, waits_for in looks_due(waiting, now):
        if orchestration_id not in woken:  # woken by its change: the wait it looked for has ended
            counts["looks"] += await _raise(client, orchestration_id, LOOK_EVENT, look_event(waits_for))
    return counts


async def waiting_vms(client: Any) -> Waits:
    """Running VM orchestrations that wait for a Site Recovery change, with what they wait for.

    Only the custom status's ``waiting_for`` is read (every tick reads every running VM; the rest of a VM's progress
    record is not the watch's business).
    """
    found: Waits = []
    for instance_id, custom in await _running_vms(client):
        waiting = custom.get("waiting_for") if isinstance(custom, dict) else None
        if not waiting:
            continue
        try:
            found.append((instance_id, WaitingFor.model_validate(waiting)))
        except ValueError:
            continue
    return found


@bp.timer_trigger(schedule=f"%{DISCOVERY_WATCH_SCHEDULE_SETTING}%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def discovery_watch(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Watch discovery for the waiting VMs on the schedule in app setting ``DISCOVERY_WATCH_SCHEDULE``."""
    report = await watch_discovery(client)
    if report["events"] or report["errors"]:
        logger.info("discovery watch: %s", report)


async def watch_discovery(client: Any) -> dict[str, int]:
    """One tick of the discovery watch: per Azure Migrate site with VMs waiting, one read of the fabric's agents and
    the site's machines; returns counts (VMs waiting, sites read, events raised, sites that failed a read)."""
    sites: dict[str, tuple[sr.ReplicationTopology, list[tuple[str, sr.MachineQuery]]]] = {}
    waiting = [(o, w.discovery) for o, w in await waiting_vms(client) if w.discovery is not None]
    for orchestration_id, discovery in waiting:
        topology = discovery.topology
        sites.setdefault(topology.model_dump_json(), (topology, []))[1].append((orchestration_id, discovery.query))
    counts = {"waiting": len(waiting), "sites": 0, "events": 0, "errors": 0}
    for topology, wanted in sites.values():
        gateway = runtime.current().site_recovery(topology.vault)
        try:
            matches = await asyncio.to_thread(gateway.match_machines, topology, [query for _, query in wanted])
        except MigrationError as failed:
            counts["errors"] += 1
            logger.warning("discovery watch: site %s not read this time: %s", topology.physical_site_id, failed)
            continue
        counts["sites"] += 1
        for (orchestration_id, _), match in zip(wanted, matches, strict=True):
            if discovery_settled(match):
                counts["events"] += await _raise(
                    client, orchestration_id, DISCOVERY_EVENT, match.model_dump(mode="json")
                )
    return counts


async def _running_vms(client: Any) -> list[tuple[str, Any]]:
    """The running VM orchestrations' instance ids and custom statuses, every page, without their inputs.

    Every tick reads them, and what the watch needs is the custom status; a VM's input (its request, target, facts)
    is most of an instance's size, so the query says ``showInput=false``. The answer's JSON is read as the HTTP API
    documents it (``instanceId``, ``customStatus``), without building the SDK's status objects (their timestamps,
    parsed per instance, were a tenth of the watch's time).
    """
    running = [df.OrchestrationRuntimeStatus.Running]
    listed = await list_instances(client, statuses=running, prefix="vm-", show_input=False)
    return [(str(item.get("instanceId")), item.get("customStatus")) for item in listed]


async def _jobs(client: Any, vault: sr.VaultRef, waits: Waits, woken: set[str], counts: dict[str, int]) -> None:
    wanted = {w.job_name.lower(): orchestration_id for orchestration_id, w in waits}
    request = JobsPageRequest(vault=vault, started_from=min(w.since for _, w in waits) - JOB_LOOKBACK)
    gateway = runtime.current().site_recovery(vault)
    unseen = set(wanted)
    while True:
        page = await asyncio.to_thread(gateway.list_jobs_page, request)
        counts["pages"] += 1
        for job in page.jobs:
            unseen.discard(job.name.lower())
            orchestration_id = wanted.get(job.name.lower()) if job.is_terminal else None
            if orchestration_id is not None and await _raise(client, orchestration_id, JOB_EVENT, job_event(job)):
                woken.add(orchestration_id)
        if not page.continuation_token or not unseen:
            return  # the last page, or every awaited job seen: later pages hold nothing a VM waits for
        request = request.model_copy(update={"continuation_token": page.continuation_token})


async def _commands(client: Any, region: str, waits: Waits, woken: set[str], counts: dict[str, int]) -> None:
    """Ask the ``command_watch`` Lambda which awaited commands ended (1,000 at most per call), and wake their VMs."""
    wanted = {w.command.command_id.lower(): (o, w.command) for o, w in waits if w.command is not None}
    since = min(w.since for _, w in waits) - COMMAND_LOOKBACK
    listed = list(wanted.values())
    for first in range(0, len(listed), WATCHED_PER_CALL):
        event = awsc.CommandWatchEvent(
            migration_id=WATCH_ID,
            region=region,
            invoked_after=since,
            commands=[command for _, command in listed[first : first + WATCHED_PER_CALL]],
        )
        answer = await asyncio.to_thread(
            runtime.current().lambdas.invoke, "command_watch", event.model_dump(mode="json")
        )
        result = awsc.CommandWatchResult.model_validate(answer)
        counts["pages"] += result.pages
        for ended in result.ended:
            found = wanted.get(ended.command_id.lower())
            if found is not None and await _raise(client, found[0], COMMAND_EVENT, ended.model_dump(mode="json")):
                woken.add(found[0])


async def _final_syncs(client: Any, vault: sr.VaultRef, waits: Waits, woken: set[str], counts: dict[str, int]) -> None:
    wanted = {w.item_name.lower(): (orchestration_id, w) for orchestration_id, w in waits}
    unseen = set(wanted)
    async for item in protected_items(runtime.current().site_recovery(vault), vault, counts):
        name = item.item.item_name.lower()
        unseen.discard(name)
        found = wanted.get(name)
        event = final_sync_event(item, found[1]) if found else None
        if found is not None and event is not None and await _raise(client, found[0], FINAL_SYNC_EVENT, event):
            woken.add(found[0])
        if not unseen:
            return  # every awaited item seen: the vault's other pages are not read


async def _raise(client: Any, orchestration_id: str, name: str, data: dict[str, Any]) -> int:
    """Raise one event; an orchestration that ended meanwhile is not an error of the watch."""
    try:
        await client.raise_event(orchestration_id, name, data)
    except Exception as gone:
        logger.info("replication watch: %s not raised to %s: %s", name, orchestration_id, gone)
        return 0
    return 1
