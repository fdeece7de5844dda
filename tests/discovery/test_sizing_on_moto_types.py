"""Right-sizing on the instance type data moto ships (describe_instance_types), and the CloudWatch metrics port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from discovery.instance_types import InstanceTypeCatalog, catalog_for
from discovery.metrics import CloudWatchUtilization, InMemoryUtilization
from shared.sizing import SizingStrategy, load_catalog, recommend_size, utilization_from_series

REGION = "eu-west-1"
TYPES = [
    "m5.large",
    "m5.2xlarge",
    "m6i.xlarge",
    "c5.xlarge",
    "c5.4xlarge",
    "r5.large",
    "r5.2xlarge",
    "t3.micro",
    "t3.medium",
    "t3.xlarge",
    "g4dn.xlarge",
    "p4d.24xlarge",
    "m6g.large",
    "i3.large",
]


@pytest.fixture(scope="module")
def specs():
    with mock_aws():
        catalog = InstanceTypeCatalog(boto3.client("ec2", region_name=REGION), REGION)
        found = catalog.specs([*TYPES, "bogus.large"])
    assert "bogus.large" not in found
    return found


@pytest.mark.parametrize(
    ("instance_type", "size"),
    [
        ("m5.large", "Standard_D2s_v5"),
        ("m5.2xlarge", "Standard_D8s_v5"),
        ("m6i.xlarge", "Standard_D4s_v5"),
        ("c5.xlarge", "Standard_F4s_v2"),
        ("c5.4xlarge", "Standard_F16s_v2"),
        ("r5.large", "Standard_E2s_v5"),
        ("r5.2xlarge", "Standard_E8s_v5"),
        ("t3.micro", "Standard_B2s"),  # 2 vCPU, 1 GiB: B1s/B1ms have 1 vCPU, and vCPUs never shrink as-is
        ("t3.medium", "Standard_B2s"),
        ("t3.xlarge", "Standard_B4ms"),
        ("i3.large", "Standard_L8s_v3"),
    ],
)
def test_auto_strategy_maps_each_family(specs, instance_type, size):
    spec = specs[instance_type]
    recommendation = recommend_size(spec, load_catalog())
    assert recommendation.size == size
    chosen = load_catalog().size(size)
    assert chosen is not None
    assert chosen.vcpus >= spec.vcpus and chosen.memory_gib >= spec.memory_gib  # never smaller as-is


def test_explicit_strategy_overrides_family(specs):
    catalog = load_catalog()
    assert recommend_size(specs["m5.large"], catalog, SizingStrategy.MEMORY).size == "Standard_E2s_v5"
    assert recommend_size(specs["t3.medium"], catalog, SizingStrategy.GENERAL).size == "Standard_D2s_v5"
    burst = recommend_size(specs["m5.large"], catalog, SizingStrategy.BURSTABLE)
    assert burst.size == "Standard_B2ms"
    assert any("burstable" in w for w in burst.warnings)


def test_gpu_mapped_with_warning_or_refused(specs):
    catalog = load_catalog()
    g4dn = recommend_size(specs["g4dn.xlarge"], catalog, SizingStrategy.GENERAL)
    assert g4dn.strategy == "gpu" and g4dn.size == "Standard_NC4as_T4_v3"
    assert any(w.startswith("GPU:") for w in g4dn.warnings)
    p4d = recommend_size(specs["p4d.24xlarge"], catalog)
    assert specs["p4d.24xlarge"].gpus == 8
    assert p4d.size is None
    assert "size it by hand" in p4d.warnings[-1]


def test_arm64_sized_on_arm_with_warning(specs):
    arm = recommend_size(specs["m6g.large"], load_catalog())
    assert arm.size == "Standard_D2ps_v5"
    assert any("arm64" in w for w in arm.warnings)


def test_performance_based_downsizing_with_stubbed_series(specs):
    stub = InMemoryUtilization(cpu={"i-1": [10.0] * 95 + [30.0] * 5}, memory={"i-1": [20.0] * 100})
    utilization = utilization_from_series(
        stub.cpu_percent("i-1", 30), stub.memory_percent("i-1", 30), days=30, comfort_factor=1.3
    )
    assert utilization.cpu_p95_percent == pytest.approx(11.0)
    spec = specs["m5.2xlarge"]  # 8 vCPU, 32 GiB
    as_is = recommend_size(spec, load_catalog())
    sized = recommend_size(spec, load_catalog(), utilization=utilization)
    assert as_is.size == "Standard_D8s_v5"
    # 8 vCPU x 11% x 1.3 = 1.14 vCPU; 32 GiB x 20% x 1.3 = 8.32 GiB: D2s_v5 (8 GiB) is too small, D4s_v5 fits
    assert sized.size == "Standard_D4s_v5"
    assert sized.required_vcpus == pytest.approx(1.14, abs=0.01)
    assert sized.required_memory_gib == pytest.approx(8.32)
    assert sized.performance_based and sized.notes
    assert ("cpu", "i-1", 30) in stub.calls


def test_catalog_is_cached_per_region():
    with mock_aws():
        client = boto3.client("ec2", region_name=REGION)
        first = catalog_for(client, REGION)
        assert catalog_for(client, REGION) is first
        assert catalog_for(client, "us-east-1") is not first
        first.specs(["m5.large"])
        calls = []
        client.meta.events.register("before-call.ec2.DescribeInstanceTypes", lambda **kw: calls.append(1))
        first.specs(["m5.large"])
        assert calls == []


def test_cloudwatch_utilization_reads_cpu_and_agent_memory():
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        for hour in range(48):
            at = now - timedelta(hours=hour + 1)
            for namespace, metric, value in (
                ("AWS/EC2", "CPUUtilization", 10.0 + hour % 5),
                ("CWAgent", "mem_used_percent", 40.0),
            ):
                cloudwatch.put_metric_data(
                    Namespace=namespace,
                    MetricData=[
                        {
                            "MetricName": metric,
                            "Dimensions": [{"Name": "InstanceId", "Value": "i-1"}],
                            "Timestamp": at,
                            "Value": value,
                            "Unit": "Percent",
                        }
                    ],
                )
        source = CloudWatchUtilization(cloudwatch, now=now)
        cpu = source.cpu_percent("i-1", 7)
        memory = source.memory_percent("i-1", 7)
        assert len(cpu) == 48 and max(cpu) == 14.0
        assert set(memory) == {40.0}
        assert source.memory_percent("i-2", 7) == []
