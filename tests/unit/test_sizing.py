"""Pure right-sizing: percentiles, capacity, disk tiers, cost, and the shipped catalog and price snapshot."""

from __future__ import annotations

import pytest

from shared.facts import Platform, Volume
from shared.sizing import (
    AzureDiskKind,
    InstanceTypeSpec,
    SizingStrategy,
    Utilization,
    estimate_cost,
    load_catalog,
    load_prices,
    percentile,
    recommend_disk,
    recommend_size,
    required_capacity,
    resolve_strategy,
)

M5_XL = InstanceTypeSpec(instance_type="m5.xlarge", vcpus=4, memory_gib=16)


def test_data_files_name_source_and_date():
    catalog, prices = load_catalog(), load_prices()
    assert catalog.as_of == prices.as_of == "2026-11"
    assert "estimates only" in prices.source and "estimate" in prices.label
    series = {s.series for s in catalog.sizes}
    assert {"B", "Dsv5", "Ddsv5", "Dasv5", "Dpsv5", "Esv5", "Fsv2", "NCasT4_v3", "NVadsA10_v5", "Lsv3"} <= series
    assert {s.architecture for s in catalog.sizes if s.series == "Dpsv5"} == {"arm64"}
    missing = [s.name for s in catalog.sizes if s.name not in prices.vm_hourly]
    assert missing == []
    assert all(prices.vm_hourly[s.name].windows is None for s in catalog.sizes if s.architecture == "arm64")


def test_percentile_interpolates_and_rejects_nonsense():
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 120)


def test_capacity_as_is_and_measured():
    assert required_capacity(M5_XL, None)[:2] == (4.0, 16.0)
    vcpus, memory, notes = required_capacity(M5_XL, Utilization(cpu_p95_percent=50, comfort_factor=1.3))
    assert vcpus == pytest.approx(2.6) and memory == 16.0  # memory unmeasured: as-is
    assert any("memory sized as-is" in n for n in notes)
    busy = required_capacity(M5_XL, Utilization(cpu_p95_percent=95, memory_p95_percent=90, comfort_factor=1.3))
    assert busy[0] > 4 and busy[1] > 16  # measured load above the source: sized up


def test_auto_strategy_from_family_letter():
    def spec(t: str, **kw):
        return InstanceTypeSpec(instance_type=t, vcpus=2, memory_gib=8, **kw)

    assert resolve_strategy(spec("t3.large"), SizingStrategy.AUTO) == "burstable"
    assert resolve_strategy(spec("c6i.large"), SizingStrategy.AUTO) == "compute"
    assert resolve_strategy(spec("x2iedn.xlarge"), SizingStrategy.AUTO) == "memory"
    assert resolve_strategy(spec("m5d.large", local_storage_gb=75, local_nvme=True), SizingStrategy.AUTO) == "general"
    assert resolve_strategy(spec("i4i.large", local_storage_gb=468, local_nvme=True), SizingStrategy.AUTO) == "storage"
    assert resolve_strategy(spec("g5.xlarge", gpus=1), SizingStrategy.COMPUTE) == "gpu"
    assert resolve_strategy(spec("m5.large"), SizingStrategy.MEMORY) == "memory"


def test_unknown_architecture_and_oversized_are_refused():
    catalog = load_catalog()
    odd = recommend_size(
        InstanceTypeSpec(instance_type="a1.large", vcpus=2, memory_gib=4, architectures=("i386",)), catalog
    )
    assert odd.size is None and "no Azure equivalent" in odd.warnings[0]
    huge = recommend_size(InstanceTypeSpec(instance_type="u-12tb1.112xlarge", vcpus=448, memory_gib=12288), catalog)
    assert huge.size is None and "size it by hand" in huge.warnings[-1]


def test_falls_back_to_next_series_when_family_runs_out():
    big_compute = InstanceTypeSpec(instance_type="c5.24xlarge", vcpus=96, memory_gib=192)
    recommendation = recommend_size(big_compute, load_catalog())
    assert recommendation.size == "Standard_D96s_v5"
    assert any("fell back to Dsv5" in w for w in recommendation.warnings)


@pytest.mark.parametrize(
    ("volume", "is_os", "kind", "tier"),
    [
        (
            Volume(device_name="/dev/xvda", size_gib=8, volume_type="gp3", iops=3000),
            True,
            AzureDiskKind.PREMIUM_SSD,
            "P4",
        ),
        (Volume(device_name="/dev/sdf", size_gib=500, volume_type="gp2"), False, AzureDiskKind.PREMIUM_SSD, "P20"),
        (Volume(device_name="/dev/sdf", size_gib=100, volume_type="sc1"), False, AzureDiskKind.STANDARD_SSD, "E10"),
        (Volume(device_name="/dev/sdf", size_gib=2000, volume_type="st1"), False, AzureDiskKind.STANDARD_SSD, "E40"),
        (
            Volume(device_name="/dev/sdf", size_gib=100, volume_type="io2", iops=20000),
            False,
            AzureDiskKind.PREMIUM_SSD_V2,
            "",
        ),
        (
            Volume(device_name="/dev/sdf", size_gib=100, volume_type="gp3", iops=6000),
            False,
            AzureDiskKind.PREMIUM_SSD_V2,
            "",
        ),
        # an OS disk cannot be Premium SSD v2: the Premium tier is raised until it gives the IOPS
        (
            Volume(device_name="/dev/xvda", size_gib=100, volume_type="io1", iops=4000),
            True,
            AzureDiskKind.PREMIUM_SSD,
            "P30",
        ),
    ],
)
def test_disk_mapping(volume, is_os, kind, tier):
    disk = recommend_disk(volume, load_prices(), is_os_disk=is_os, premium_capable=True)
    assert disk.kind is kind and disk.tier == tier
    assert disk.monthly_cost and disk.monthly_cost > 0


def test_premium_v2_price_counts_iops_above_baseline():
    prices = load_prices()
    disk = recommend_disk(
        Volume(device_name="/dev/sdf", size_gib=100, volume_type="io2", iops=13000),
        prices,
        is_os_disk=False,
        premium_capable=True,
    )
    v2 = prices.premium_ssd_v2
    assert disk.monthly_cost == pytest.approx(
        100 * v2.per_gib_month + 10000 * v2.per_iops_month_above_baseline, abs=0.01
    )


def test_no_premium_storage_and_too_large():
    prices = load_prices()
    plain = recommend_disk(Volume(device_name="/dev/sdf", size_gib=64), prices, is_os_disk=False, premium_capable=False)
    assert plain.kind is AzureDiskKind.STANDARD_SSD and plain.tier == "E6"
    huge = recommend_disk(
        Volume(device_name="/dev/sdf", size_gib=40000, volume_type="sc1"),
        prices,
        is_os_disk=False,
        premium_capable=True,
    )
    assert huge.kind is None and huge.monthly_cost is None


def test_cost_windows_costs_more_and_unpriced_is_none():
    prices = load_prices()
    disk = recommend_disk(Volume(device_name="/dev/xvda", size_gib=30), prices, is_os_disk=True, premium_capable=True)
    linux = estimate_cost("Standard_D2s_v5", Platform.LINUX, [disk], prices)
    windows = estimate_cost("Standard_D2s_v5", Platform.WINDOWS, [disk], prices)
    assert linux.total_monthly is not None and windows.total_monthly is not None
    assert windows.total_monthly > linux.total_monthly
    assert linux.compute_monthly == pytest.approx(prices.vm_hourly["Standard_D2s_v5"].linux * 730, abs=0.01)
    assert linux.label == "estimate"
    arm_windows = estimate_cost("Standard_D2ps_v5", Platform.WINDOWS, [disk], prices)
    assert arm_windows.compute_monthly is None and arm_windows.total_monthly is None
    assert estimate_cost(None, Platform.LINUX, [], prices).total_monthly is None
