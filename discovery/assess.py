"""One row of the assessment: readiness from the pipeline's own preflight rules, plus sizing and cost."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.facts import InstanceFacts, Volume
from shared.preflight import PreflightVerdict, evaluate
from shared.sizing import (
    AzureCatalog,
    CostEstimate,
    DiskRecommendation,
    InstanceTypeSpec,
    PriceSnapshot,
    SizeRecommendation,
    SizingStrategy,
    Utilization,
    estimate_cost,
    recommend_disk,
    recommend_size,
)


class Readiness(StrEnum):
    READY = "ready"
    READY_WITH_FIXES = "ready with fixes"
    NOT_READY = "not ready"


def readiness_of(verdict: PreflightVerdict) -> Readiness:
    """ready: accepted with nothing to say; ready with fixes: accepted with fixes or warnings; else not ready."""
    if not verdict.accepted:
        return Readiness.NOT_READY
    if verdict.reasons or verdict.fixes:
        return Readiness.READY_WITH_FIXES
    return Readiness.READY


class Assessment(BaseModel):
    """Everything discover says about one instance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    facts: InstanceFacts
    verdict: PreflightVerdict
    readiness: Readiness
    instance_spec: InstanceTypeSpec | None
    size: SizeRecommendation | None
    disks: tuple[DiskRecommendation, ...]
    cost: CostEstimate
    utilization: Utilization | None = None
    sizing_problems: tuple[str, ...] = ()

    @property
    def instance_id(self) -> str:
        return self.facts.instance_id

    @property
    def vm_size(self) -> str | None:
        return self.size.size if self.size else None


def _is_os_disk(volume: Volume, facts: InstanceFacts) -> bool:
    return volume.is_root or (bool(facts.root_device_name) and volume.device_name == facts.root_device_name)


def assess(
    facts: InstanceFacts,
    spec: InstanceTypeSpec | None,
    *,
    catalog: AzureCatalog,
    prices: PriceSnapshot,
    strategy: SizingStrategy = SizingStrategy.AUTO,
    utilization: Utilization | None = None,
) -> Assessment:
    """Readiness (``shared.preflight.evaluate``, the pipeline's rules), Azure size, disk types and cost."""
    verdict = evaluate(facts)
    problems: list[str] = []
    size: SizeRecommendation | None = None
    if spec is None:
        problems.append(f"instance type {facts.instance_type or '(none)'} is unknown to EC2 describe_instance_types")
    else:
        size = recommend_size(spec, catalog, strategy, utilization)
        if size.size is None:
            problems.extend(size.warnings)
    chosen = catalog.size(size.size) if size and size.size else None
    premium = chosen.premium_storage if chosen else True
    disks = tuple(
        recommend_disk(v, prices, is_os_disk=_is_os_disk(v, facts), premium_capable=premium) for v in facts.volumes
    )
    if chosen is not None:
        data_disks = sum(1 for d in disks if not d.is_os_disk)
        if data_disks > chosen.max_data_disks:
            problems.append(f"{data_disks} data disks: {chosen.name} takes at most {chosen.max_data_disks}")
    return Assessment(
        facts=facts,
        verdict=verdict,
        readiness=readiness_of(verdict),
        instance_spec=spec,
        size=size,
        disks=disks,
        cost=estimate_cost(size.size if size else None, facts.platform, disks, prices),
        utilization=utilization,
        sizing_problems=tuple(problems),
    )
