"""What the watches read: the discovery watch reads a site once for every VM waiting there and wakes only settled
waits; the replication watch stops paging once every awaited job or item was seen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions import runtime
from functions.settings import FunctionAppSettings
from functions.triggers import watch as watch_module
from functions.triggers.watch import watch, watch_discovery
from shared.aws_contracts import (
    CommandState,
    CommandStatusResult,
    CommandWatchEvent,
    CommandWatchResult,
    InvocationStatus,
    WatchedCommand,
)
from shared.azure_migrate import DiscoveredMachine, MachineMatch, MachineQuery
from shared.errors import MigrationError, TransientError
from shared.pipeline import COMMAND_EVENT, DISCOVERY_EVENT, JOB_EVENT, LOOK_EVENT
from shared.site_recovery import (
    FindMachineSpec,
    JobStatus,
    ProtectedItemRef,
    ProtectedItemsPage,
    ProtectedItemsPageRequest,
    ProtectedItemSummary,
    ReplicationTopology,
    VaultRef,
)
from shared.watch import (
    COMMAND_LOOKBACK,
    JobsPage,
    JobsPageRequest,
    WaitingFor,
    WaitKind,
    command_of_event,
    look_taken,
    match_of_event,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
VAULT = VaultRef(subscription_id="sub", resource_group="rg", vault_name="vault")
TOPOLOGY = ReplicationTopology(
    vault=VAULT,
    fabric_name="fabric",
    fabric_id="/fabric",
    container_name="container",
    container_id="/container",
    mapping_name="mapping",
    policy_id="/policy",
    policy_name="policy",
    process_server_id="ps-1",
    physical_site_id="/subscriptions/sub/resourceGroups/rg/providers/Microsoft.OffAzure/ServerSites/site",
)


def _machine(name: str, *, registered: bool) -> DiscoveredMachine:
    return DiscoveredMachine(id=f"{TOPOLOGY.physical_site_id}/machines/{name}", name=name, agent_registered=registered)


#: What the site answers per BIOS id: registered, discovered without its agent yet, two candidates, nothing.
ANSWERS = {
    "bios-ready": MachineMatch(machine=_machine("ready", registered=True), matched_by="BIOS id"),
    "bios-waiting": MachineMatch(machine=_machine("waiting", registered=False), matched_by="BIOS id"),
    "bios-twice": MachineMatch(matched_by="BIOS id", candidates=("a", "b")),
    "bios-none": MachineMatch(),
}


@dataclass
class _Status:
    instance_id: str
    custom_status: Any


@dataclass
class _Client:
    statuses: list[_Status]
    raised: list[tuple[str, str, Any]] = field(default_factory=list)

    async def listed(self) -> list[dict[str, Any]]:
        """The instance query's JSON (paging is tested in tests/functions/test_instance_listing.py)."""
        return [{"instanceId": s.instance_id, "customStatus": s.custom_status} for s in self.statuses]

    async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        self.raised.append((instance_id, name, data))


def _item(name: str) -> ProtectedItemSummary:
    ref = ProtectedItemRef(vault=VAULT, fabric_name="fabric", container_name="container", item_name=name)
    return ProtectedItemSummary(item=ref, last_recovery_point_time=NOW)


#: Two pages of the vault's jobs and of its protected items.
JOB_PAGES = {None: (("job-1", "job-2"), "2"), "2": (("job-3",), None)}
ITEM_PAGES = {None: (("ec2-1", "ec2-2"), "2"), "2": (("ec2-3",), None)}


@dataclass
class _Site:
    reads: list[int] = field(default_factory=list)
    down: bool = False
    pages: list[str] = field(default_factory=list)

    def list_jobs_page(self, request: JobsPageRequest) -> JobsPage:
        self.pages.append(f"jobs {request.continuation_token or 1}")
        names, token = JOB_PAGES[request.continuation_token]
        return JobsPage(jobs=tuple(JobStatus(name=n, state="Succeeded") for n in names), continuation_token=token)

    def list_protected_items_page(self, request: ProtectedItemsPageRequest) -> ProtectedItemsPage:
        self.pages.append(f"items {request.continuation_token or 1}")
        names, token = ITEM_PAGES[request.continuation_token]
        return ProtectedItemsPage(items=tuple(_item(n) for n in names), continuation_token=token)

    def match_machines(self, topology: ReplicationTopology, queries: Sequence[MachineQuery]) -> list[MachineMatch]:
        if self.down:
            raise MigrationError("throttled", code="SubscriptionRequestsThrottled")
        self.reads.append(len(queries))
        return [ANSWERS[query.bios_id or ""] for query in queries]


def _waiting(bios: str) -> dict[str, Any]:
    spec = FindMachineSpec(topology=TOPOLOGY, query=MachineQuery(instance_id=f"i-{bios}", bios_id=bios))
    wait = WaitingFor(kind=WaitKind.DISCOVERY, vault=VAULT, item_name="", since=NOW, discovery=spec)
    return {"state": "registering_agent", "waiting_for": wait.model_dump(mode="json")}


@pytest.fixture(autouse=True)
def _listing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def listed(client: _Client, **_: Any) -> list[dict[str, Any]]:
        return await client.listed()

    monkeypatch.setattr(watch_module, "list_instances", listed)


@dataclass
class _Lambdas:
    """The command_watch Lambda: answers which of the asked commands ended (``ended``), or fails (``down``)."""

    ended: set[str] = field(default_factory=set)
    calls: list[CommandWatchEvent] = field(default_factory=list)
    down: bool = False

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        assert function == "command_watch"
        asked = CommandWatchEvent.model_validate(event)
        self.calls.append(asked)
        if self.down:
            raise TransientError("Rate exceeded", code="TooManyRequestsException")
        ended = [
            CommandStatusResult(
                command_id=c.command_id,
                invocations=[InvocationStatus(instance_id=c.instance_id, state=CommandState.SUCCEEDED, exit_code=0)],
            )
            for c in asked.commands
            if c.command_id in self.ended
        ]
        return CommandWatchResult(ended=ended, pages=1).model_dump(mode="json")


@pytest.fixture
def lambdas() -> _Lambdas:
    return _Lambdas()


@pytest.fixture
def site(lambdas: _Lambdas) -> Iterator[_Site]:
    site = _Site()
    runtime.install(
        runtime.Runtime(
            settings=FunctionAppSettings(),
            lambdas=lambdas,  # type: ignore[arg-type]
            events=None,  # type: ignore[arg-type]
            site_recovery=lambda vault: site,  # type: ignore[arg-type,return-value]
        )
    )
    yield site
    runtime.install(None)


def _client() -> _Client:
    job_wait = WaitingFor(kind=WaitKind.JOB, vault=VAULT, item_name="ec2-i-9", since=NOW, job_name="job-9")
    return _Client(
        [
            *(_Status(f"vm-{bios}", _waiting(bios)) for bios in ANSWERS),
            _Status("vm-job", {"waiting_for": job_wait.model_dump(mode="json")}),
            _Status("vm-busy", {"state": "preparing_guest", "waiting_for": None}),
        ]
    )


def test_one_read_of_the_site_answers_every_waiting_vm_and_only_settled_waits_are_woken(site: _Site) -> None:
    client = _client()
    counts = asyncio.run(watch_discovery(client))
    assert site.reads == [4]  # one read for the four VMs waiting on that site; the job's and the busy VM's: none
    assert counts == {"waiting": 4, "sites": 1, "events": 2, "errors": 0}
    woken = {instance: data for instance, name, data in client.raised if name == DISCOVERY_EVENT}
    assert set(woken) == {"vm-bios-ready", "vm-bios-twice"}  # registered, or ambiguous (the VM fails, naming both)
    ready = match_of_event(woken["vm-bios-ready"])
    assert ready is not None and ready.machine is not None and ready.machine.name == "ready"
    twice = match_of_event(woken["vm-bios-twice"])
    assert twice is not None and twice.ambiguous


def test_a_site_that_cannot_be_read_wakes_nobody_and_is_counted(site: _Site) -> None:
    site.down = True
    client = _client()
    counts = asyncio.run(watch_discovery(client))
    assert counts["errors"] == 1 and counts["events"] == 0 and not client.raised


def test_a_discovery_event_wakes_only_on_a_settled_match() -> None:
    assert match_of_event(ANSWERS["bios-waiting"].model_dump(mode="json")) is None
    assert match_of_event(ANSWERS["bios-none"].model_dump(mode="json")) is None
    assert match_of_event({"machine": {"name": "no id"}}) is None and match_of_event("x") is None


def _waits(*waits: WaitingFor) -> _Client:
    return _Client([_Status(f"vm-{i}", {"waiting_for": w.model_dump(mode="json")}) for i, w in enumerate(waits)])


def _job(name: str) -> WaitingFor:
    return WaitingFor(kind=WaitKind.JOB, vault=VAULT, item_name="ec2-1", since=NOW, job_name=name)


def _sync(item: str) -> WaitingFor:
    return WaitingFor(kind=WaitKind.FINAL_SYNC, vault=VAULT, item_name=item, since=NOW - timedelta(minutes=5))


@pytest.mark.parametrize(
    ("waits", "pages"),
    [
        ((_job("job-1"),), ["jobs 1"]),  # every awaited job on the first page: the second is not read
        ((_job("job-1"), _job("job-3")), ["jobs 1", "jobs 2"]),
        ((_job("job-9"),), ["jobs 1", "jobs 2"]),  # not listed (yet): every page is read
        ((_sync("ec2-2"),), ["items 1"]),
        ((_sync("ec2-1"), _sync("ec2-3")), ["items 1", "items 2"]),
    ],
)
def test_the_replication_watch_stops_paging_once_every_awaited_job_or_item_was_seen(
    site: _Site, waits: tuple[WaitingFor, ...], pages: list[str]
) -> None:
    client = _waits(*waits)
    counts = asyncio.run(watch(client, NOW))
    assert site.pages == pages
    assert counts["events"] == len([w for w in waits if w.job_name != "job-9"])


def test_the_watch_raises_a_look_once_due_and_never_to_a_vm_it_woke_in_the_same_tick(site: _Site) -> None:
    due, later = NOW - timedelta(seconds=1), NOW + timedelta(seconds=1)
    client = _waits(
        _job("job-1").model_copy(update={"look_at": due}),  # its job ended: the job event, no look
        _job("job-9").model_copy(update={"look_at": due}),  # not listed: its look
        _job("job-9").model_copy(update={"look_at": later}),  # not yet
        _sync("ec2-9").model_copy(update={"look_at": NOW}),  # any kind: due at the tick itself
        WaitingFor(kind=WaitKind.JOB, vault=VAULT, item_name="ec2-1", since=NOW, job_name="job-8"),  # no look asked
    )
    counts = asyncio.run(watch(client, NOW))
    raised = [(instance, name) for instance, name, _ in client.raised]
    assert raised == [("vm-0", JOB_EVENT), ("vm-1", LOOK_EVENT), ("vm-3", LOOK_EVENT)]
    assert counts["events"] == 1 and counts["looks"] == 2
    looks = {instance: data for instance, name, data in client.raised if name == LOOK_EVENT}
    assert look_taken(looks["vm-1"], due) and not look_taken(looks["vm-1"], later)


def test_a_vault_the_watch_cannot_read_still_gets_its_looks(site: _Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(request: JobsPageRequest) -> JobsPage:
        raise MigrationError("throttled", code="SubscriptionRequestsThrottled")

    monkeypatch.setattr(site, "list_jobs_page", down)
    client = _waits(_job("job-1").model_copy(update={"look_at": NOW}))
    counts = asyncio.run(watch(client, NOW))
    assert counts["errors"] == 1 and [name for _, name, _ in client.raised] == [LOOK_EVENT]


def test_a_look_is_taken_only_for_the_time_the_wait_asked_last() -> None:
    asked = NOW
    assert look_taken({"look_at": asked.isoformat()}, asked)
    assert not look_taken({"look_at": (asked - timedelta(seconds=10)).isoformat()}, asked)  # an earlier look's
    assert not look_taken({"look_at": "2026-12-07T12:00:00"}, asked)  # no zone: not ours
    assert not look_taken({"look_at": "soon"}, asked) and not look_taken(None, asked) and not look_taken({}, asked)


def _command(number: int, region: str = "") -> WaitingFor:
    command = WatchedCommand(command_id=f"{number:08d}-0000-4000-8000-000000000000", instance_id=f"i-{number:017x}")
    return WaitingFor(kind=WaitKind.COMMAND, since=NOW - timedelta(minutes=number), region=region, command=command)


def test_one_command_watch_call_per_region_wakes_only_the_vms_whose_command_ended(
    site: _Site, lambdas: _Lambdas
) -> None:
    waits = (_command(1), _command(2), _command(3, "eu-west-1"))
    assert waits[0].command is not None and waits[2].command is not None
    lambdas.ended = {waits[0].command.command_id, waits[2].command.command_id}
    client = _waits(*waits)
    counts = asyncio.run(watch(client, NOW))
    assert [(call.region, len(call.commands)) for call in lambdas.calls] == [("", 2), ("eu-west-1", 1)]
    # the command list is read from the earliest ask in the Region, less the clocks' margin
    assert lambdas.calls[0].invoked_after == NOW - timedelta(minutes=2) - COMMAND_LOOKBACK
    raised = {instance: data for instance, name, data in client.raised if name == COMMAND_EVENT}
    assert set(raised) == {"vm-0", "vm-2"} and counts["events"] == 2
    assert command_of_event(raised["vm-0"], waits[0].command.command_id) is not None
    assert command_of_event(raised["vm-0"], waits[2].command.command_id) is None  # another VM's command
    assert not site.pages  # no vault is read for a command


def test_a_command_watch_that_fails_is_counted_and_the_looks_still_come(site: _Site, lambdas: _Lambdas) -> None:
    lambdas.down = True
    client = _waits(_command(1).model_copy(update={"look_at": NOW}))
    counts = asyncio.run(watch(client, NOW))
    assert counts["errors"] == 1 and [name for _, name, _ in client.raised] == [LOOK_EVENT]
