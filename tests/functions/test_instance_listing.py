"""The timers list running VMs through every page of the Durable HTTP API's instance query.

The anchor is the extension's source (Azure/azure-functions-durable-extension): ``HttpApiHandler`` answers an
instance query with ``OrchestrationStatusQueryCondition.PageSize`` instances ("The default value is 100") and the
next page's token in the ``x-ms-continuation-token`` response header, read back from the request header of that
name. The local host answers the same way; the SDK's ``get_status_by`` reads the first page only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import aiohttp
import azure.durable_functions as df
import pytest

from functions.triggers import health
from functions.triggers.instances import CONTINUATION_HEADER, list_instances
from functions.triggers.watch import waiting_vms
from local.app import APP_PATH, DEFAULT_APP_SETTINGS, app_settings
from local.clock import EPOCH
from local.host import LocalHost, VirtualClock
from local.host.loop import run_on_loop
from shared.lifecycle import VmProgress, VmState
from shared.site_recovery import VaultRef
from shared.watch import WaitingFor, WaitKind

RUNNING = 250


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """250 running VM orchestrations and one of another kind, as their status rows (their orchestrators never
    run: a listing reads the rows), and the client API started."""
    with (
        app_settings(DEFAULT_APP_SETTINGS),
        LocalHost.open(APP_PATH, tmp_path_factory.mktemp("host"), clock=VirtualClock()) as opened,
    ):
        for n in range(RUNNING):
            opened.start("migrate_vm", {"n": n}, f"vm-w-i-{n:04d}")
        opened.start("migrate_wave", {}, "wave-w")
        with opened._store.transaction() as db:  # as they run: Running, waiting for a job
            db.execute("UPDATE instances SET status = 'Running', custom_status_json = ?", (_WAITING,))
        opened.start_server()
        yield opened


VAULT = VaultRef(subscription_id="s", resource_group="rg", vault_name="v")
#: A VM in initial replication (the sweep watches it) waiting for a job (the watch reads it).
_WAITING = (
    VmProgress.start("w", "i-0", datetime(2026, 1, 5, 8, tzinfo=UTC))
    .model_copy(
        update={
            "state": VmState.INITIAL_REPLICATION,
            "protected_item": "ec2-x",
            "waiting_for": WaitingFor(kind=WaitKind.JOB, vault=VAULT, item_name="ec2-x", since=EPOCH, job_name="j"),
        }
    )
    .model_dump_json()
)


def _client(host: LocalHost) -> df.DurableOrchestrationClient:
    return df.DurableOrchestrationClient(host.client_binding_json)


async def _first_page(host: LocalHost) -> tuple[int, str]:
    url = f"{host.rpc_base_url}instances/?runtimeStatus=Running"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return len(await response.json()), response.headers.get(CONTINUATION_HEADER, "")


def test_the_local_host_answers_a_query_a_page_of_100_at_a_time_as_the_extension_does(host: LocalHost) -> None:
    count, token = run_on_loop(_first_page(host))
    assert count == 100 and token
    listed = run_on_loop(_client(host).get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Running]))
    assert len(listed) == 100  # what the SDK's get_status_by sees: the first page


def test_every_running_vm_is_listed_across_pages(host: LocalHost) -> None:
    running = [df.OrchestrationRuntimeStatus.Running]
    listed = run_on_loop(list_instances(_client(host), statuses=running, prefix="vm-", show_input=False))
    ids = [item["instanceId"] for item in listed]
    assert len(ids) == len(set(ids)) == RUNNING and all(i.startswith("vm-") for i in ids)
    assert all("input" not in item or item["input"] is None for item in listed)
    small_pages = run_on_loop(list_instances(_client(host), statuses=running))
    assert len(small_pages) == RUNNING + 1  # the wave too: no prefix


def test_the_replication_watch_and_the_health_sweep_see_every_waiting_vm(
    host: LocalHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = run_on_loop(waiting_vms(_client(host)))
    assert len(waiting) == RUNNING
    names = iter(range(RUNNING))
    # each VM's vault, as its input would name it (one protected item per VM, so none hides another)
    monkeypatch.setattr(health, "_vault_of", lambda _input: VAULT.model_copy(update={"vault_name": f"v{next(names)}"}))
    watched = run_on_loop(health._watched_vms(_client(host)))
    assert len(watched) == RUNNING
