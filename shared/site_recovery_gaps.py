"""The Site Recovery side of a wave's readiness (pure): the facts the Site Recovery gateway reads
(:class:`SiteRecoveryReadiness`, the answer of ``SiteRecoveryGateway.check_readiness``) and the rules by which they
become :class:`~shared.readiness.Gap` s in one :class:`~shared.readiness.SiteRecoveryFindings`.

What must hold before replication can be enabled in the modernized (InMageRcm) flow, as Microsoft documents it
("Automate VMware to Azure agent-based migration using Azure Site Recovery REST API", MicrosoftDocs/azure-docs
``articles/migrate/how-to-automate-vmware-to-azure-migration-rest-api.md``): the vault and its InMageRcm fabric;
the request's appliance among the fabric's ``processServers[]`` and healthy; the fabric's ``physicalSiteId``; the
replication policy and the container mapping the portal's first replication creates; and, per VM, exactly one
machine Azure Migrate discovered on that site.

One definition of each judgement: the appliance's process server is judged by
:func:`shared.azure_migrate.choose_process_server` (``ProcessServer.healthy``), a VM's machine by
:func:`shared.azure_migrate.match_machine`'s answer; these rules only say which answers are gaps and how to fix them.
The gateway's ``discover_topology`` refuses with the same rules' lines, so the wave's readiness check and the VM's
own start cannot disagree.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.appliance_capacity import capacity_gap
from shared.azure_migrate import (
    ApplianceIdentity,
    MachineMatch,
    MachineQuery,
    ProcessServer,
    ProcessServerProblem,
    choose_process_server,
)
from shared.readiness import Gap, GapKind, SiteRecoveryFindings
from shared.site_recovery import VaultRef

__all__ = [
    "FIRST_REPLICATION_FIX",
    "VAULT_FIX",
    "ReadinessSpec",
    "SiteRecoveryReadiness",
    "VmDiscovery",
    "discovery_gap",
    "process_server_gap",
    "site_recovery_findings",
    "unreadable_vault_gap",
]

VAULT_FIX = "create the Azure Migrate project's resources (docs/deploy.md 1.1) or correct target.vault"
REGISTER_FIX = "register the replication appliance with the Azure Migrate project (docs/deploy.md 1.3)"
FIRST_REPLICATION_FIX = (
    "enable the first replication from the portal: it creates the replication policy, the container mapping and "
    "the cache storage account (docs/deploy.md 1.6)"
)
_APPLIANCE_FIX = {
    ProcessServerProblem.NOT_REGISTERED: REGISTER_FIX + " or correct the request's appliance",
    ProcessServerProblem.AMBIGUOUS: "remove the stale process server registration in the Azure Migrate portal",
    ProcessServerProblem.UNHEALTHY: "resolve the appliance's health errors in the Azure Migrate portal, then resubmit",
}


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadinessSpec(_Facts):
    """What a wave needs from Site Recovery: its vault, its appliance, and each VM's identity as known so far."""

    vault: VaultRef
    appliance: ApplianceIdentity
    vms: tuple[MachineQuery, ...] = ()


class VmDiscovery(_Facts):
    """One VM's lookup among the machines Azure Migrate discovered: the query and what :func:`match_machine`
    answered (one machine, none, or two or more candidates, named)."""

    query: MachineQuery
    match: MachineMatch


class SiteRecoveryReadiness(_Facts):
    """What Site Recovery says about a wave before anything changes: facts only, read without changing anything.

    The judgement (which of these is a gap) is :func:`shared.site_recovery_gaps.site_recovery_findings`'s.
    ``fabric_id`` None: the vault has no InMageRcm fabric; ``physical_site_id`` None with a fabric: the fabric names
    no Azure Migrate site; ``machines_unreadable``: what the service answered when the site's machines could not be
    read (empty: read, or not looked up); ``vms``: one lookup per queried VM when the machines were read.
    """

    vault_found: bool
    fabric_id: str | None = None
    fabric_name: str | None = None
    physical_site_id: str | None = None
    process_servers: tuple[ProcessServer, ...] = ()
    policy_found: bool = False
    policy_id: str | None = None
    container_mapping_found: bool = False
    machines_unreadable: str = ""
    vms: tuple[VmDiscovery, ...] = ()


def _line(text: str) -> str:
    return " ".join(text.split())


def unreadable_vault_gap(vault_id: str, detail: str) -> Gap:
    """The pipeline's identity may not read the vault's replication setup."""
    return Gap(
        kind=GapKind.CANNOT_READ,
        resource_id=vault_id,
        what=f"Recovery Services vault {vault_id.rsplit('/', 1)[-1]}",
        why=f"the pipeline's identity may not read its replication setup: {_line(detail) or 'access denied'}",
        fix="assign Site Recovery Contributor on the vault (infra: recoveryVaultName)",
    )


def process_server_gap(appliance: ApplianceIdentity, fabric_id: str, readiness: SiteRecoveryReadiness) -> Gap | None:
    """The gap, if any, of the request's appliance as a process server of the InMageRcm fabric."""
    choice = choose_process_server(readiness.process_servers, appliance)
    if choice.server is not None or choice.reason is None:
        return None
    return Gap(
        kind=GapKind.APPLIANCE,
        resource_id=fabric_id,
        what=f"replication appliance {appliance.describe()}",
        why=_line(choice.problem),
        fix=_APPLIANCE_FIX[choice.reason],
    )


def discovery_gap(site_id: str, vm: VmDiscovery, *, discovery_pending: bool) -> Gap | None:
    """The gap, if any, of one VM's Azure Migrate machine, judged from :func:`match_machine`'s answer.

    Two candidates are a gap only when the query had the guest's BIOS id: matched by IP or hostname alone, the BIOS
    id the VM's own lookup reads on the guest may still tell them apart (and that lookup refuses, naming both, if it
    cannot). No candidate is a gap unless the pipeline itself opens the discovery ports (``discovery_pending``).
    """
    match, query = vm.match, vm.query
    if match.machine is not None:
        return None
    if match.ambiguous:
        if not query.bios_id:
            return None
        return Gap(
            kind=GapKind.MACHINE_AMBIGUOUS,
            resource_id=site_id,
            what=f"Azure Migrate machine of {query.instance_id or query.describe()}",
            why=_line(match.problem(query)),
            fix="remove the stale machine from the Azure Migrate inventory, then resubmit",
            instance_ids=(query.instance_id,) if query.instance_id else (),
        )
    if discovery_pending:
        return None
    return Gap(
        kind=GapKind.MACHINE_NOT_DISCOVERED,
        resource_id=site_id,
        what=f"Azure Migrate machine of {query.instance_id or query.describe()}",
        why=_line(match.problem(query)),
        fix=(
            "let the Azure Migrate appliance discover the instance (ports 22/5985 from it, or set "
            "appliance.discovery_ip so the pipeline opens them), then resubmit"
        ),
        instance_ids=(query.instance_id,) if query.instance_id else (),
    )


def site_recovery_findings(
    readiness: SiteRecoveryReadiness,
    *,
    vault_id: str,
    appliance: ApplianceIdentity,
    discovery_pending: bool = False,
) -> SiteRecoveryFindings:
    """Every Site Recovery gap of one vault at once (a missing vault or fabric hides what hangs off it)."""
    if not readiness.vault_found:
        missing = Gap(
            kind=GapKind.SITE_RECOVERY_SETUP,
            resource_id=vault_id,
            what=f"Recovery Services vault {vault_id.rsplit('/', 1)[-1]}",
            why="it does not exist",
            fix=VAULT_FIX,
        )
        return SiteRecoveryFindings(gaps=(missing,))
    fabric_id = readiness.fabric_id
    if fabric_id is None:
        no_fabric = Gap(
            kind=GapKind.SITE_RECOVERY_SETUP,
            resource_id=vault_id,
            what="InMageRcm fabric",
            why="the vault has no InMageRcm fabric: no replication appliance was registered with it",
            fix=REGISTER_FIX,
        )
        return SiteRecoveryFindings(gaps=(no_fabric,))
    gaps: list[Gap] = []
    if appliance_gap := process_server_gap(appliance, fabric_id, readiness):
        gaps.append(appliance_gap)
    elif (server := choose_process_server(readiness.process_servers, appliance).server) and (
        full := capacity_gap(server, appliance, fabric_id)
    ):
        gaps.append(full)  # registered and healthy, but it protects as many machines as one appliance can
    site = readiness.physical_site_id
    if not site:
        gaps.append(
            Gap(
                kind=GapKind.SITE_RECOVERY_SETUP,
                resource_id=fabric_id,
                what=f"InMageRcm fabric {readiness.fabric_name or fabric_id.rsplit('/', 1)[-1]}",
                why="it names no Azure Migrate site (physicalSiteId), so no discovered machine can be replicated",
                fix=REGISTER_FIX,
            )
        )
    for found, what in (
        (readiness.policy_found, "replication policy"),
        (readiness.container_mapping_found, "protection container mapping"),
    ):
        if not found:
            gaps.append(
                Gap(
                    kind=GapKind.SITE_RECOVERY_SETUP,
                    resource_id=fabric_id,
                    what=f"InMageRcm {what}",
                    why="it does not exist yet",
                    fix=FIRST_REPLICATION_FIX,
                )
            )
    if site and readiness.machines_unreadable:
        gaps.append(
            Gap(
                kind=GapKind.CANNOT_READ,
                resource_id=site,
                what=f"Azure Migrate site {site.rsplit('/', 1)[-1]}",
                why=f"its discovered machines cannot be read: {_line(readiness.machines_unreadable)}",
                fix="assign Reader on the Azure Migrate project's resource group (infra: migrateProjectResourceGroup)",
            )
        )
    for vm in readiness.vms:
        if machine_gap := discovery_gap(site or fabric_id, vm, discovery_pending=discovery_pending):
            gaps.append(machine_gap)
    return SiteRecoveryFindings(physical_site_id=site, gaps=tuple(gaps))
