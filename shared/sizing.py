"""Right-sizing: the closest Azure VM size and managed disk types for an EC2 instance, with a monthly cost estimate.

Pure functions over data. The Azure size catalog and the price snapshot ship as JSON files in ``shared/data/``
(each names its source and date); :func:`load_catalog` and :func:`load_prices` read them. Costs are estimates
from a price snapshot, never quotes.

Sizing follows Azure Migrate's two assessment kinds:

* *as-is*: the Azure size is never smaller in vCPU or memory than the EC2 type;
* *performance-based*: the p95 of CPU (and memory, when measured) utilisation over N days times a comfort factor
  gives the vCPU and memory needed; an unmeasured dimension stays as-is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.facts import Platform, Volume

DATA_DIR = Path(__file__).resolve().parent / "data"
CATALOG_FILE = "azure_vm_sizes.json"
PRICES_FILE = "azure_prices_westeurope.json"
ESTIMATE_LABEL = "estimate"

Architecture = Literal["x64", "arm64"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- inputs --------------------------------------------------------------------------------------------------


class InstanceTypeSpec(_Frozen):
    """What EC2 ``describe_instance_types`` says about an instance type, reduced to what sizing needs."""

    instance_type: str
    vcpus: int = Field(ge=1)
    memory_gib: float = Field(gt=0)
    architectures: tuple[str, ...] = ("x86_64",)
    gpus: int = 0
    gpu_model: str = ""
    gpu_memory_gib: float = 0
    local_storage_gb: int = 0
    local_nvme: bool = False
    network_baseline_gbps: float = 0
    network_performance: str = ""
    burstable: bool = False

    @property
    def family(self) -> str:
        """The EC2 family: ``m5`` of ``m5.large``, ``p6-b200`` of ``p6-b200.48xlarge``."""
        return self.instance_type.split(".", 1)[0]

    @property
    def family_letter(self) -> str:
        match = re.match(r"[a-z]+", self.family)
        return match.group(0) if match else ""


class Utilization(_Frozen):
    """Measured utilisation (p95 over ``days``), as Azure Migrate's performance-based assessment uses it."""

    cpu_p95_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    memory_p95_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    days: int = Field(default=30, ge=1, le=455)
    comfort_factor: float = Field(default=1.3, ge=1.0, le=4.0)
    cpu_samples: int = 0
    memory_samples: int = 0


def percentile(values: Sequence[float], percent: float) -> float | None:
    """The ``percent``-th percentile with linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    if not 0 <= percent <= 100:
        raise ValueError(f"percentile must be within 0..100, got {percent}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def utilization_from_series(
    cpu_percent: Sequence[float], memory_percent: Sequence[float], *, days: int, comfort_factor: float
) -> Utilization:
    """The p95 of each series (clamped to 0..100); an empty series leaves that dimension unmeasured."""
    cpu = percentile(cpu_percent, 95)
    memory = percentile(memory_percent, 95)
    return Utilization(
        cpu_p95_percent=None if cpu is None else min(max(cpu, 0.0), 100.0),
        memory_p95_percent=None if memory is None else min(max(memory, 0.0), 100.0),
        days=days,
        comfort_factor=comfort_factor,
        cpu_samples=len(cpu_percent),
        memory_samples=len(memory_percent),
    )


# --- catalog and prices -------------------------------------------------------------------------------------


class AzureVmSize(_Frozen):
    name: str
    series: str
    family: Literal["burstable", "general", "memory", "compute", "storage", "gpu"]
    vcpus: int
    memory_gib: float
    max_data_disks: int
    architecture: Architecture
    premium_storage: bool
    burstable: bool = False
    network_mbps: int = 0  # 0: not published
    local_temp_disk_gib: int = 0
    local_nvme_gb: int = 0
    gpus: float = 0
    gpu_model: str = ""
    gpu_memory_gib: float = 0


class AzureCatalog(_Frozen):
    source: str
    as_of: str
    note: str = ""
    sizes: tuple[AzureVmSize, ...]

    def size(self, name: str) -> AzureVmSize | None:
        return next((size for size in self.sizes if size.name == name), None)


class DiskTier(_Frozen):
    tier: str
    size_gib: int
    iops: int
    monthly: float


class VmPrice(_Frozen):
    linux: float
    windows: float | None = None


class PremiumSsdV2Prices(_Frozen):
    per_gib_month: float
    per_iops_month_above_baseline: float
    baseline_iops: int
    max_iops: int
    max_size_gib: int


class PriceSnapshot(_Frozen):
    source: str
    as_of: str
    region: str
    currency: str
    hours_per_month: float
    note: str = ""
    vm_hourly: dict[str, VmPrice]
    managed_disks: dict[str, tuple[DiskTier, ...]]
    premium_ssd_v2: PremiumSsdV2Prices

    @property
    def label(self) -> str:
        return f"{ESTIMATE_LABEL}: {self.source} ({self.region}, {self.currency})"


@lru_cache(maxsize=4)
def load_catalog(path: Path | None = None) -> AzureCatalog:
    """The Azure VM size catalog shipped in ``shared/data`` (or the file at ``path``)."""
    return AzureCatalog.model_validate(json.loads((path or DATA_DIR / CATALOG_FILE).read_text(encoding="utf-8")))


@lru_cache(maxsize=4)
def load_prices(path: Path | None = None) -> PriceSnapshot:
    """The price snapshot shipped in ``shared/data`` (or the file at ``path``)."""
    return PriceSnapshot.model_validate(json.loads((path or DATA_DIR / PRICES_FILE).read_text(encoding="utf-8")))


# --- VM size -------------------------------------------------------------------------------------------------


class SizingStrategy(StrEnum):
    AUTO = "auto"
    GENERAL = "general"
    MEMORY = "memory"
    COMPUTE = "compute"
    BURSTABLE = "burstable"


# Series to try, best first, per family strategy and architecture.
STRATEGY_SERIES: dict[tuple[str, Architecture], tuple[str, ...]] = {
    ("general", "x64"): ("Dsv5", "Dasv5", "Ddsv5"),
    ("memory", "x64"): ("Esv5",),
    ("compute", "x64"): ("Fsv2", "Dsv5"),
    ("burstable", "x64"): ("B", "Dsv5"),
    ("storage", "x64"): ("Lsv3",),
    ("gpu", "x64"): ("NCasT4_v3", "NVadsA10_v5", "NC_A100_v4"),
    ("general", "arm64"): ("Dpsv5",),
    ("memory", "arm64"): ("Dpsv5",),
    ("compute", "arm64"): ("Dpsv5",),
    ("burstable", "arm64"): ("Dpsv5",),
    ("storage", "arm64"): ("Dpsv5",),
}
# EC2 family letter → strategy when ``auto``.
AUTO_FAMILY: dict[str, str] = {
    "t": "burstable",
    "m": "general",
    "a": "general",
    "mac": "general",
    "c": "compute",
    "hpc": "compute",
    "r": "memory",
    "x": "memory",
    "u": "memory",
    "z": "memory",
    "i": "storage",
    "im": "storage",
    "is": "storage",
    "d": "storage",
    "h": "storage",
    "p": "gpu",
    "g": "gpu",
    "gr": "gpu",
    "dl": "gpu",
    "inf": "gpu",
    "trn": "gpu",
    "f": "gpu",
    "vt": "gpu",
}


class SizeRecommendation(_Frozen):
    """The Azure size for one instance type (``size`` None: nothing in the catalog fits), and why."""

    instance_type: str
    strategy: str
    size: str | None
    series: str = ""
    vcpus: int = 0
    memory_gib: float = 0
    required_vcpus: float
    required_memory_gib: float
    performance_based: bool = False
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _architecture(spec: InstanceTypeSpec) -> Architecture | None:
    architectures = set(spec.architectures)
    if "x86_64" in architectures:
        return "x64"
    if "arm64" in architectures:
        return "arm64"
    return None


def resolve_strategy(spec: InstanceTypeSpec, strategy: SizingStrategy) -> str:
    """The family to size in: GPU and local-NVMe types keep their kind; ``auto`` reads the EC2 family letter."""
    if spec.gpus:
        return "gpu"
    if strategy is SizingStrategy.AUTO:
        if spec.local_nvme and spec.local_storage_gb and spec.family_letter in {"i", "im", "is", "d", "h"}:
            return "storage"
        return AUTO_FAMILY.get(spec.family_letter, "general")
    return strategy.value


def required_capacity(spec: InstanceTypeSpec, utilization: Utilization | None) -> tuple[float, float, list[str]]:
    """vCPU and memory the Azure VM needs: as-is, or p95 utilisation x comfort factor where measured."""
    notes: list[str] = []
    vcpus, memory = float(spec.vcpus), float(spec.memory_gib)
    if utilization is None:
        return vcpus, memory, notes
    factor = utilization.comfort_factor
    if utilization.cpu_p95_percent is not None:
        vcpus = max(1.0, spec.vcpus * utilization.cpu_p95_percent / 100 * factor)
        notes.append(
            f"CPU p95 {utilization.cpu_p95_percent:.1f}% over {utilization.days} days x comfort {factor:g} "
            f"→ {vcpus:.2f} of {spec.vcpus} vCPUs needed"
        )
    else:
        notes.append("no CPU utilisation data: vCPUs sized as-is")
    if utilization.memory_p95_percent is not None:
        memory = max(0.5, spec.memory_gib * utilization.memory_p95_percent / 100 * factor)
        notes.append(
            f"memory p95 {utilization.memory_p95_percent:.1f}% x comfort {factor:g} → {memory:.1f} of "
            f"{spec.memory_gib:g} GiB needed"
        )
    else:
        notes.append("no memory utilisation data (CloudWatch agent mem_used_percent): memory sized as-is")
    return vcpus, memory, notes


def _fits(size: AzureVmSize, spec: InstanceTypeSpec, vcpus: float, memory: float, arch: Architecture) -> bool:
    if size.architecture != arch or size.vcpus < vcpus or size.memory_gib + 1e-9 < memory:
        return False
    return not (spec.gpus and size.gpus + 1e-9 < spec.gpus)


def _fit_warnings(spec: InstanceTypeSpec, chosen: AzureVmSize, notes: list[str]) -> list[str]:
    """What the operator should know about how well ``chosen`` matches the EC2 type."""
    found: list[str] = []
    if spec.gpus:
        found.append(
            f"GPU: {spec.gpus} x {spec.gpu_model or 'GPU'} → {chosen.gpus:g} x {chosen.gpu_model}; check the GPU "
            "model, drivers (NVIDIA GRID/CUDA extensions) and regional availability"
        )
    if spec.local_storage_gb:
        if chosen.local_nvme_gb:
            notes.append(f"local NVMe {spec.local_storage_gb} GB → {chosen.local_nvme_gb} GB on {chosen.series}")
        else:
            found.append(
                f"instance store ({spec.local_storage_gb} GB, ephemeral) is not replicated; "
                f"{chosen.name} has no local NVMe"
                + (f", only a {chosen.local_temp_disk_gib} GiB temp disk" if chosen.local_temp_disk_gib else "")
            )
    if spec.network_baseline_gbps and chosen.network_mbps and chosen.network_mbps < spec.network_baseline_gbps * 1000:
        found.append(
            f"network: {chosen.name} offers about {chosen.network_mbps / 1000:g} Gbps, below the EC2 baseline "
            f"{spec.network_baseline_gbps:g} Gbps"
        )
    if chosen.burstable and not spec.burstable:
        found.append("burstable B-series for a non-burstable type: sustained CPU above the baseline is throttled")
    return found


def recommend_size(
    spec: InstanceTypeSpec,
    catalog: AzureCatalog,
    strategy: SizingStrategy = SizingStrategy.AUTO,
    utilization: Utilization | None = None,
) -> SizeRecommendation:
    """The smallest catalog size of the strategy's series (in order) that holds the needed vCPU, memory and GPUs."""
    family = resolve_strategy(spec, strategy)
    vcpus, memory, notes = required_capacity(spec, utilization)
    warnings: list[str] = []
    base = {
        "instance_type": spec.instance_type,
        "strategy": family,
        "required_vcpus": round(vcpus, 2),
        "required_memory_gib": round(memory, 2),
        "performance_based": utilization is not None,
    }
    arch = _architecture(spec)
    if arch is None:
        return SizeRecommendation(
            **base,
            size=None,
            notes=tuple(notes),
            warnings=(f"architecture {'/'.join(spec.architectures)} has no Azure equivalent",),
        )
    if arch == "arm64":
        warnings.append(
            "arm64: sized on Azure Arm64 (Dpsv5); Site Recovery cannot replicate it, so it needs a workload migration"
        )
    series_order = STRATEGY_SERIES.get((family, arch), STRATEGY_SERIES[("general", arch)])
    if family == "gpu" and arch == "arm64":
        return SizeRecommendation(
            **base, size=None, notes=tuple(notes), warnings=(*warnings, "no Arm64 GPU size in the catalog")
        )
    chosen: AzureVmSize | None = None
    for index, series in enumerate(series_order):
        candidates = [s for s in catalog.sizes if s.series == series and _fits(s, spec, vcpus, memory, arch)]
        if candidates:
            chosen = min(candidates, key=lambda s: (s.vcpus, s.memory_gib, s.gpus))
            if index:
                warnings.append(f"nothing large enough in {series_order[0]}: fell back to {series}")
            break
    if chosen is None:
        gpu = f", {spec.gpus} GPU(s)" if spec.gpus else ""
        return SizeRecommendation(
            **base,
            size=None,
            notes=tuple(notes),
            warnings=(
                *warnings,
                f"no size in {', '.join(series_order)} has {math.ceil(vcpus)} vCPUs and {memory:g} GiB{gpu}: "
                "size it by hand",
            ),
        )
    warnings.extend(_fit_warnings(spec, chosen, notes))
    return SizeRecommendation(
        **base,
        size=chosen.name,
        series=chosen.series,
        vcpus=chosen.vcpus,
        memory_gib=chosen.memory_gib,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


# --- disks ---------------------------------------------------------------------------------------------------


class AzureDiskKind(StrEnum):
    PREMIUM_SSD = "Premium_LRS"
    PREMIUM_SSD_V2 = "PremiumV2_LRS"
    STANDARD_SSD = "StandardSSD_LRS"
    STANDARD_HDD = "Standard_LRS"


GP3_BASELINE_IOPS = 3000
_MAGNETIC = {"standard", "sc1", "st1"}
_PROVISIONED_IOPS = {"io1", "io2"}


class DiskRecommendation(_Frozen):
    device_name: str
    volume_id: str = ""
    size_gib: int
    ebs_type: str
    ebs_iops: int | None = None
    kind: AzureDiskKind | None
    tier: str = ""  # P10, E20, … ; empty for Premium SSD v2 (sized to the GiB)
    monthly_cost: float | None = None
    is_os_disk: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        if self.kind is None:
            return "-"
        return f"{self.kind.value} {self.tier}".strip()


def _needed_iops(volume: Volume) -> int:
    """IOPS the disk must deliver: provisioned io1/io2, or gp3 provisioned above its free baseline."""
    iops = volume.iops or 0
    if volume.volume_type in _PROVISIONED_IOPS:
        return iops
    if volume.volume_type == "gp3" and iops > GP3_BASELINE_IOPS:
        return iops
    return 0


def _tier(tiers: Iterable[DiskTier], size_gib: int, iops: int) -> DiskTier | None:
    fitting = [t for t in tiers if t.size_gib >= size_gib and t.iops >= iops]
    return min(fitting, key=lambda t: t.size_gib) if fitting else None


def recommend_disk(
    volume: Volume, prices: PriceSnapshot, *, is_os_disk: bool, premium_capable: bool
) -> DiskRecommendation:
    """Azure managed disk type and tier for one EBS volume.

    gp2/gp3 → Premium SSD; io1/io2 (and gp3 provisioned beyond what the size's Premium tier gives) → Premium SSD v2
    for data disks, a larger Premium tier for the OS disk (v2 cannot be an OS disk); st1/sc1/standard → Standard
    SSD. A VM size without premium storage gets Standard SSD.
    """
    iops = _needed_iops(volume)
    base = {
        "device_name": volume.device_name,
        "volume_id": volume.volume_id,
        "size_gib": volume.size_gib,
        "ebs_type": volume.volume_type,
        "ebs_iops": volume.iops,
        "is_os_disk": is_os_disk,
    }
    size = max(volume.size_gib, 1)
    if volume.volume_type in _MAGNETIC or not premium_capable:
        tier = _tier(prices.managed_disks[AzureDiskKind.STANDARD_SSD.value], size, 0)
        note = "magnetic EBS volume" if volume.volume_type in _MAGNETIC else "VM size without premium storage"
        if tier is None:
            return DiskRecommendation(**base, kind=None, note=f"{size} GiB exceeds every Standard SSD tier")
        return DiskRecommendation(
            **base, kind=AzureDiskKind.STANDARD_SSD, tier=tier.tier, monthly_cost=tier.monthly, note=note
        )
    premium = prices.managed_disks[AzureDiskKind.PREMIUM_SSD.value]
    by_size = _tier(premium, size, 0)
    wants_v2 = volume.volume_type in _PROVISIONED_IOPS or (by_size is not None and iops > by_size.iops)
    if wants_v2 and not is_os_disk:
        v2 = prices.premium_ssd_v2
        if size <= v2.max_size_gib and iops <= v2.max_iops:
            cost = size * v2.per_gib_month + max(0, iops - v2.baseline_iops) * v2.per_iops_month_above_baseline
            return DiskRecommendation(
                **base,
                kind=AzureDiskKind.PREMIUM_SSD_V2,
                monthly_cost=round(cost, 2),
                note=f"{iops} IOPS provisioned" if iops else "provisioned-IOPS EBS volume",
            )
    tier = _tier(premium, size, iops)
    if tier is None:
        return DiskRecommendation(**base, kind=None, note=f"no Premium SSD tier has {size} GiB and {iops} IOPS")
    note = ""
    if by_size is not None and tier.tier != by_size.tier:
        note = f"tier raised from {by_size.tier} to {tier.tier} for {iops} IOPS"
        if is_os_disk and wants_v2:
            note += " (Premium SSD v2 cannot be an OS disk)"
    return DiskRecommendation(
        **base, kind=AzureDiskKind.PREMIUM_SSD, tier=tier.tier, monthly_cost=tier.monthly, note=note
    )


# --- cost ----------------------------------------------------------------------------------------------------


class CostEstimate(_Frozen):
    """Monthly pay-as-you-go estimate from a price snapshot (``None`` parts were not priced)."""

    compute_monthly: float | None
    disks_monthly: float | None
    total_monthly: float | None
    currency: str
    region: str
    source: str
    label: str = ESTIMATE_LABEL


def estimate_cost(
    size: str | None, platform: Platform, disks: Sequence[DiskRecommendation], prices: PriceSnapshot
) -> CostEstimate:
    """VM hours (Windows price for Windows guests) plus disk tiers, per month."""
    compute: float | None = None
    price = prices.vm_hourly.get(size) if size else None
    if price is not None:
        hourly = price.windows if platform is Platform.WINDOWS else price.linux
        compute = None if hourly is None else round(hourly * prices.hours_per_month, 2)
    disk_costs = [d.monthly_cost for d in disks]
    disks_total = None if any(c is None for c in disk_costs) else round(sum(c or 0.0 for c in disk_costs), 2)
    total = None if compute is None or disks_total is None else round(compute + disks_total, 2)
    return CostEstimate(
        compute_monthly=compute,
        disks_monthly=disks_total,
        total_monthly=total,
        currency=prices.currency,
        region=prices.region,
        source=prices.source,
    )
