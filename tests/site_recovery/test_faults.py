"""Injected faults become the right pipeline errors; retries and replication run on the virtual clock."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.site_recovery import FaultKind, Operation, RequestFault, SiteRecoveryEmulator, build_emulated_client
from shared.errors import JobFailedError, NotFoundError, OperationInProgressError, TransientError
from shared.site_recovery import (
    DiscoverTopologySpec,
    FindMachineSpec,
    JobRef,
    MachineQuery,
    ProtectedItemRef,
    TestFailoverSpec,
    VaultRef,
    can_test_failover,
)
from tests.site_recovery.conftest import APPLIANCE, DISKS, TEST_VNET, enable, register, run_for


def test_429_with_retry_after_is_retried_by_the_sdk_on_the_virtual_clock(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    emulator.inject(RequestFault(kind=FaultKind.THROTTLE, operation=Operation.LIST_FABRICS, retry_after_seconds=45))
    before, real = emulator.clock.now(), time.perf_counter()
    topology = gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    assert topology.provider == "InMageRcm"
    assert [r.status for r in emulator.requests if r.operation == Operation.LIST_FABRICS] == [429, 200]
    assert emulator.clock.now() - before >= timedelta(seconds=45)
    assert time.perf_counter() - real < 0.5


def test_429_on_an_action_is_retried_too(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    emulator.inject(RequestFault(kind=FaultKind.THROTTLE, operation=Operation.ENABLE, times=2))
    _, _, job = enable(gateway, emulator, vault)
    assert [r.status for r in emulator.requests if r.operation == Operation.ENABLE] == [429, 429, 202]
    assert gateway.get_job(JobRef(vault=vault, job_name=job)).state == "NotStarted"


def test_persistent_throttling_and_503_on_post_become_transient(
    emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator, retry_total=2))
    emulator.inject(RequestFault(kind=FaultKind.THROTTLE, operation=Operation.GET_JOB, times=None))
    with pytest.raises(TransientError) as caught:
        gateway.get_job(JobRef(vault=vault, job_name="some-job"))
    assert caught.value.code == "TooManyRequests"
    emulator.clear_faults()

    _, item, _ = enable(gateway, emulator, vault)
    run_for(emulator.clock, 6 * 3600)  # type: ignore[arg-type]
    emulator.inject(RequestFault(kind=FaultKind.UNAVAILABLE, operation=Operation.TEST_FAILOVER, times=None))
    with pytest.raises(TransientError) as unavailable:
        gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET))
    assert unavailable.value.code == "ServiceUnavailable"
    assert emulator.count_requests(operation=Operation.TEST_FAILOVER) == 3  # azure-core retries POST 503 (total 2)
    emulator.clear_faults()
    emulator.inject(RequestFault(kind=FaultKind.THROTTLE_NO_RETRY_AFTER, operation=Operation.TEST_FAILOVER))
    with pytest.raises(TransientError) as throttled:
        gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET))
    assert throttled.value.code == "TooManyRequests"
    assert emulator.count_requests(operation=Operation.TEST_FAILOVER) == 4  # POST 429 without Retry-After: no retry
    emulator.inject(RequestFault(kind=FaultKind.TIMEOUT, operation=Operation.TEST_FAILOVER))
    with pytest.raises(TransientError) as timeout:
        gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET))
    assert timeout.value.code == "Timeout"


def test_409_while_a_job_runs_is_operation_in_progress(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    _, item, _ = enable(gateway, emulator, vault)
    with pytest.raises(OperationInProgressError) as natural:
        gateway.stop_replication(item)
    assert "in progress" in natural.value.message
    run_for(emulator.clock, 6 * 3600)  # type: ignore[arg-type]
    emulator.inject({"kind": "conflict", "operation": "test_failover", "machine": "web01"})
    with pytest.raises(OperationInProgressError):
        gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET))
    started = gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET))
    assert started.job.job_name


def test_failed_job_raises_job_failed_with_its_code_and_message(
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
    _, item, job = enable(gateway, emulator, vault)
    assert gateway.get_job(JobRef(vault=vault, job_name=job)).state == "NotStarted"
    run_for(emulator.clock, 600)  # type: ignore[arg-type]
    with pytest.raises(JobFailedError) as caught:
        gateway.get_job(JobRef(vault=vault, job_name=job))
    assert caught.value.code == "ProcessServerUnreachable"
    assert caught.value.message == "The process server could not be reached."
    with pytest.raises(NotFoundError):  # a failed enable leaves no protected item behind
        gateway.get_replication_status(item)


def test_not_found_names_the_resource(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    item = ProtectedItemRef(
        vault=vault,
        fabric_name=emulator.estate.fabrics[0].name,
        container_name=emulator.estate.fabrics[0].container_name,
        item_name="no-such-item",
    )
    with pytest.raises(NotFoundError) as caught:
        gateway.get_replication_status(item)
    assert "no-such-item" in caught.value.resource
    with pytest.raises(NotFoundError) as job:
        gateway.get_job(JobRef(vault=vault, job_name="missing-job"))
    assert job.value.resource == "replicationJobs/missing-job"
    other = vault.model_copy(update={"vault_name": "other-vault"})
    with pytest.raises(NotFoundError) as vault_error:
        gateway.discover_topology(DiscoverTopologySpec(vault=other, appliance=APPLIANCE))
    assert "other-vault" in vault_error.value.message


def test_the_machine_is_ready_only_once_discovered_and_its_agent_registered(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    topology = gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    spec = FindMachineSpec(topology=topology, query=MachineQuery(ip_address="10.0.1.7"))
    assert gateway.find_machine(spec).machine is None
    emulator.discover_machine("db01", "10.0.1.7", "EC2AAAAA-0000-4000-8000-000000000007", "linux", disks=DISKS)
    found = gateway.find_machine(spec)
    assert found.machine is not None and not found.machine.agent_registered  # discovered, agent not yet
    emulator.register_agent("db01")
    assert not gateway.find_machine(spec).machine.agent_registered  # type: ignore[union-attr]
    run_for(emulator.clock, emulator.estate.timings.discovery_seconds)  # type: ignore[arg-type]
    found = gateway.find_machine(spec)
    assert found.machine is not None and found.machine.agent_registered and len(found.machine.disks) == 3
    assert [d.is_os_disk for d in found.machine.disks] == [True, False, False]


def test_machines_are_found_across_pages_with_the_clients_retries(
    emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    """Azure Migrate's listing is read page by page through the client's pipeline: a 429 is retried by the SDK, a
    persistent one is transient."""
    emulator.estate.machines_page_size = 10
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator, retry_total=2))
    for index in range(1, 36):
        register(emulator, f"vm{index:03d}", index)
    run_for(emulator.clock, 120)  # type: ignore[arg-type]
    topology = gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    emulator.clear_requests()
    spec = FindMachineSpec(topology=topology, query=MachineQuery(hostname="vm035"))
    found = gateway.find_machine(spec)
    assert found.machine is not None and found.machine.display_name == "vm035" and found.matched_by == "hostname"
    assert emulator.count_requests(operation=Operation.LIST_MACHINES) == 4
    emulator.inject(RequestFault(kind=FaultKind.THROTTLE, operation=Operation.LIST_MACHINES))
    emulator.clear_requests()
    assert gateway.find_machine(spec).machine is not None
    assert [r.status for r in emulator.requests if r.operation == Operation.LIST_MACHINES][:2] == [429, 200]
    emulator.inject(RequestFault(kind=FaultKind.THROTTLE, operation=Operation.LIST_MACHINES, times=None))
    with pytest.raises(TransientError):
        gateway.find_machine(spec)
    emulator.clear_faults()


def test_stuck_initial_replication_degraded_health_and_rpo_stall(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    _, stuck, _ = enable(gateway, emulator, vault, name="stuck01", index=1)
    emulator.set_behaviour("stuck01", {"stuck_at_percent": 42})
    _, sick, _ = enable(gateway, emulator, vault, name="sick01", index=2)
    _, slow, _ = enable(gateway, emulator, vault, name="slow01", index=3)
    run_for(emulator.clock, 10 * 3600)  # type: ignore[arg-type]

    status = gateway.get_replication_status(stuck)
    assert status.initial_replication_percent == 42 and not can_test_failover(status)
    assert status.replication_health == "Warning"
    assert [e.code for e in status.health_errors] == ["InitialReplicationNoProgress"]

    emulator.set_health("sick01", "Warning")
    assert gateway.get_replication_status(sick).replication_health == "Warning"
    emulator.set_health("sick01", "Critical", code="DiskFull", message="The cache disk is full.")
    status = gateway.get_replication_status(sick)
    assert status.replication_health == "Critical"
    assert [(e.code, e.message) for e in status.health_errors] == [("DiskFull", "The cache disk is full.")]

    emulator.stall_replication("slow01")
    before = gateway.get_replication_status(slow)
    run_for(emulator.clock, 20 * 60)  # type: ignore[arg-type]
    warning = gateway.get_replication_status(slow)
    run_for(emulator.clock, 20 * 60)  # type: ignore[arg-type]
    critical = gateway.get_replication_status(slow)
    assert (before.rpo_seconds or 0) < (warning.rpo_seconds or 0) < (critical.rpo_seconds or 0)
    assert warning.replication_health == "Warning" and critical.replication_health == "Critical"
    assert critical.last_recovery_point_time == warning.last_recovery_point_time
    emulator.resume_replication("slow01")
    run_for(emulator.clock, 600)  # type: ignore[arg-type]
    assert gateway.get_replication_status(slow).replication_health == "Normal"


def test_concurrent_activities_share_one_emulator(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(index: int) -> str:
        return enable(gateway, emulator, vault, name=f"par{index:02d}", index=index)[2]

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = list(pool.map(one, range(1, 17)))
    assert len(set(jobs)) == 16
    assert emulator.count_requests(operation=Operation.ENABLE) == 16
