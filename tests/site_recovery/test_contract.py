"""The gateway against the emulator through the real SiteRecoveryManagementClient (InMageRcm, the only provider),
and both against fixtures from sources we did not write (``tests/fixtures/README.md``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.site_recovery import API_VERSION, MIGRATE_API_VERSION, Operation, SiteRecoveryEmulator, thawed
from shared.site_recovery import (
    JobRef,
    MigrateSpec,
    ProtectedItemsPageRequest,
    TestFailoverSpec,
    VaultRef,
    can_cleanup_test_failover,
    can_commit,
    can_migrate,
    can_stop_replication,
    can_test_failover,
    latest_recovery_point_after,
)
from tests.site_recovery.conftest import AVSET, CACHE, DES, RG_ID, TEST_VNET, VNET, enable, run_for
from tests.site_recovery.sdk_contract import unknown_rcm_keys

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "site-recovery-api-2025-08-01"


def _finish(gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef, job: str) -> None:
    status = gateway.get_job(JobRef(vault=vault, job_name=job))
    assert status.state in {"NotStarted", "InProgress"}, "actions must not wait for their job"
    run_for(emulator.clock, 3600)  # type: ignore[arg-type]
    assert gateway.get_job(JobRef(vault=vault, job_name=job)).succeeded


def _last(emulator: SiteRecoveryEmulator, operation: Operation) -> Any:
    return [r for r in emulator.requests if r.operation == operation][-1]


def test_full_migration_lifecycle(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    started_real = time.perf_counter()
    topology, item, job = enable(gateway, emulator, vault)
    assert topology.process_server_id == emulator.estate.fabrics[0].process_server.id
    assert topology.physical_site_id == emulator.physical_site_id(emulator.estate.fabrics[0])

    put = _last(emulator, Operation.ENABLE)
    assert put.method == "PUT" and put.api_version == API_VERSION
    assert put.path.endswith(f"/replicationProtectedItems/{item.item_name}")
    props = put.body["properties"]
    assert props["policyId"] == topology.policy_id
    assert props["protectableItemId"] == ""
    details = thawed(props["providerSpecificDetails"])
    assert details["instanceType"] == "InMageRcm"
    assert details["processServerId"] == topology.process_server_id
    assert details["targetAvailabilityZone"] == "2" and "targetAvailabilitySetId" not in details
    assert details["licenseType"] == "WindowsServer"
    disks = details["disksToInclude"]
    assert [d["diskType"] for d in disks] == ["Premium_LRS", "StandardSSD_LRS"]  # third disk excluded
    assert all(d["diskEncryptionSetId"] == DES and d["logStorageAccountId"] == CACHE for d in disks)
    assert details["targetResourceGroupId"] == RG_ID
    assert details["targetNetworkId"] == VNET and details["targetSubnetName"] == "snet-app"
    assert details["testNetworkId"] == TEST_VNET and details["testSubnetName"] == "snet-test"
    assert details["targetVmName"] == "web01" and details["targetVmSize"] == "Standard_D4s_v5"
    machine = emulator._machine("web01")
    assert details["fabricDiscoveryMachineId"] == emulator.machine_id(machine)
    assert details["fabricDiscoveryMachineId"].startswith(topology.physical_site_id + "/machines/")
    assert details["runAsAccountId"].startswith(topology.physical_site_id + "/runasaccounts/")
    assert {d["diskId"] for d in disks} <= {d.disk_id for d in machine.disks}
    assert {"tagName": "wave", "tagValue": "w1"} in details["targetVmTags"]
    assert details["targetNicTags"] == [{"tagName": "nic", "tagValue": "primary"}]
    assert details["targetManagedDiskTags"] == [{"tagName": "backup", "tagValue": "daily"}]

    status = gateway.get_replication_status(item)
    assert status.allowed_operations == () and status.current_scenario is not None
    assert status.current_scenario.name == "EnableDr" and status.current_scenario.job_name == job
    _finish(gateway, emulator, vault, job)

    status = gateway.get_replication_status(item)
    assert 0 < (status.initial_replication_percent or 0) < 100 and not can_test_failover(status)
    run_for(emulator.clock, 4 * 3600)  # type: ignore[arg-type]
    status = gateway.get_replication_status(item)
    assert status.initial_replication_complete and status.initial_replication_percent == 100
    assert status.rpo_seconds == 60 and status.replication_health == "Normal"
    assert status.last_recovery_point_time is not None and status.target_vm_name == "web01"
    assert can_test_failover(status) and can_migrate(status)

    started = gateway.start_test_failover(TestFailoverSpec(item=item, test_network_id=TEST_VNET))
    tfo = _last(emulator, Operation.TEST_FAILOVER)
    assert tfo.method == "POST" and tfo.path.endswith("/testFailover") and tfo.api_version == API_VERSION
    assert tfo.body["properties"]["failoverDirection"] == "PrimaryToRecovery"
    assert tfo.body["properties"]["networkType"] == "VmNetworkAsInput"
    assert tfo.body["properties"]["networkId"] == TEST_VNET
    assert tfo.body["properties"]["providerSpecificDetails"]["instanceType"] == "InMageRcm"
    _finish(gateway, emulator, vault, started.job.job_name)
    status = gateway.get_replication_status(item)
    assert status.test_failover_state == "WaitingForCompletion" and can_cleanup_test_failover(status)
    assert not can_migrate(status)

    started = gateway.cleanup_test_failover(item)
    assert _last(emulator, Operation.TEST_FAILOVER_CLEANUP).path.endswith("/testFailoverCleanup")
    _finish(gateway, emulator, vault, started.job.job_name)
    status = gateway.get_replication_status(item)
    assert status.test_failover_state == "None" and can_migrate(status)

    stopped_at = emulator.clock.now()
    emulator.source_stopped("web01", stopped_at)
    assert latest_recovery_point_after(gateway.list_recovery_points(item), stopped_at) is None
    run_for(emulator.clock, emulator.estate.timings.final_sync_delay_seconds)  # type: ignore[arg-type]
    final = latest_recovery_point_after(gateway.list_recovery_points(item), stopped_at)
    assert final is not None and final.time > stopped_at

    started = gateway.start_migration(MigrateSpec(item=item, recovery_point_id=final.id))
    failover = _last(emulator, Operation.FAILOVER)
    assert failover.path.endswith("/unplannedFailover")
    assert failover.body["properties"]["sourceSiteOperations"] == "NotRequired"
    assert failover.body["properties"]["failoverDirection"] == "PrimaryToRecovery"
    assert failover.body["properties"]["providerSpecificDetails"]["recoveryPointId"] == final.id
    assert failover.body["properties"]["providerSpecificDetails"]["performShutdown"] == "false"
    _finish(gateway, emulator, vault, started.job.job_name)
    status = gateway.get_replication_status(item)
    assert can_commit(status) and status.active_location == "Recovery"
    assert status.failover_recovery_point_id == final.id

    started = gateway.commit_migration(item)
    assert _last(emulator, Operation.COMMIT).path.endswith("/failoverCommit")
    _finish(gateway, emulator, vault, started.job.job_name)
    assert can_stop_replication(gateway.get_replication_status(item))

    started = gateway.stop_replication(item)
    remove = _last(emulator, Operation.REMOVE)
    assert remove.method == "POST" and remove.path.endswith("/remove")
    assert remove.body["properties"]["disableProtectionReason"] == "MigrationComplete"
    assert not any(r.method == "DELETE" for r in emulator.requests), "stop migration is not a purge"
    _finish(gateway, emulator, vault, started.job.job_name)
    page = gateway.list_protected_items_page(ProtectedItemsPageRequest(vault=vault))
    assert page.items == ()

    lookups = [r for r in emulator.requests if r.operation is Operation.LIST_MACHINES]
    assert lookups and all(r.api_version == MIGRATE_API_VERSION for r in lookups)
    assert all(r.api_version == API_VERSION for r in emulator.requests if r.operation is not Operation.LIST_MACHINES)
    assert time.perf_counter() - started_real < 1.0, "hours of virtual replication must take well under a second"
    assert unknown_rcm_keys(details) == []  # (after the timing: reading the SDK's type hints is not the pipeline)


def test_availability_set_and_platform_keys(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    enable(
        gateway,
        emulator,
        vault,
        availability_zone=None,
        availability_set_id=AVSET,
        disk_encryption_set_id=None,
        hybrid_benefit=False,
    )
    details = _last(emulator, Operation.ENABLE).body["properties"]["providerSpecificDetails"]
    assert details["targetAvailabilitySetId"] == AVSET and "targetAvailabilityZone" not in details
    assert details["licenseType"] == "NoLicenseType"
    assert all("diskEncryptionSetId" not in d for d in details["disksToInclude"])


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _keys(body: dict[str, Any]) -> set[str]:
    return set(body) - {"location"}


def test_responses_have_the_fixture_shapes(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    _, item, job = enable(gateway, emulator, vault)
    accepted = _fixture("ReplicationProtectedItems_Create")["responses"]["202"]
    put = emulator.requests[-1]
    assert put.status == 202
    handle = emulator.handle  # replay one action directly to read raw headers
    run_for(emulator.clock, 3 * 3600 + 5 * 3600)  # type: ignore[arg-type]
    container = f"/replicationFabrics/{item.fabric_name}/replicationProtectionContainers/{item.container_name}"
    base = f"{emulator.base_url}{emulator.vault_id}{container}"
    auth = {"Authorization": "Bearer x"}
    raw = handle(
        "POST",
        f"{base}/replicationProtectedItems/{item.item_name}/testFailover?api-version={API_VERSION}",
        auth,
        json.dumps(
            {
                "properties": {
                    "failoverDirection": "PrimaryToRecovery",
                    "networkType": "VmNetworkAsInput",
                    "networkId": TEST_VNET,
                }
            }
        ).encode(),
    )
    assert raw.status == 202 and raw.body == b""
    assert set(accepted["headers"]) <= set(raw.headers)
    assert "/replicationJobs/" in raw.headers["Azure-AsyncOperation"]
    assert "/operationresults/" in raw.headers["Location"] and raw.headers["Retry-After"].isdigit()
    monitor = handle("GET", raw.headers["Location"], auth, None)
    assert monitor.status == 202 and "/operationresults/" in monitor.headers["Location"]
    job_url = raw.headers["Azure-AsyncOperation"]
    assert handle("GET", job_url, auth, None).json()["properties"]["state"] == "NotStarted"
    run_for(emulator.clock, 3600)  # type: ignore[arg-type]
    assert handle("GET", job_url, auth, None).json()["properties"]["state"] == "Succeeded"
    done = handle("GET", raw.headers["Location"], auth, None)
    assert done.status == 200 and done.json()["properties"]["testFailoverState"] == "WaitingForCompletion"

    def get(path: str) -> dict[str, Any]:
        answer = handle("GET", f"{emulator.base_url}{emulator.vault_id}{path}?api-version={API_VERSION}", auth, None)
        assert answer.status == 200, answer.body
        return answer.json()

    item_path = f"{base.removeprefix(emulator.base_url + emulator.vault_id)}/replicationProtectedItems/{item.item_name}"
    expected_item = _fixture("ReplicationProtectedItems_Get")["responses"]["200"]["body"]
    body = get(item_path)
    assert _keys(expected_item) == _keys(body)
    assert set(expected_item["properties"]) <= set(body["properties"])
    assert body["id"].startswith("/Subscriptions/")
    job_body = get(f"/replicationJobs/{job}")
    expected_job = _fixture("ReplicationJobs_Get")["responses"]["200"]["body"]
    assert _keys(expected_job) == _keys(job_body) and set(expected_job["properties"]) <= set(job_body["properties"])
    for name, path in [
        ("ReplicationFabrics_List", "/replicationFabrics"),
        ("ReplicationPolicies_List", "/replicationPolicies"),
        ("ReplicationProtectedItems_List", "/replicationProtectedItems"),
        ("RecoveryPoints_ListByReplicationProtectedItems", f"{item_path}/recoveryPoints"),
        (
            "ReplicationProtectionContainerMappings_ListByReplicationProtectionContainers",
            f"{base.removeprefix(emulator.base_url + emulator.vault_id)}/replicationProtectionContainerMappings",
        ),
    ]:
        expected = _fixture(name)["responses"]["200"]["body"]
        body = get(path)
        assert set(body) <= set(expected) | {"nextLink"} and "value" in body, name
        first, mine = expected["value"][0], body["value"][0]
        assert _keys(first) == _keys(mine), name
        assert set(first["properties"]) <= set(mine["properties"]), name
    missing = handle("GET", f"{emulator.base_url}{emulator.vault_id}{item_path}x?api-version={API_VERSION}", auth, None)
    assert missing.status == 404 and set(missing.json()["error"]) == {"code", "message"}
