"""``check_readiness``: the Azure side of a wave, checked before anything changes, every gap named at once.

Reads only. The Site Recovery side (vault, InMageRcm fabric, the appliance's process server, ``physicalSiteId``,
policy and container mapping, each VM's discovered machine) is read as facts by the Site Recovery gateway's
``check_readiness`` and judged by :func:`shared.site_recovery_gaps.site_recovery_findings`; the target resources and
the pipeline identity's permissions on them come from the ARM reader (:mod:`functions.gateways.azure_resources`);
:func:`shared.readiness.assess` lists both sides' gaps in one report.

Where it runs in the wave, and why: after preflight, before the first change. Each VM's machine can only be looked
up with something Azure Migrate knows it by; the request holds EC2 instance ids only, the guest's BIOS id and
hostname are read on the guest during preparation (after changes have begun), and the private IP is known once
preflight's inventory has described the instance. Preflight only reads (EC2 and SSM inventory, through the
``inventory`` Lambda), so running it first keeps the check before any change and lets it judge discovery by IP in
the same report as every other gap: one check, every gap at once. What an IP alone cannot settle is left to the
VM's own lookup with the guest's BIOS id: two machines at one IP (a stale twin) are not a gap here, and a machine
not yet discovered is not one when the pipeline itself opens the discovery ports (``appliance.discovery_ip``, in
``prepare_network``). Otherwise a machine the appliance has not discovered is a gap: Microsoft lists "machines
discovered by the appliance" among the prerequisites of enabling replication ("Automate VMware to Azure agent-based
migration using Azure Site Recovery REST API", MicrosoftDocs/azure-docs
``articles/migrate/how-to-automate-vmware-to-azure-migration-rest-api.md``, Prerequisites).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from functions.activities.preflight import PreflightOutcome
from shared import site_recovery as sr
from shared.errors import AccessDeniedError, PermanentError
from shared.readiness import Gap, ReadinessReport, SiteRecoveryFindings, assess, needs_of
from shared.request import MigrationRequest
from shared.site_recovery_gaps import ReadinessSpec, site_recovery_findings, unreadable_vault_gap


class ReadinessInput(BaseModel):
    """The one input of ``check_readiness``: the wave's request, and what preflight knows of each accepted VM
    (instance id and private IP) to look its Azure Migrate machine up by."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: MigrationRequest
    vms: tuple[sr.MachineQuery, ...] = ()


def machine_queries(outcomes: Iterable[PreflightOutcome]) -> tuple[sr.MachineQuery, ...]:
    """Preflight's accepted VMs with a private IP, as machine lookups."""
    return tuple(
        sr.MachineQuery(instance_id=o.instance_id, ip_address=o.facts.private_ip)
        for o in outcomes
        if o.verdict.accepted and o.facts is not None and o.facts.private_ip
    )


def site_recovery_side(request: MigrationRequest, vms: tuple[sr.MachineQuery, ...]) -> SiteRecoveryFindings:
    """Every vault's Site Recovery facts, read by the gateway and judged by the shared rules."""
    appliance = sr.appliance_identity(request.appliance)
    gaps: list[Gap] = []
    site: str | None = None
    for vault in sr.vaults_of(request):
        mine = {vm.instance_id for vm in request.vms if sr.vault_of(request, vm) == vault}
        spec = ReadinessSpec(vault=vault, appliance=appliance, vms=tuple(q for q in vms if q.instance_id in mine))
        try:
            facts = runtime.current().site_recovery(vault).check_readiness(spec)
        except AccessDeniedError as denied:
            gaps.append(unreadable_vault_gap(vault.arm_id, denied.message))
            continue
        findings = site_recovery_findings(
            facts,
            vault_id=vault.arm_id,
            appliance=appliance,
            discovery_pending=request.appliance.discovery_ip is not None,
        )
        gaps += findings.gaps
        site = site or findings.physical_site_id
    return SiteRecoveryFindings(physical_site_id=site, gaps=tuple(gaps))


def check(spec: ReadinessInput) -> ReadinessReport:
    request = spec.request
    findings = site_recovery_side(request, spec.vms)
    needs = needs_of(request, findings.physical_site_id)
    reader = runtime.current().azure_resources
    if reader is None:
        raise PermanentError("no Azure resources gateway is configured: the readiness check cannot read ARM")
    facts = {need.key: reader.read(need) for need in needs}
    return assess(request, needs, facts, findings)


@bp.activity_trigger(input_name="payload")
def check_readiness(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, ReadinessInput, check)
