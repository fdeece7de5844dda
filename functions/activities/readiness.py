"""``check_readiness``: the Azure side of a wave, checked before anything changes, every gap named at once.

Reads only. The Site Recovery side (vault, fabric, policy and container mapping, appliance, discovered machines)
comes from the Site Recovery gateway as :class:`~shared.readiness.SiteRecoveryFindings`; the target resources and
the pipeline identity's permissions on them come from the ARM reader (:mod:`functions.gateways.azure_resources`);
:func:`shared.readiness.assess` turns both into the report.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from shared import site_recovery as sr
from shared.errors import AccessDeniedError, NotFoundError, PermanentError
from shared.readiness import Gap, GapKind, ReadinessReport, SiteRecoveryFindings, assess, needs_of
from shared.request import MigrationRequest
from shared.site_recovery_gaps import FIRST_REPLICATION_FIX, VAULT_FIX


class ReadinessInput(BaseModel):
    """The one input of ``check_readiness``: the wave's request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: MigrationRequest


def _vaults(request: MigrationRequest) -> list[sr.VaultRef]:
    vaults: list[sr.VaultRef] = []
    for vm in request.vms:
        target = request.target_for(vm)
        vault = sr.VaultRef(
            subscription_id=target.subscription_id,
            resource_group=target.vault.resource_group,
            vault_name=target.vault.name,
        )
        if vault not in vaults:
            vaults.append(vault)
    return vaults


def _vault_id(vault: sr.VaultRef) -> str:
    return (
        f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
        f"/providers/Microsoft.RecoveryServices/vaults/{vault.vault_name}"
    )


def site_recovery_side(request: MigrationRequest) -> SiteRecoveryFindings:
    """The Site Recovery side's gaps and discovery site.

    Integration point: the Site Recovery gateway's own readiness read (vault, fabric, process server health,
    machines per VM) replaces the topology read below, through
    :func:`shared.site_recovery_gaps.site_recovery_findings`. Until then this finds what the topology read can:
    no paired InMageRcm container with a policy (the portal's first replication was never enabled), or no right
    to read the vault.
    """
    gaps: list[Gap] = []
    site: str | None = None
    for vault in _vaults(request):
        gateway = runtime.current().site_recovery(vault)
        spec = sr.DiscoverTopologySpec(
            vault=vault, appliance=sr.ApplianceIdentity(ip_address=str(request.appliance.private_ip))
        )
        what = f"Recovery Services vault {vault.vault_name}"
        try:
            topology = gateway.discover_topology(spec)
        except AccessDeniedError as error:
            gaps.append(
                Gap(
                    kind=GapKind.CANNOT_READ,
                    resource_id=_vault_id(vault),
                    what=what,
                    why=f"the pipeline's identity may not read its replication setup: {error.message.splitlines()[0]}",
                    fix="assign Site Recovery Contributor on the vault (infra: recoveryVaultName)",
                )
            )
        except PermanentError as error:
            # ARM's own 404 codes (ResourceNotFound, ResourceGroupNotFound...) mean the vault itself is not there;
            # the gateway's plain NotFound means the vault has no paired InMageRcm container with a policy.
            vault_missing = isinstance(error, NotFoundError) and error.code != "NotFound"
            gaps.append(
                Gap(
                    kind=GapKind.SITE_RECOVERY_SETUP,
                    resource_id=_vault_id(vault),
                    what=what,
                    why=(error.message.splitlines() or ["its replication setup was not found"])[0],
                    fix=VAULT_FIX if vault_missing else FIRST_REPLICATION_FIX,
                )
            )
        else:
            site = site or topology.physical_site_id
    return SiteRecoveryFindings(physical_site_id=site, gaps=tuple(gaps))


def check(spec: ReadinessInput) -> ReadinessReport:
    request = spec.request
    findings = site_recovery_side(request)
    needs = needs_of(request, findings.physical_site_id)
    reader = runtime.current().azure_resources
    if reader is None:
        raise PermanentError("no Azure resources gateway is configured: the readiness check cannot read ARM")
    facts = {need.key: reader.read(need) for need in needs}
    return assess(request, needs, facts, findings)


@bp.activity_trigger(input_name="payload")
def check_readiness(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, ReadinessInput, check)
