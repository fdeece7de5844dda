"""How many machines the replication appliance can still take, and what that means for a wave (pure).

Microsoft, "Support matrix for deploying the replication appliance with Azure Site Recovery - modernized"
(MicrosoftDocs/azure-docs ``articles/site-recovery/replication-appliance-support-matrix.md``, "Sizing and capacity"):
"An appliance that uses an in-built process server to protect the workload can handle up to 200 VMs". The fabric
reports how many machines its process server protects now (``ProcessServerDetails.protectedItemCount``, read into
:attr:`shared.azure_migrate.ProcessServer.protected_item_count`).

A wave whose VMs exceed what is left runs at most that many at once (each VM's protected item is removed when it is
migrated, which frees its place); with nothing left, readiness refuses the wave with a gap naming the appliance, the
limit and the count.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.azure_migrate import ApplianceIdentity, ProcessServer
from shared.readiness import Gap, GapKind

__all__ = ["APPLIANCE_MAX_PROTECTED", "ParallelLimit", "Parallelism", "capacity_gap", "effective_parallelism"]

#: Machines one modernized replication appliance protects at most (Microsoft's support matrix, above).
APPLIANCE_MAX_PROTECTED = 200


class ParallelLimit(StrEnum):
    """What holds a wave's parallelism back."""

    MAX_PARALLEL = "max_parallel"  # the request's own setting
    APPLIANCE_CAPACITY = "appliance_capacity"  # the appliance's remaining capacity


class Parallelism(BaseModel):
    """How many VMs a wave runs at once, and why no more."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: int
    limited_by: ParallelLimit
    max_parallel: int
    appliance_protected: int | None = None
    appliance_limit: int = APPLIANCE_MAX_PROTECTED


def effective_parallelism(
    max_parallel: int, protected_counts: Iterable[int | None], *, limit: int = APPLIANCE_MAX_PROTECTED
) -> Parallelism:
    """``min(max_parallel, remaining capacity)`` (at least one: a wave with no capacity left never gets here, its
    readiness fails). ``protected_counts``: what each vault's fabric reports for the appliance (None: not reported,
    no cap); the fullest one binds."""
    known = [count for count in protected_counts if count is not None]
    if not known:
        return Parallelism(value=max_parallel, limited_by=ParallelLimit.MAX_PARALLEL, max_parallel=max_parallel)
    protected = max(known)
    remaining = max(1, limit - protected)
    capped = remaining < max_parallel
    return Parallelism(
        value=remaining if capped else max_parallel,
        limited_by=ParallelLimit.APPLIANCE_CAPACITY if capped else ParallelLimit.MAX_PARALLEL,
        max_parallel=max_parallel,
        appliance_protected=protected,
        appliance_limit=limit,
    )


def capacity_gap(
    server: ProcessServer, appliance: ApplianceIdentity, fabric_id: str, *, limit: int = APPLIANCE_MAX_PROTECTED
) -> Gap | None:
    """The gap of an appliance with no capacity left (None: room for at least one more machine, or not reported)."""
    count = server.protected_item_count
    if count is None or count < limit:
        return None
    return Gap(
        kind=GapKind.APPLIANCE,
        resource_id=fabric_id,
        what=f"replication appliance {appliance.describe() or server.name}",
        why=(
            f"its process server {server.name or server.id} already protects {count} machines; one replication "
            f"appliance protects at most {limit}"
        ),
        fix="add a replication appliance to the Azure Migrate project, or wait for its machines to be migrated",
    )
