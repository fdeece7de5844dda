"""Azure-side readiness of a wave: every gap that would make enabling replication fail, found before anything changes.

Pure: no SDK here. :func:`needs_of` lists what a request needs in Azure (the target resource group, target and test
VNets and subnets, the cache storage account, read on the Azure Migrate site) with the actions the pipeline's
identity must hold on each; a gateway (:class:`AzureResourceReader`) reads the facts; :func:`assess` turns facts
into :class:`Gap` s, every one at once, in a :class:`ReadinessReport`.

The Site Recovery side (vault, InMageRcm fabric, the request's appliance as a healthy process server, replication
policy and container mapping, each VM's discovered machine) is read by the Site Recovery gateway; its findings come
in as :class:`SiteRecoveryFindings` (already-found gaps plus the discovery site id), built by the rules in
:mod:`shared.site_recovery_gaps`.

What enabling replication needs, as Microsoft documents it ("Use Role-Based Access Control to manage Azure Site
Recovery deployments", MicrosoftDocs/azure-docs ``articles/site-recovery/site-recovery-role-based-linked-access-
control.md``): create VMs, disks and NICs in the target resource group, read the VNet and join its subnet, read the
cache storage account and list its keys. Reading Azure Migrate's discovered machines
(``Microsoft.OffAzure/ServerSites/machines/read``, ``articles/role-based-access-control/permissions/migration.md``)
is what the modernized flow adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.lifecycle import StepError, VmState
from shared.pipeline import VmResult
from shared.rbac import PermissionEntry, missing_actions
from shared.request import MigrationRequest

__all__ = [
    "CACHE_ACCOUNT_ACTIONS",
    "MIGRATE_SITE_ACTIONS",
    "SUBNET_ACTIONS",
    "TARGET_GROUP_ACTIONS",
    "AzureResourceReader",
    "Gap",
    "GapKind",
    "Need",
    "ReadinessReport",
    "ResourceFact",
    "ResourceKind",
    "ResourceState",
    "SiteRecoveryFindings",
    "assess",
    "needs_of",
    "not_ready_results",
]

#: Virtual Machine Contributor's actions that enabling replication and (test) failover use in the target group
#: (the Site Recovery RBAC page's Compute, Network-interface and Resource-group rows, all granted by that role).
TARGET_GROUP_ACTIONS = (
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Resources/deployments/write",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Compute/virtualMachines/delete",
    "Microsoft.Compute/availabilitySets/read",
    "Microsoft.Compute/disks/read",
    "Microsoft.Compute/disks/write",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/networkInterfaces/write",
    "Microsoft.Network/networkInterfaces/delete",
    "Microsoft.Network/networkInterfaces/join/action",
)
#: On the target and the test subnet (checked at the subnet, so assignments on the VNet or above count too).
SUBNET_ACTIONS = (
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/subnets/read",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
)
#: On the cache storage account.
CACHE_ACCOUNT_ACTIONS = (
    "Microsoft.Storage/storageAccounts/read",
    "Microsoft.Storage/storageAccounts/listKeys/action",
)
#: On the Azure Migrate discovery site (``physicalSiteId``) whose machines are replicated.
MIGRATE_SITE_ACTIONS = (
    "Microsoft.OffAzure/ServerSites/read",
    "Microsoft.OffAzure/ServerSites/machines/read",
)


def _one_line(value: str) -> str:
    if not value.strip() or "\n" in value or "\r" in value:
        raise ValueError(f"expected one non-empty line, got {value[:80]!r}")
    return value.strip()


Line = Annotated[str, AfterValidator(_one_line)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GapKind(StrEnum):
    RESOURCE_MISSING = "resource_missing"
    CANNOT_READ = "cannot_read"
    PERMISSION_MISSING = "permission_missing"
    CACHE_UNREACHABLE = "cache_unreachable"
    SITE_RECOVERY_SETUP = "site_recovery_setup"
    APPLIANCE = "appliance"
    MACHINE_NOT_DISCOVERED = "machine_not_discovered"
    MACHINE_AMBIGUOUS = "machine_ambiguous"


class Gap(_Model):
    """One thing that stops the wave: what, which resource, why, and how to fix it (one line each)."""

    kind: GapKind
    resource_id: Line
    what: Line
    why: Line
    fix: Line
    instance_ids: tuple[str, ...] = Field(default=(), description="the VMs it stops; empty: every VM of the wave")

    def line(self) -> str:
        return f"{self.what}: {self.why} [{self.resource_id}] Fix: {self.fix}"


class ResourceKind(StrEnum):
    RESOURCE_GROUP = "resource group"
    VIRTUAL_NETWORK = "virtual network"
    SUBNET = "subnet"
    STORAGE_ACCOUNT = "storage account"
    MIGRATE_SITE = "Azure Migrate site"


class Need(_Model):
    """A resource the wave needs, what it is for, and the actions the pipeline's identity must hold on it."""

    kind: ResourceKind
    resource_id: str
    role: str = Field(description="what it is to the wave: 'target resource group', 'test subnet' ...")
    actions: tuple[str, ...] = ()
    read: bool = Field(default=True, description="False: only the permissions are checked (no GET)")
    instance_ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.resource_id.lower()


class ResourceState(StrEnum):
    FOUND = "found"
    MISSING = "missing"
    CANNOT_READ = "cannot_read"


class ResourceFact(_Model):
    """What ARM answered about one needed resource."""

    resource_id: str
    state: ResourceState = ResourceState.FOUND
    detail: str = Field(default="", description="ARM's error message when not found or not readable")
    properties: dict[str, Any] = Field(default_factory=dict, description="the resource's ARM properties")
    permissions: tuple[PermissionEntry, ...] | None = Field(
        default=None, description="the caller's permissions at this scope; None: they could not be listed"
    )
    permissions_detail: str = ""


class SiteRecoveryFindings(_Model):
    """What the Site Recovery side found: its gaps, and the discovery site (``physicalSiteId``) when known."""

    physical_site_id: str | None = None
    gaps: tuple[Gap, ...] = ()


class ReadinessReport(_Model):
    gaps: tuple[Gap, ...] = ()
    checked: tuple[str, ...] = Field(default=(), description="every resource id looked at")

    @property
    def ready(self) -> bool:
        return not self.gaps

    def lines(self) -> list[str]:
        return [gap.line() for gap in self.gaps]

    def for_vm(self, instance_id: str) -> tuple[Gap, ...]:
        """The gaps that stop this VM (wave-wide ones included)."""
        return tuple(gap for gap in self.gaps if not gap.instance_ids or instance_id in gap.instance_ids)


class AzureResourceReader(Protocol):
    """Reads facts from ARM, changing nothing. 404 → MISSING, 403 → CANNOT_READ; throttling and 5xx raise
    :class:`~shared.errors.TransientError`."""

    def read(self, need: Need) -> ResourceFact: ...


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _parent_vnet(subnet_id: str) -> str:
    return subnet_id.rsplit("/subnets/", 1)[0]


def needs_of(request: MigrationRequest, physical_site_id: str | None = None) -> list[Need]:
    """Every Azure resource the request's VMs land on or use, once each, with the VMs that use it."""
    found: dict[str, Need] = {}

    def add(
        kind: ResourceKind, resource_id: str, role: str, actions: tuple[str, ...], vm: str, read: bool = True
    ) -> None:
        key = f"{kind.value}|{resource_id.lower()}"
        known = found.get(key)
        if known is None:
            found[key] = Need(
                kind=kind, resource_id=resource_id, role=role, actions=actions, read=read, instance_ids=(vm,)
            )
        elif vm not in known.instance_ids:
            found[key] = known.model_copy(update={"instance_ids": (*known.instance_ids, vm)})

    for vm in request.vms:
        target = request.target_for(vm)
        group = f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
        add(ResourceKind.RESOURCE_GROUP, group, "target resource group", TARGET_GROUP_ACTIONS, vm.instance_id)
        networks = [("target", target.virtual_network_id, target.subnet)]
        if target.test_virtual_network_id and target.test_subnet:
            networks.append(("test", target.test_virtual_network_id, target.test_subnet))
        for label, network, subnet in networks:
            add(ResourceKind.VIRTUAL_NETWORK, network, f"{label} virtual network", (), vm.instance_id)
            add(ResourceKind.SUBNET, f"{network}/subnets/{subnet}", f"{label} subnet", SUBNET_ACTIONS, vm.instance_id)
        add(
            ResourceKind.STORAGE_ACCOUNT,
            target.cache_storage_account_id,
            "cache storage account",
            CACHE_ACCOUNT_ACTIONS,
            vm.instance_id,
        )
    if physical_site_id:
        for vm in request.vms:
            add(
                ResourceKind.MIGRATE_SITE,
                physical_site_id,
                "Azure Migrate site",
                MIGRATE_SITE_ACTIONS,
                vm.instance_id,
                False,
            )
    return list(found.values())


def _scope_of(request_vms: int, need: Need) -> tuple[str, ...]:
    """Empty (the whole wave) when every VM needs the resource."""
    return () if len(need.instance_ids) >= request_vms else need.instance_ids


_MISSING_FIX = {
    ResourceKind.RESOURCE_GROUP: "create the resource group or correct target.resource_group",
    ResourceKind.VIRTUAL_NETWORK: "create the virtual network or correct the request's virtual network id",
    ResourceKind.SUBNET: "add the subnet to the virtual network or correct the request's subnet name",
    ResourceKind.STORAGE_ACCOUNT: (
        "enable the first replication from the portal (it creates the cache account) or correct "
        "target.cache_storage_account_id"
    ),
    ResourceKind.MIGRATE_SITE: "register the replication appliance with the Azure Migrate project",
}
_ROLE_FIX = {
    ResourceKind.RESOURCE_GROUP: (
        "assign Virtual Machine Contributor on the resource group (infra: migrationTargetResourceGroups)"
    ),
    ResourceKind.SUBNET: (
        "assign a role with subnets/join/action on the virtual network (infra: replicationVirtualNetworks)"
    ),
    ResourceKind.STORAGE_ACCOUNT: (
        "assign Reader and Storage Account Key Operator Service Role on the account (infra: cacheStorageAccounts)"
    ),
    ResourceKind.MIGRATE_SITE: (
        "assign Reader on the Azure Migrate project's resource group (infra: migrateProjectResourceGroup)"
    ),
    ResourceKind.VIRTUAL_NETWORK: "assign Reader on the virtual network",
}


def _cache_reachability(properties: Mapping[str, Any]) -> str | None:
    """Why Site Recovery cannot reach the cache account through its firewall, or None.

    The account's ``publicNetworkAccess`` and ``networkAcls`` (``defaultAction``, ``bypass``) as the Storage
    resource provider returns them; Site Recovery writes to the cache as a trusted Microsoft service, so an account
    whose firewall denies by default must list ``AzureServices`` in ``bypass``.
    """
    if str(properties.get("publicNetworkAccess") or "").lower() == "disabled":
        return "public network access is Disabled, so Site Recovery cannot write replication data to it"
    acls = properties.get("networkAcls") or {}
    bypass = {part.strip().lower() for part in str(acls.get("bypass") or "").split(",")}
    if str(acls.get("defaultAction") or "").lower() == "deny" and "azureservices" not in bypass:
        return "its firewall denies by default and does not let trusted Microsoft services (AzureServices) through"
    return None


def _detail(text: str) -> str:
    return f": {text.strip().splitlines()[0]}" if text.strip() else ""


def _gaps_for(need: Need, fact: ResourceFact, scope: tuple[str, ...]) -> list[Gap]:
    what = f"{need.role} {_name(need.resource_id)}"
    if fact.state is ResourceState.MISSING:
        why = f"it does not exist{_detail(fact.detail)}"
        return [Gap(kind=GapKind.RESOURCE_MISSING, resource_id=need.resource_id, what=what, why=why,
                    fix=_MISSING_FIX[need.kind], instance_ids=scope)]  # fmt: skip
    if fact.state is ResourceState.CANNOT_READ:
        why = f"the pipeline's identity may not read it{_detail(fact.detail)}"
        return [Gap(kind=GapKind.CANNOT_READ, resource_id=need.resource_id, what=what, why=why,
                    fix=_ROLE_FIX[need.kind], instance_ids=scope)]  # fmt: skip
    gaps: list[Gap] = []
    if need.kind is ResourceKind.STORAGE_ACCOUNT and (unreachable := _cache_reachability(fact.properties)):
        gaps.append(
            Gap(
                kind=GapKind.CACHE_UNREACHABLE,
                resource_id=need.resource_id,
                what=what,
                why=unreachable,
                fix="in the account's Networking settings allow trusted Microsoft services (bypass AzureServices)",
                instance_ids=scope,
            )
        )
    if need.actions:
        if fact.permissions is None:
            detail = fact.permissions_detail.splitlines()[0] if fact.permissions_detail.strip() else "no answer"
            gaps.append(
                Gap(
                    kind=GapKind.CANNOT_READ,
                    resource_id=need.resource_id,
                    what=f"permissions on {what}",
                    why=f"the pipeline's identity could not list its permissions there: {detail}",
                    fix=_ROLE_FIX[need.kind],
                    instance_ids=scope,
                )
            )
        elif missing := missing_actions(need.actions, fact.permissions):
            gaps.append(
                Gap(
                    kind=GapKind.PERMISSION_MISSING,
                    resource_id=need.resource_id,
                    what=what,
                    why=f"the pipeline's identity lacks {', '.join(missing)}",
                    fix=_ROLE_FIX[need.kind],
                    instance_ids=scope,
                )
            )
    return gaps


def assess(
    request: MigrationRequest,
    needs: Sequence[Need],
    facts: Mapping[str, ResourceFact],
    site_recovery: SiteRecoveryFindings | None = None,
) -> ReadinessReport:
    """Every gap at once: Site Recovery's first, then each needed resource's (``facts`` keyed by ``Need.key``).

    A subnet of a VNet that is missing or unreadable adds no gap of its own: the VNet's gap says it all.
    """
    gaps: list[Gap] = list(site_recovery.gaps if site_recovery else ())
    broken = {
        need.key
        for need in needs
        if need.kind is ResourceKind.VIRTUAL_NETWORK and facts[need.key].state is not ResourceState.FOUND
    }
    for need in needs:
        if need.kind is ResourceKind.SUBNET and _parent_vnet(need.key) in broken:
            continue
        gaps += _gaps_for(need, facts[need.key], _scope_of(len(request.vms), need))
    return ReadinessReport(gaps=tuple(gaps), checked=tuple(need.resource_id for need in needs))


def not_ready_results(request: MigrationRequest, report: ReadinessReport, at: datetime) -> list[VmResult]:
    """Every VM of a wave that is not ready: failed before anything changed, with the gaps listed (all of them,
    as the wave's own; the first one, with the count, as the error message)."""
    results = []
    for vm in request.vms:
        lines = tuple(gap.line() for gap in report.gaps)
        own = report.for_vm(vm.instance_id)
        first = (own or report.gaps)[0].line()
        message = f"Azure is not ready for this wave ({len(report.gaps)} gap(s)); first: {first}"
        results.append(
            VmResult(
                instance_id=vm.instance_id,
                orchestration_id=request.vm_instance_id(vm),
                state=VmState.FAILED,
                error=StepError(step=VmState.PREFLIGHT, code="AzureNotReady", message=message[:1000]),
                reasons=lines,
                started_at=at,
                finished_at=at,
            )
        )
    return results
