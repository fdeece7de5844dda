"""EC2 instance type facts (``describe_instance_types``), batched and cached per region."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambdas.gateways.errors import aws_errors
from shared.sizing import InstanceTypeSpec

# DescribeInstanceTypes takes at most 100 instance types per call.
DESCRIBE_BATCH = 100


def spec_from_description(raw: Mapping[str, Any]) -> InstanceTypeSpec:
    """Map one ``InstanceTypes`` entry to what sizing needs."""
    gpus = raw.get("GpuInfo", {}).get("Gpus", [])
    storage = raw.get("InstanceStorageInfo", {})
    cards = raw.get("NetworkInfo", {}).get("NetworkCards", [])
    return InstanceTypeSpec(
        instance_type=str(raw["InstanceType"]),
        vcpus=int(raw.get("VCpuInfo", {}).get("DefaultVCpus", 1)),
        memory_gib=round(int(raw.get("MemoryInfo", {}).get("SizeInMiB", 1024)) / 1024, 3),
        architectures=tuple(str(a) for a in raw.get("ProcessorInfo", {}).get("SupportedArchitectures", ["x86_64"])),
        gpus=sum(int(g.get("Count", 0)) for g in gpus),
        gpu_model=", ".join(sorted({str(g.get("Name", "")) for g in gpus if g.get("Name")})),
        gpu_memory_gib=round(int(raw.get("GpuInfo", {}).get("TotalGpuMemoryInMiB", 0)) / 1024, 1),
        local_storage_gb=int(storage.get("TotalSizeInGB", 0)),
        local_nvme=str(storage.get("NvmeSupport", "")) in {"required", "supported"},
        network_baseline_gbps=float(sum(float(c.get("BaselineBandwidthInGbps", 0)) for c in cards)),
        network_performance=str(raw.get("NetworkInfo", {}).get("NetworkPerformance", "")),
        burstable=bool(raw.get("BurstablePerformanceSupported", False)),
    )


class InstanceTypeCatalog:
    """Instance type specs of one region, fetched on demand and kept for the catalog's lifetime."""

    def __init__(self, ec2_client: Any, region: str) -> None:
        self._client = ec2_client
        self.region = region
        self._specs: dict[str, InstanceTypeSpec] = {}
        self._unknown: set[str] = set()
        self._lock = threading.Lock()

    def specs(self, instance_types: Iterable[str]) -> dict[str, InstanceTypeSpec]:
        """Specs of the given types; a type EC2 does not know is absent."""
        wanted = sorted({t for t in instance_types if t})
        with self._lock:
            missing = [t for t in wanted if t not in self._specs and t not in self._unknown]
            for start in range(0, len(missing), DESCRIBE_BATCH):
                self._fetch(missing[start : start + DESCRIBE_BATCH])
            return {t: self._specs[t] for t in wanted if t in self._specs}

    def _fetch(self, batch: list[str]) -> None:
        # A filter (not InstanceTypes=) so that one unknown type does not fail the whole batch.
        paginator = self._client.get_paginator("describe_instance_types")
        with aws_errors("DescribeInstanceTypes", ",".join(batch)):
            for page in paginator.paginate(Filters=[{"Name": "instance-type", "Values": batch}]):
                for raw in page.get("InstanceTypes", []):
                    spec = spec_from_description(raw)
                    self._specs[spec.instance_type] = spec
        self._unknown.update(t for t in batch if t not in self._specs)


_CATALOGS: dict[tuple[int, str], InstanceTypeCatalog] = {}
_CATALOGS_LOCK = threading.Lock()


def catalog_for(ec2_client: Any, region: str) -> InstanceTypeCatalog:
    """One cached catalog per (client, region): instance type data does not change during a run."""
    key = (id(ec2_client), region)
    with _CATALOGS_LOCK:
        if key not in _CATALOGS:
            _CATALOGS[key] = InstanceTypeCatalog(ec2_client, region)
        return _CATALOGS[key]
