"""Site Recovery adapter: the :class:`shared.site_recovery.SiteRecoveryGateway` port over the real SDK.

The SDK is azure-mgmt-recoveryservicessiterecovery 2.0.0 with azure-identity credentials.

Every action starts the operation and returns the job's name at once. The SDK's ``polling=False`` cannot be used
(its ``NoPolling`` fails on the empty 202), and the default ``ARMPolling`` starts a background thread that polls
to the end; so actions pass :class:`_StartOnlyPolling`, which reads the initial answer's headers the way
``ARMPolling`` does and then reports itself finished. The job name comes from ``Azure-AsyncOperation``
(``…/replicationJobs/{job}``), else ``Location`` (``…/operationresults/{job}``), else the item's
``currentScenario.jobId`` (read fresh): an ``Azure-AsyncOperation`` of ``…/replicationOperationStatus/{id}`` names an
operation, not a job.

Discovery follows the modernized flow (:mod:`functions.gateways.site_recovery_discovery`): the InMageRcm fabric's
process servers and registered agents, and the machines Azure Migrate discovered on the appliance's site.

SDK errors become the pipeline's types in :mod:`functions.gateways.site_recovery_client` (transient vs permanent).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
from azure.mgmt.recoveryservicessiterecovery import models as m

from functions.gateways.site_recovery_client import (
    ENV_RESOURCE_MANAGER_URL,
    SiteRecoveryClientSettings,
    _get,
    _job_from_url,
    _StartOnlyPolling,
    _translated,
    build_client,
)
from functions.gateways.site_recovery_discovery import DiscoveryReads, FabricFacts
from functions.gateways.site_recovery_jobs import JobReads
from functions.gateways.site_recovery_wire import (
    item_health_fields,
    item_ref,
    item_status_extras,
    json_page,
    vault_path,
    wire,
)
from shared.azure_migrate import MachineMatch, MachineQuery, match_machine
from shared.errors import (
    AccessDeniedError,
    InvalidRequestError,
    NotFoundError,
    PermanentError,
)
from shared.site_recovery import (
    DiscoverTopologySpec,
    EnableReplicationSpec,
    FindMachineSpec,
    JobRef,
    MigrateSpec,
    OperationStarted,
    ProtectedItemRef,
    ProtectedItemsPage,
    ProtectedItemsPageRequest,
    ProtectedItemSummary,
    RecoveryPointInfo,
    ReplicationStatus,
    ReplicationTopology,
    TestFailoverSpec,
    VaultRef,
)
from shared.site_recovery_gaps import ReadinessSpec, SiteRecoveryReadiness, VmDiscovery, site_recovery_findings

if TYPE_CHECKING:
    from functions.settings import FunctionAppSettings


T = TypeVar("T")


def _tags(tags: dict[str, str]) -> list[m.UserCreatedResourceTag]:
    return [m.UserCreatedResourceTag(tag_name=k, tag_value=v) for k, v in sorted(tags.items())]


def _readiness_of(
    facts: FabricFacts, *, unreadable: str = "", vms: tuple[VmDiscovery, ...] = ()
) -> SiteRecoveryReadiness:
    """The fabric as read, as the port's facts."""
    fabric = facts.fabric
    return SiteRecoveryReadiness(
        vault_found=facts.vault_found,
        fabric_id=str(fabric.id) if fabric is not None else None,
        fabric_name=str(fabric.name) if fabric is not None else None,
        physical_site_id=facts.physical_site_id,
        process_servers=tuple(facts.servers),
        policy_found=facts.policy_exists,
        policy_id=str(facts.policy.id) if facts.policy is not None else None,
        container_mapping_found=facts.mapping is not None,
        machines_unreadable=unreadable,
        vms=vms,
    )


def _segment(name: str) -> str:
    """A name as one segment of a resource path."""
    return quote(name, safe="")


class AzureSiteRecoveryGateway(DiscoveryReads, JobReads):
    """The Site Recovery gateway over the real SDK. Inject a client (tests, the emulator); without one it builds
    a client from ``settings`` (or the environment) and azure-identity credentials on first use."""

    def __init__(
        self,
        client: SiteRecoveryManagementClient | None = None,
        *,
        settings: SiteRecoveryClientSettings | None = None,
        credential: Any = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._credential = credential

    @property
    def client(self) -> SiteRecoveryManagementClient:
        if self._client is None:
            self._client = build_client(self._settings or SiteRecoveryClientSettings.from_env(), self._credential)
        return self._client

    def _check_vault(self, vault: VaultRef) -> None:
        subscription = self.client._config.subscription_id
        if subscription.lower() != vault.subscription_id.lower():
            raise InvalidRequestError(
                f"the Site Recovery client is for subscription {subscription}, not {vault.subscription_id}",
                resource=f"vaults/{vault.vault_name}",
            )

    # --------------------------------------------------------------- discovery

    def discover_topology(self, spec: DiscoverTopologySpec) -> ReplicationTopology:
        """The topology to replicate into; refused, with the readiness rules' gap lines, when it is incomplete."""
        vault = spec.vault
        self._check_vault(vault)
        where = f"vaults/{vault.vault_name}"
        with _translated(where):
            facts = self.read_fabric(vault.resource_group, vault.vault_name, spec.appliance)
        findings = site_recovery_findings(_readiness_of(facts), vault_id=vault.arm_id, appliance=spec.appliance)
        if findings.gaps:
            cls = NotFoundError if not facts.vault_found else PermanentError
            raise cls("; ".join(gap.line() for gap in findings.gaps), code="SiteRecoveryNotReady", resource=where)
        fabric, server = facts.fabric, facts.server
        assert server is not None and facts.physical_site_id  # no gap: both present
        return ReplicationTopology(
            vault=vault,
            fabric_name=fabric.name,
            fabric_id=fabric.id,
            container_name=facts.container.name,
            container_id=facts.container.id,
            mapping_name=facts.mapping.name,
            policy_id=facts.policy.id,
            policy_name=facts.policy.name,
            process_server_id=server.id,
            process_server_name=server.name,
            process_server_protected_items=server.protected_item_count,
            physical_site_id=facts.physical_site_id,
        )

    def find_machine(self, spec: FindMachineSpec) -> MachineMatch:
        return self.match_machines(spec.topology, [spec.query])[0]

    def match_machines(self, topology: ReplicationTopology, queries: Sequence[MachineQuery]) -> list[MachineMatch]:
        t = topology
        self._check_vault(t.vault)
        with _translated(f"replicationFabrics/{t.fabric_name}"):
            fabric = self.client.replication_fabrics.get(t.vault.resource_group, t.vault.vault_name, t.fabric_name)
            agents = list(_get(_get(fabric.properties, "custom_details"), "agent_details") or [])
        with _translated(t.physical_site_id):
            machines = self.discovered_machines(t.physical_site_id, agents)
        return [match_machine(machines, query) for query in queries]

    def check_readiness(self, spec: ReadinessSpec) -> SiteRecoveryReadiness:
        """The facts only (GETs): the judgement is :func:`shared.site_recovery_gaps.site_recovery_findings`'s."""
        vault = spec.vault
        self._check_vault(vault)
        with _translated(f"vaults/{vault.vault_name}"):
            facts = self.read_fabric(vault.resource_group, vault.vault_name, spec.appliance)
        site = facts.physical_site_id
        if not (site and spec.vms):
            return _readiness_of(facts)
        try:
            with _translated(site):
                machines = self.discovered_machines(site, facts.agents)
        except (NotFoundError, AccessDeniedError) as unreadable:
            return _readiness_of(facts, unreadable=unreadable.message or unreadable.code or "not readable")
        vms = tuple(VmDiscovery(query=query, match=match_machine(machines, query)) for query in spec.vms)
        return _readiness_of(facts, vms=vms)

    # --------------------------------------------------------------- actions

    def _start(
        self, operation: str, item: ProtectedItemRef, call: Callable[[_StartOnlyPolling], Any]
    ) -> OperationStarted:
        polling = _StartOnlyPolling()
        where = f"replicationProtectedItems/{item.item_name}"
        with _translated(where):
            call(polling)
        headers = polling.initial_headers
        job = _job_from_url(headers.get("azure-asyncoperation")) or _job_from_url(headers.get("location"))
        if job is None and isinstance(polling.initial_body, dict) and polling.initial_status == 200:
            scenario = polling.initial_body.get("properties", {}).get("currentScenario") or {}
            job = _job_from_url(scenario.get("jobId"))
        if job is None or job.lower() == "none":
            status = self.get_replication_status(item)
            scenario_info = status.current_scenario
            job = scenario_info.job_name if scenario_info else None
        if not job:
            raise PermanentError(
                f"Site Recovery accepted {operation} but named no job to follow", code="NoJob", resource=where
            )
        return OperationStarted(operation=operation, job=JobRef(vault=item.vault, job_name=job), item=item)

    def enable_replication(self, spec: EnableReplicationSpec) -> OperationStarted:
        t = spec.topology
        self._check_vault(t.vault)
        body = m.EnableProtectionInput(
            properties=m.EnableProtectionInputProperties(
                policy_id=t.policy_id,
                protectable_item_id="",  # the modernized flow names the machine, not a protectable item
                provider_specific_details=self._rcm_input(spec),
            )
        )
        item = ProtectedItemRef(
            vault=t.vault,
            fabric_name=t.fabric_name,
            container_name=t.container_name,
            item_name=spec.protected_item_name,
        )
        return self._start(
            "enable_replication",
            item,
            lambda polling: self.client.replication_protected_items.begin_create(
                t.vault.resource_group,
                t.vault.vault_name,
                t.fabric_name,
                t.container_name,
                spec.protected_item_name,
                body,
                polling=polling,
            ),
        )

    @staticmethod
    def _rcm_input(spec: EnableReplicationSpec) -> m.InMageRcmEnableProtectionInput:
        t, target, machine = spec.topology, spec.target, spec.machine
        return m.InMageRcmEnableProtectionInput(
            fabric_discovery_machine_id=machine.id,
            process_server_id=t.process_server_id,
            run_as_account_id=machine.run_as_account_id,
            disks_to_include=[
                m.InMageRcmDiskInput(
                    disk_id=disk.disk_id,
                    log_storage_account_id=target.cache_storage_account_id,
                    disk_type=disk.disk_type.value,
                    disk_encryption_set_id=target.disk_encryption_set_id,
                )
                for disk in target.disks
            ],
            target_resource_group_id=target.resource_group_id,
            target_network_id=target.network_id,
            target_subnet_name=target.subnet_name,
            test_network_id=target.test_network_id,
            test_subnet_name=target.test_subnet_name,
            target_vm_name=target.vm_name,
            target_vm_size=target.vm_size,
            license_type=target.license_type,
            linux_license_type=target.linux_license_type.value if target.linux_license_type else None,
            sql_server_license_type=target.sql_server_license_type.value if target.sql_server_license_type else None,
            target_availability_set_id=target.availability_set_id,
            target_availability_zone=str(target.availability_zone) if target.availability_zone else None,
            target_vm_tags=_tags(target.vm_tags) or None,
            target_nic_tags=_tags(target.nic_tags) or None,
            target_managed_disk_tags=_tags(target.disk_tags) or None,
        )

    def _item_args(self, item: ProtectedItemRef) -> tuple[str, str, str, str, str]:
        self._check_vault(item.vault)
        return (item.vault.resource_group, item.vault.vault_name, item.fabric_name, item.container_name, item.item_name)

    def start_test_failover(self, spec: TestFailoverSpec) -> OperationStarted:
        provider = m.InMageRcmTestFailoverInput(
            network_id=spec.test_network_id, recovery_point_id=spec.recovery_point_id
        )
        body = m.TestFailoverInput(
            properties=m.TestFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                network_type="VmNetworkAsInput",
                network_id=spec.test_network_id,
                provider_specific_details=provider,
            )
        )
        args = self._item_args(spec.item)
        return self._start(
            "test_failover",
            spec.item,
            lambda polling: self.client.replication_protected_items.begin_test_failover(*args, body, polling=polling),
        )

    def cleanup_test_failover(self, item: ProtectedItemRef) -> OperationStarted:
        body = m.TestFailoverCleanupInput(
            properties=m.TestFailoverCleanupInputProperties(comments="Test migration validated; cleaned up")
        )
        args = self._item_args(item)
        return self._start(
            "test_failover_cleanup",
            item,
            lambda polling: self.client.replication_protected_items.begin_test_failover_cleanup(
                *args, body, polling=polling
            ),
        )

    def start_migration(self, spec: MigrateSpec) -> OperationStarted:
        provider = m.InMageRcmUnplannedFailoverInput(
            perform_shutdown="true" if spec.perform_shutdown else "false", recovery_point_id=spec.recovery_point_id
        )
        body = m.UnplannedFailoverInput(
            properties=m.UnplannedFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                source_site_operations="NotRequired",
                provider_specific_details=provider,
            )
        )
        args = self._item_args(spec.item)
        return self._start(
            "migrate",
            spec.item,
            lambda polling: self.client.replication_protected_items.begin_unplanned_failover(
                *args, body, polling=polling
            ),
        )

    def commit_migration(self, item: ProtectedItemRef) -> OperationStarted:
        args = self._item_args(item)
        return self._start(
            "commit",
            item,
            lambda polling: self.client.replication_protected_items.begin_failover_commit(*args, polling=polling),
        )

    def cancel_failover(self, item: ProtectedItemRef) -> OperationStarted:
        """Before commit: undo a failover (removes the failed-over VM; the source replicates on)."""
        args = self._item_args(item)
        return self._start(
            "cancel_failover",
            item,
            lambda polling: self.client.replication_protected_items.begin_failover_cancel(*args, polling=polling),
        )

    def stop_replication(self, item: ProtectedItemRef) -> OperationStarted:
        body = m.DisableProtectionInput(
            properties=m.DisableProtectionInputProperties(disable_protection_reason="MigrationComplete")
        )
        args = self._item_args(item)
        return self._start(
            "stop_replication",
            item,
            lambda polling: self.client.replication_protected_items.begin_delete(*args, body, polling=polling),
        )

    # --------------------------------------------------------------- reads

    def get_replication_status(self, item: ProtectedItemRef) -> ReplicationStatus:
        args = self._item_args(item)
        with _translated(f"replicationProtectedItems/{item.item_name}"):
            found = wire(self.client.replication_protected_items.get(*args))
        return ReplicationStatus(**item_health_fields(found, item), **item_status_extras(found))

    def list_protected_items_page(self, request: ProtectedItemsPageRequest) -> ProtectedItemsPage:
        """One page of the vault's protected items, read as JSON (:mod:`functions.gateways.site_recovery_wire`):
        the health sweep and the replication watch read them every tick."""
        vault = request.vault
        self._check_vault(vault)
        with _translated(f"vaults/{vault.vault_name}/replicationProtectedItems"):
            if request.continuation_token:
                page, token = json_page(self.client, request.continuation_token)
            else:
                path = f"{vault_path(vault)}/replicationProtectedItems"
                page, token = json_page(self.client, path, {"api-version": self.client._config.api_version})
        summaries = tuple(ProtectedItemSummary(**item_health_fields(found, item_ref(vault, found))) for found in page)
        return ProtectedItemsPage(items=summaries, continuation_token=token)

    def list_recovery_points(self, item: ProtectedItemRef) -> list[RecoveryPointInfo]:
        args = self._item_args(item)
        with _translated(f"replicationProtectedItems/{item.item_name}/recoveryPoints"):
            found = list(self.client.recovery_points.list_by_replication_protected_items(*args))
        points = [
            RecoveryPointInfo(
                name=p.name,
                id=p.id,
                time=p.properties.recovery_point_time,  # type: ignore[union-attr]
                type=str(_get(p.properties, "recovery_point_type") or ""),
            )
            for p in found
            if _get(p.properties, "recovery_point_time") is not None
        ]
        return sorted(points, key=lambda p: p.time)


_cloud_gateways: dict[str, AzureSiteRecoveryGateway] = {}
_cloud_lock = threading.Lock()


def cloud_site_recovery_gateway(settings: FunctionAppSettings, vault: VaultRef) -> AzureSiteRecoveryGateway:
    """The cloud gateway for ``vault``'s subscription (one client per subscription, reused across activities)."""
    key = vault.subscription_id.lower()
    with _cloud_lock:
        gateway = _cloud_gateways.get(key)
        if gateway is None:
            client_settings = SiteRecoveryClientSettings(
                subscription_id=vault.subscription_id,
                managed_identity_client_id=settings.managed_identity_client_id or None,
                base_url=os.environ.get(ENV_RESOURCE_MANAGER_URL) or None,
            )
            gateway = AzureSiteRecoveryGateway(settings=client_settings)
            _cloud_gateways[key] = gateway
        return gateway
