"""Site Recovery adapter: the :class:`shared.site_recovery.SiteRecoveryGateway` port over the real SDK.

The SDK is azure-mgmt-recoveryservicessiterecovery 2.0.0 with azure-identity credentials.

Every action starts the operation and returns the job's name at once. The SDK's ``polling=False`` cannot be used
(its ``NoPolling`` fails on the empty 202), and the default ``ARMPolling`` starts a background thread that polls
to the end; so actions pass :class:`_StartOnlyPolling`, which reads the initial answer's headers the way
``ARMPolling`` does and then reports itself finished. The job name comes from ``Azure-AsyncOperation``
(``…/replicationJobs/{job}``), else ``Location`` (``…/operationresults/{job}``), else the item's
``currentScenario.jobId``.

SDK errors become the pipeline's types here: 429/503/5xx and timeouts → :class:`TransientError`; 409 →
:class:`OperationInProgressError`; 404 → :class:`NotFoundError` naming the resource; 401/403 →
:class:`AccessDeniedError`; 400 → :class:`InvalidRequestError`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    map_error,
)
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.core.polling.arm_polling import ARMPolling
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
from azure.mgmt.recoveryservicessiterecovery import models as m

from functions.settings import ENV_VAULT_SUBSCRIPTION_ID
from shared.errors import (
    AccessDeniedError,
    InvalidRequestError,
    MigrationError,
    NotFoundError,
    OperationInProgressError,
    PermanentError,
    TransientError,
)
from shared.site_recovery import (
    DiscoverTopologySpec,
    EnableReplicationSpec,
    FindProtectableItemSpec,
    HealthIssue,
    JobRef,
    JobStatus,
    MigrateSpec,
    OperationStarted,
    ProtectableDisk,
    ProtectableItem,
    ProtectedItemRef,
    ProtectedItemsPage,
    ProtectedItemsPageRequest,
    ProtectedItemSummary,
    Provider,
    RecoveryPointInfo,
    ReplicationStatus,
    ReplicationTopology,
    ScenarioInfo,
    TestFailoverSpec,
    VaultRef,
)

if TYPE_CHECKING:
    from functions.settings import FunctionAppSettings

#: How the SDK's own operations type an error answer; requests sent through ``send_request`` use it too.
_ERROR_MAP: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
}

ENV_SUBSCRIPTION_ID = ENV_VAULT_SUBSCRIPTION_ID
#: ``$filter`` of the protectable-item listing: machines discovered but not replicating yet.
UNPROTECTED_FILTER = "state eq 'Unprotected'"
ENV_MANAGED_IDENTITY_CLIENT_ID = "AZURE_CLIENT_ID"
ENV_RESOURCE_MANAGER_URL = "EC2AZ_RESOURCE_MANAGER_URL"

_FABRIC_TYPE = {Provider.INMAGE_RCM: "InMageRcm", Provider.INMAGE_AZURE_V2: "VMware"}
_TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
_JOB_IN_URL = re.compile(r"/(?:replicationJobs|operationresults|replicationOperationStatus)/([^/?#]+)", re.IGNORECASE)
_ITEM_ID = re.compile(
    r"/replicationFabrics/(?P<fabric>[^/]+)/replicationProtectionContainers/(?P<container>[^/]+)"
    r"/replicationProtectedItems/(?P<item>[^/]+)$",
    re.IGNORECASE,
)

T = TypeVar("T")


@dataclass(frozen=True)
class SiteRecoveryClientSettings:
    """How to build the default client when none is injected."""

    subscription_id: str
    managed_identity_client_id: str | None = None
    base_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SiteRecoveryClientSettings:
        values = dict(os.environ) if env is None else env
        subscription = values.get(ENV_SUBSCRIPTION_ID, "")
        if not subscription:
            raise InvalidRequestError(f"{ENV_SUBSCRIPTION_ID} is not set: the Site Recovery gateway needs it")
        return cls(
            subscription_id=subscription,
            managed_identity_client_id=values.get(ENV_MANAGED_IDENTITY_CLIENT_ID) or None,
            base_url=values.get(ENV_RESOURCE_MANAGER_URL) or None,
        )


def build_client(settings: SiteRecoveryClientSettings, credential: Any = None) -> SiteRecoveryManagementClient:
    """A client with azure-identity credentials: the user-assigned managed identity when its client id is set,
    else ``DefaultAzureCredential``."""
    if credential is None:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential  # noqa: PLC0415 - cloud only

        credential = (
            ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
            if settings.managed_identity_client_id
            else DefaultAzureCredential()
        )
    return SiteRecoveryManagementClient(credential, settings.subscription_id, base_url=settings.base_url)


class _StartOnlyPolling(ARMPolling):
    """Accepts the initial answer like ARMPolling, then stops: the caller polls the job, not this poller."""

    def __init__(self) -> None:
        super().__init__(timeout=0)
        self.initial_status: int | None = None
        self.initial_headers: dict[str, str] = {}
        self.initial_body: Any = None

    def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any) -> None:
        http = initial_response.http_response
        self.initial_status = http.status_code
        self.initial_headers = {k.lower(): v for k, v in http.headers.items()}
        if http.status_code == 200:
            try:
                self.initial_body = http.json()
            except ValueError:
                self.initial_body = None
        super().initialize(client, initial_response, deserialization_callback)

    def finished(self) -> bool:
        return True

    def run(self) -> None:
        return None

    def resource(self) -> Any:
        return None


def _job_from_url(url: str | None) -> str | None:
    if not url:
        return None
    found = _JOB_IN_URL.search(url)
    return found.group(1) if found else None


def _error_code(error: HttpResponseError) -> str:
    code = getattr(error.error, "code", None) if error.error is not None else None
    return str(code or (error.status_code or type(error).__name__))


def _error_message(error: HttpResponseError) -> str:
    message = getattr(error.error, "message", None) if error.error is not None else None
    return str(message or error.reason or error.message)


def translate_error(error: Exception, resource: str) -> MigrationError:  # noqa: PLR0911 - one line per case
    """Map an azure-core error to the pipeline's error type, naming ``resource``."""
    if isinstance(error, MigrationError):
        return error
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return TransientError(f"Site Recovery did not answer: {error}", code="Timeout", resource=resource)
    if isinstance(error, ClientAuthenticationError):
        return AccessDeniedError(str(error), code="AuthenticationFailed", resource=resource)
    if isinstance(error, ResourceExistsError):
        return OperationInProgressError(_error_message(error), code=_error_code(error), resource=resource)
    if isinstance(error, ResourceNotFoundError):
        return NotFoundError(f"not found: {_error_message(error)}", code=_error_code(error), resource=resource)
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        code, message = _error_code(error), _error_message(error)
        if status in _TRANSIENT_STATUSES or status >= 500:
            return TransientError(message, code=code, resource=resource)
        if status == 409:
            return OperationInProgressError(message, code=code, resource=resource)
        if status == 404:
            return NotFoundError(f"not found: {message}", code=code, resource=resource)
        if status in (401, 403):
            return AccessDeniedError(message, code=code, resource=resource)
        if status == 400:
            return InvalidRequestError(message, code=code, resource=resource)
        return PermanentError(message, code=code, resource=resource)
    return PermanentError(f"unexpected Site Recovery failure: {error!r}", code=type(error).__name__, resource=resource)


@contextmanager
def _translated(resource: str) -> Iterator[None]:
    try:
        yield
    except MigrationError:
        raise
    except Exception as error:
        raise translate_error(error, resource) from error


def _tags(tags: dict[str, str]) -> list[m.UserCreatedResourceTag]:
    return [m.UserCreatedResourceTag(tag_name=k, tag_value=v) for k, v in sorted(tags.items())]


def _segment(name: str) -> str:
    """A name as one segment of a resource path."""
    return quote(name, safe="")


def _get(obj: Any, name: str) -> Any:
    return getattr(obj, name, None) if obj is not None else None


class AzureSiteRecoveryGateway:
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
        vault = spec.vault
        self._check_vault(vault)
        where = f"vaults/{vault.vault_name}"
        c = self.client
        wanted = _FABRIC_TYPE[spec.provider]
        with _translated(where):
            policies = {
                str(p.id).lower(): p
                for p in c.replication_policies.list(vault.resource_group, vault.vault_name)
                if _get(_get(p.properties, "provider_specific_details"), "instance_type") == spec.provider.value
            }
            for fabric in c.replication_fabrics.list(vault.resource_group, vault.vault_name):
                details = _get(fabric.properties, "custom_details")
                if _get(details, "instance_type") != wanted or not fabric.name:
                    continue
                containers = c.replication_protection_containers.list_by_replication_fabrics(
                    vault.resource_group, vault.vault_name, fabric.name
                )
                mappings = c.replication_protection_container_mappings
                for container in containers:
                    container_name = container.name or ""
                    for mapping in mappings.list_by_replication_protection_containers(
                        vault.resource_group, vault.vault_name, fabric.name, container_name
                    ):
                        props = mapping.properties
                        policy = policies.get(str(_get(props, "policy_id") or "").lower())
                        if policy is None or _get(props, "state") != "Paired":
                            continue
                        return self._topology(spec, fabric, container, mapping, policy)
        raise NotFoundError(
            f"no paired {spec.provider.value} protection container with a {spec.provider.value} policy: is the "
            "replication appliance registered with the vault?",
            resource=where,
        )

    def _topology(
        self, spec: DiscoverTopologySpec, fabric: Any, container: Any, mapping: Any, policy: Any
    ) -> ReplicationTopology:
        details = fabric.properties.custom_details
        servers = list(_get(details, "process_servers") or [])
        label = "name" if spec.provider is Provider.INMAGE_RCM else "friendly_name"
        if spec.process_server_name:
            servers = [s for s in servers if str(_get(s, label) or "").lower() == spec.process_server_name.lower()]
        if not servers:
            raise NotFoundError(
                f"no process server{' named ' + spec.process_server_name if spec.process_server_name else ''} "
                f"on fabric {fabric.name}",
                resource=f"replicationFabrics/{fabric.name}",
            )
        server = servers[0]
        run_as_id: str | None = None
        accounts = list(_get(details, "run_as_accounts") or [])
        if spec.run_as_account_name:
            accounts = [a for a in accounts if str(a.account_name).lower() == spec.run_as_account_name.lower()]
            if not accounts:
                raise NotFoundError(
                    f"no run-as account named {spec.run_as_account_name} on fabric {fabric.name}",
                    resource=f"replicationFabrics/{fabric.name}",
                )
        if accounts:
            run_as_id = accounts[0].account_id
        masters = list(_get(details, "master_target_servers") or [])
        return ReplicationTopology(
            vault=spec.vault,
            provider=spec.provider,
            fabric_name=fabric.name,
            fabric_id=fabric.id,
            container_name=container.name,
            container_id=container.id,
            mapping_name=mapping.name,
            policy_id=policy.id,
            policy_name=policy.name,
            process_server_id=server.id,
            process_server_name=str(_get(server, label) or ""),
            run_as_account_id=run_as_id,
            master_target_id=(masters[0].id if masters else server.id)
            if spec.provider is Provider.INMAGE_AZURE_V2
            else None,
            physical_site_id=_get(details, "physical_site_id"),
        )

    def find_protectable_item(self, spec: FindProtectableItemSpec) -> ProtectableItem:
        t = spec.topology
        self._check_vault(t.vault)
        wanted = " / ".join(v for v in (spec.machine_name, spec.ip_address, spec.bios_id) if v)
        with _translated(f"replicationProtectionContainers/{t.container_name}"):
            for item in self._protectable_items(t):
                if self._matches(item, spec):
                    return self._protectable(m.ProtectableItem(item), t)
        raise NotFoundError(
            f"no protectable item for machine {wanted}: the Mobility agent has not registered (yet)",
            resource=f"replicationProtectableItems/{wanted}",
        )

    def _protectable_items(self, t: ReplicationTopology) -> Iterator[dict[str, Any]]:
        """The container's machines not yet replicating, as JSON, page by page.

        A registration poll reads the listing and keeps one machine, so the pages are read through the client's
        own pipeline (same authentication, retries and errors) and only the match becomes a model: the SDK's
        model of an item costs ~17x parsing it, paid for every machine of the wave on every poll. The filter keeps
        the listing to machines not yet enabled (a machine being looked up has not been); a service that refuses
        it gets the unfiltered listing.
        """
        vault = t.vault
        path = (
            f"/subscriptions/{_segment(vault.subscription_id)}/resourceGroups/{_segment(vault.resource_group)}"
            f"/providers/Microsoft.RecoveryServices/vaults/{_segment(vault.vault_name)}"
            f"/replicationFabrics/{_segment(t.fabric_name)}/replicationProtectionContainers/"
            f"{_segment(t.container_name)}/replicationProtectableItems"
        )
        try:
            yield from self._json_pages(path, {"$filter": UNPROTECTED_FILTER})
        except HttpResponseError as error:
            if error.status_code != 400:
                raise
            yield from self._json_pages(path, {})

    def _json_pages(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        # The client's configured API version (what its own operations send); a next link carries its own.
        request = HttpRequest("GET", path, params={"api-version": self.client._config.api_version, **params})
        while True:
            response = self.client.send_request(request)
            if response.status_code != 200:
                map_error(status_code=response.status_code, response=response, error_map=_ERROR_MAP)
                raise HttpResponseError(response=response, error_format=ARMErrorFormat)
            page = response.json()
            yield from page.get("value") or []
            next_link = page.get("nextLink")
            if not next_link:
                return
            request = HttpRequest("GET", next_link)

    @staticmethod
    def _matches(item: dict[str, Any], spec: FindProtectableItemSpec) -> bool:
        props = item.get("properties") or {}
        details = props.get("customDetails") or {}
        if spec.bios_id and spec.bios_id.lower() in {
            str(item.get("name") or "").lower(),
            str(details.get("agentGeneratedId") or "").lower(),
        }:
            return True
        if spec.machine_name and str(props.get("friendlyName") or "").lower() == spec.machine_name.lower():
            return True
        return bool(spec.ip_address and details.get("ipAddress") == spec.ip_address)

    @staticmethod
    def _protectable(item: Any, topology: ReplicationTopology) -> ProtectableItem:
        props = item.properties
        details = _get(props, "custom_details")
        disks = []
        for disk in _get(details, "disk_details") or []:
            size_mb = _get(disk, "disk_size_in_mb")
            disks.append(
                ProtectableDisk(
                    disk_id=disk.disk_id,
                    disk_name=disk.disk_name or disk.disk_id,
                    size_bytes=int(size_mb) * 1024**2 if size_mb and str(size_mb).isdigit() else None,
                    is_os_disk=str(_get(disk, "disk_configuration") or "").lower() == "os",
                )
            )
        discovery_id = (
            f"{topology.physical_site_id}/machines/{item.name}"
            if topology.provider is Provider.INMAGE_RCM and topology.physical_site_id
            else None
        )
        return ProtectableItem(
            name=item.name,
            id=item.id,
            friendly_name=str(_get(props, "friendly_name") or item.name),
            protection_status=str(_get(props, "protection_status") or ""),
            ip_address=_get(details, "ip_address"),
            os_type=_get(details, "os_type"),
            agent_installed=str(_get(details, "agent_installed") or "").lower() == "true",
            agent_id=_get(details, "agent_generated_id"),
            fabric_discovery_machine_id=discovery_id,
            replication_protected_item_id=_get(props, "replication_protected_item_id"),
            disks=tuple(disks),
        )

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
        if job is None and isinstance(polling.initial_body, dict):
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
        details: m.EnableProtectionProviderSpecificInput = (
            self._rcm_input(spec) if spec.provider is Provider.INMAGE_RCM else self._azure_v2_input(spec)
        )
        body = m.EnableProtectionInput(
            properties=m.EnableProtectionInputProperties(
                policy_id=t.policy_id, protectable_item_id=spec.protectable_item_id, provider_specific_details=details
            )
        )
        item = ProtectedItemRef(
            vault=t.vault,
            fabric_name=t.fabric_name,
            container_name=t.container_name,
            item_name=spec.protected_item_name,
            provider=t.provider,
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
        t, target = spec.topology, spec.target
        discovery_id = spec.fabric_discovery_machine_id
        if not discovery_id:
            if not t.physical_site_id:
                raise InvalidRequestError(
                    "InMageRcm needs fabric_discovery_machine_id (or a topology with the appliance's physical site)",
                    resource=spec.protected_item_name,
                )
            discovery_id = f"{t.physical_site_id}/machines/{spec.protectable_item_id.rsplit('/', 1)[-1]}"
        return m.InMageRcmEnableProtectionInput(
            fabric_discovery_machine_id=discovery_id,
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
            target_availability_set_id=target.availability_set_id,
            target_availability_zone=str(target.availability_zone) if target.availability_zone else None,
            run_as_account_id=t.run_as_account_id,
            process_server_id=t.process_server_id,
            target_vm_tags=_tags(target.vm_tags) or None,
            target_nic_tags=_tags(target.nic_tags) or None,
            target_managed_disk_tags=_tags(target.disk_tags) or None,
        )

    @staticmethod
    def _azure_v2_input(spec: EnableReplicationSpec) -> m.InMageAzureV2EnableProtectionInput:
        t, target = spec.topology, spec.target
        return m.InMageAzureV2EnableProtectionInput(
            master_target_id=t.master_target_id or t.process_server_id,
            process_server_id=t.process_server_id,
            run_as_account_id=t.run_as_account_id,
            disks_to_include=[
                m.InMageAzureV2DiskInputDetails(
                    disk_id=disk.disk_id,
                    log_storage_account_id=target.cache_storage_account_id,
                    disk_type=disk.disk_type.value,
                    disk_encryption_set_id=target.disk_encryption_set_id,
                )
                for disk in target.disks
            ],
            target_azure_network_id=target.network_id,
            target_azure_subnet_id=target.subnet_name,
            target_azure_vm_name=target.vm_name,
            log_storage_account_id=target.cache_storage_account_id,
            target_azure_v2_resource_group_id=target.resource_group_id,
            disk_type=target.default_disk_type.value,
            target_availability_set_id=target.availability_set_id,
            target_availability_zone=str(target.availability_zone) if target.availability_zone else None,
            license_type=target.license_type,
            target_vm_size=target.vm_size,
            disk_encryption_set_id=target.disk_encryption_set_id,
            target_vm_tags=dict(target.vm_tags) or None,
            target_nic_tags=dict(target.nic_tags) or None,
            target_managed_disk_tags=dict(target.disk_tags) or None,
        )

    def _item_args(self, item: ProtectedItemRef) -> tuple[str, str, str, str, str]:
        self._check_vault(item.vault)
        return (item.vault.resource_group, item.vault.vault_name, item.fabric_name, item.container_name, item.item_name)

    def start_test_failover(self, spec: TestFailoverSpec) -> OperationStarted:
        provider: m.TestFailoverProviderSpecificInput = (
            m.InMageRcmTestFailoverInput(network_id=spec.test_network_id, recovery_point_id=spec.recovery_point_id)
            if spec.item.provider is Provider.INMAGE_RCM
            else m.InMageAzureV2TestFailoverInput(recovery_point_id=spec.recovery_point_id)
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
        provider: m.UnplannedFailoverProviderSpecificInput = (
            m.InMageRcmUnplannedFailoverInput(
                perform_shutdown="true" if spec.perform_shutdown else "false",
                recovery_point_id=spec.recovery_point_id,
            )
            if spec.item.provider is Provider.INMAGE_RCM
            else m.InMageAzureV2UnplannedFailoverInput(recovery_point_id=spec.recovery_point_id)
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
            found = self.client.replication_protected_items.get(*args)
        return ReplicationStatus(**self._health_fields(found, item), **self._status_extras(found))

    def list_protected_items_page(self, request: ProtectedItemsPageRequest) -> ProtectedItemsPage:
        vault = request.vault
        self._check_vault(vault)
        with _translated(f"vaults/{vault.vault_name}/replicationProtectedItems"):
            pages = self.client.replication_protected_items.list(vault.resource_group, vault.vault_name).by_page(
                continuation_token=request.continuation_token
            )
            page = list(next(pages))
            token = getattr(pages, "continuation_token", None)
        summaries = []
        for found in page:
            ref = self._ref_from_id(vault, found)
            summaries.append(ProtectedItemSummary(**self._health_fields(found, ref)))
        return ProtectedItemsPage(items=tuple(summaries), continuation_token=token or None)

    @staticmethod
    def _ref_from_id(vault: VaultRef, found: Any) -> ProtectedItemRef:
        match = _ITEM_ID.search(str(found.id))
        if match is None:
            raise PermanentError(f"unexpected protected item id {found.id}", code="BadResourceId")
        details = _get(found.properties, "provider_specific_details")
        kind = _get(details, "instance_type")
        return ProtectedItemRef(
            vault=vault,
            fabric_name=match["fabric"],
            container_name=match["container"],
            item_name=match["item"],
            provider=Provider(kind) if kind in {p.value for p in Provider} else Provider.INMAGE_RCM,
        )

    @staticmethod
    def _health_fields(found: Any, ref: ProtectedItemRef) -> dict[str, Any]:
        props = found.properties
        details = _get(props, "provider_specific_details")
        rcm = _get(details, "instance_type") == Provider.INMAGE_RCM.value
        percent = _get(details, "initial_replication_progress_percentage" if rcm else "resync_progress_percentage")
        rpo = _get(details, "last_rpo_in_seconds" if rcm else "rpo_in_seconds")
        scenario = _get(props, "current_scenario")
        scenario_info = None
        if scenario is not None and _get(scenario, "scenario_name") not in (None, "None"):
            scenario_info = ScenarioInfo(
                name=scenario.scenario_name,
                job_name=_job_from_url(_get(scenario, "job_id")),
                start_time=_get(scenario, "start_time"),
            )
        errors = tuple(
            HealthIssue(
                code=str(_get(e, "error_code") or ""),
                message=str(_get(e, "error_message") or _get(e, "summary_message") or ""),
                level=str(_get(e, "error_level") or ""),
                possible_causes=str(_get(e, "possible_causes") or ""),
                recommended_action=str(_get(e, "recommended_action") or ""),
            )
            for e in _get(props, "health_errors") or []
        )
        return {
            "item": ref,
            "friendly_name": str(_get(props, "friendly_name") or ""),
            "protection_state": str(_get(props, "protection_state") or ""),
            "replication_health": str(_get(props, "replication_health") or ""),
            "health_errors": errors,
            "initial_replication_percent": int(percent) if percent is not None else None,
            "rpo_seconds": int(rpo) if rpo is not None else None,
            "last_rpo_time": _get(details, "last_rpo_calculated_time"),
            "last_recovery_point_time": _get(details, "last_recovery_point_received"),
            "allowed_operations": tuple(_get(props, "allowed_operations") or ()),
            "current_scenario": scenario_info,
        }

    @staticmethod
    def _status_extras(found: Any) -> dict[str, Any]:
        props = found.properties
        details = _get(props, "provider_specific_details")
        rcm = _get(details, "instance_type") == Provider.INMAGE_RCM.value
        return {
            "protection_state_description": str(_get(props, "protection_state_description") or ""),
            "active_location": str(_get(props, "active_location") or ""),
            "test_failover_state": str(_get(props, "test_failover_state") or ""),
            "test_failover_state_description": str(_get(props, "test_failover_state_description") or ""),
            "failover_recovery_point_id": _get(props, "failover_recovery_point_id"),
            "target_vm_name": _get(details, "target_vm_name" if rcm else "recovery_azure_vm_name"),
        }

    def get_job(self, job: JobRef) -> JobStatus:
        self._check_vault(job.vault)
        with _translated(f"replicationJobs/{job.job_name}"):
            found = self.client.replication_jobs.get(job.vault.resource_group, job.vault.vault_name, job.job_name)
        props = found.properties
        code = message = ""
        for error in _get(props, "errors") or []:
            service = _get(error, "service_error_details")
            provider = _get(error, "provider_error_details")
            code = str(_get(service, "code") or _get(provider, "error_code") or "")
            message = str(_get(service, "message") or _get(provider, "error_message") or "")
            if code or message:
                break
        status = JobStatus(
            name=str(found.name or job.job_name),
            state=str(_get(props, "state") or ""),
            scenario_name=str(_get(props, "scenario_name") or ""),
            friendly_name=str(_get(props, "friendly_name") or ""),
            target_object_name=str(_get(props, "target_object_name") or ""),
            start_time=_get(props, "start_time"),
            end_time=_get(props, "end_time"),
            error_code=code,
            error_message=message,
        )
        status.raise_for_failure()
        return status

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
