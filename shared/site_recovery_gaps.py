"""Readiness rules for the Site Recovery side of a wave (pure): the facts the Site Recovery gateway reads become
:class:`~shared.readiness.Gap` s in one :class:`~shared.readiness.SiteRecoveryFindings`.

What must hold before replication can be enabled in the modernized (InMageRcm) flow, as Microsoft documents it
("Automate VMware to Azure agent-based migration using Azure Site Recovery REST API", MicrosoftDocs/azure-docs
``articles/migrate/how-to-automate-vmware-to-azure-migration-rest-api.md``): the vault and its InMageRcm fabric;
the request's appliance among the fabric's ``processServers[]`` and healthy; the replication policy and the
container mapping the portal's first replication creates; and, per VM, exactly one machine Azure Migrate discovered
on the fabric's ``physicalSiteId``.

The Site Recovery gateway's read-only readiness model plugs in through :func:`site_recovery_findings` (keyword
arguments, so any model maps onto it field by field).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.readiness import Gap, GapKind, SiteRecoveryFindings

__all__ = ["HEALTHY_PROCESS_SERVER", "discovery_gap", "process_server_gap", "site_recovery_findings"]

VAULT_FIX = "create the Azure Migrate project's resources (docs/deploy.md 1.1) or correct target.vault"
FIRST_REPLICATION_FIX = (
    "enable the first replication from the portal: it creates the replication policy, the container mapping and "
    "the cache storage account (docs/deploy.md 1.6)"
)

#: Process server ``health`` values (``ProtectionHealth``: None, Normal, Warning, Critical). Normal and Warning let
#: replication be enabled; anything else, or a value this code does not know, is reported.
HEALTHY_PROCESS_SERVER = frozenset({"normal", "warning"})


def process_server_gap(
    appliance: str,
    fabric_id: str,
    *,
    registered: bool,
    health: str | None = None,
    health_errors: Sequence[str] = (),
) -> Gap | None:
    """The gap, if any, of the request's appliance as a process server of the InMageRcm fabric."""
    if not registered:
        return Gap(
            kind=GapKind.APPLIANCE,
            resource_id=fabric_id,
            what=f"replication appliance {appliance}",
            why="it is not registered as a process server of the InMageRcm fabric",
            fix="register the appliance with the Azure Migrate project (docs/deploy.md 1.3)",
        )
    if str(health or "").lower() not in HEALTHY_PROCESS_SERVER:
        errors = "; ".join(" ".join(e.split()) for e in health_errors) or "no health errors given"
        return Gap(
            kind=GapKind.APPLIANCE,
            resource_id=fabric_id,
            what=f"replication appliance {appliance}",
            why=f"its process server health is {health or 'unknown'} ({errors})",
            fix="resolve the appliance's health errors in the Azure Migrate portal, then resubmit the wave",
        )
    return None


def discovery_gap(instance_id: str, site_id: str, candidates: Sequence[str]) -> Gap | None:
    """The gap, if any, of one VM's Azure Migrate machine: none or more than one candidate (named)."""
    if len(candidates) == 1:
        return None
    if not candidates:
        return Gap(
            kind=GapKind.MACHINE_NOT_DISCOVERED,
            resource_id=site_id,
            what=f"Azure Migrate machine of {instance_id}",
            why="no machine discovered on the site matches its BIOS id, IP address or host name",
            fix="check the appliance discovers the instance (ports 22/5985 from the appliance), then resubmit",
            instance_ids=(instance_id,),
        )
    return Gap(
        kind=GapKind.MACHINE_AMBIGUOUS,
        resource_id=site_id,
        what=f"Azure Migrate machine of {instance_id}",
        why=f"{len(candidates)} discovered machines match it: {', '.join(candidates)}",
        fix="remove the stale machine from the Azure Migrate inventory, then resubmit",
        instance_ids=(instance_id,),
    )


def site_recovery_findings(
    *,
    vault_id: str,
    vault_found: bool,
    fabric_id: str | None,
    physical_site_id: str | None,
    appliance: str,
    process_server_registered: bool,
    process_server_health: str | None = None,
    process_server_health_errors: Sequence[str] = (),
    policy_found: bool,
    mapping_found: bool,
    machine_candidates: Mapping[str, Sequence[str]] | None = None,
) -> SiteRecoveryFindings:
    """Every Site Recovery gap at once. ``fabric_id`` None: no InMageRcm fabric in the vault;
    ``machine_candidates``: per EC2 instance id, the names of the discovered machines that match it (None: the
    machines could not be looked up because something above is missing)."""
    gaps: list[Gap] = []
    if not vault_found:
        gaps.append(
            Gap(
                kind=GapKind.SITE_RECOVERY_SETUP,
                resource_id=vault_id,
                what=f"Recovery Services vault {vault_id.rsplit('/', 1)[-1]}",
                why="it does not exist",
                fix=VAULT_FIX,
            )
        )
        return SiteRecoveryFindings(gaps=tuple(gaps))
    if fabric_id is None:
        gaps.append(
            Gap(
                kind=GapKind.SITE_RECOVERY_SETUP,
                resource_id=vault_id,
                what="InMageRcm fabric",
                why="the vault has no InMageRcm fabric: no replication appliance was registered with it",
                fix="register the replication appliance with the Azure Migrate project (docs/deploy.md 1.3)",
            )
        )
        return SiteRecoveryFindings(gaps=tuple(gaps))
    if gap := process_server_gap(
        appliance,
        fabric_id,
        registered=process_server_registered,
        health=process_server_health,
        health_errors=process_server_health_errors,
    ):
        gaps.append(gap)
    for found, what in ((policy_found, "replication policy"), (mapping_found, "protection container mapping")):
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
    for instance_id, candidates in (machine_candidates or {}).items():
        if gap := discovery_gap(instance_id, physical_site_id or fabric_id, candidates):
            gaps.append(gap)
    return SiteRecoveryFindings(physical_site_id=physical_site_id, gaps=tuple(gaps))
