"""Utilisation series for performance-based sizing: a small port, CloudWatch behind it, an in-memory fake.

CPU is EC2's ``AWS/EC2 CPUUtilization``; memory is the CloudWatch agent's ``CWAgent mem_used_percent``
(published only where the agent runs, with an ``InstanceId`` dimension).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aws_lambdas.gateways.errors import aws_errors

CPU_NAMESPACE, CPU_METRIC = "AWS/EC2", "CPUUtilization"
MEMORY_NAMESPACE, MEMORY_METRIC = "CWAgent", "mem_used_percent"
# GetMetricStatistics returns at most 1,440 data points per call.
MAX_POINTS_PER_CALL = 1440


class UtilizationSource(Protocol):
    def cpu_percent(self, instance_id: str, days: int) -> list[float]: ...

    def memory_percent(self, instance_id: str, days: int) -> list[float]: ...


class CloudWatchUtilization:
    """Hourly averages from CloudWatch over the last ``days`` (the p95 is taken over these)."""

    def __init__(self, cloudwatch_client: Any, *, period_seconds: int = 3600, now: datetime | None = None) -> None:
        self._client = cloudwatch_client
        self.period_seconds = period_seconds
        self._now = now

    def cpu_percent(self, instance_id: str, days: int) -> list[float]:
        return self._series(CPU_NAMESPACE, CPU_METRIC, instance_id, days)

    def memory_percent(self, instance_id: str, days: int) -> list[float]:
        return self._series(MEMORY_NAMESPACE, MEMORY_METRIC, instance_id, days)

    def _series(self, namespace: str, metric: str, instance_id: str, days: int) -> list[float]:
        end = self._now or datetime.now(UTC)
        start = end - timedelta(days=days)
        step = timedelta(seconds=self.period_seconds * MAX_POINTS_PER_CALL)
        values: list[float] = []
        window_start = start
        while window_start < end:
            window_end = min(window_start + step, end)
            with aws_errors("GetMetricStatistics", f"{namespace}/{metric} {instance_id}"):
                response = self._client.get_metric_statistics(
                    Namespace=namespace,
                    MetricName=metric,
                    Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
                    StartTime=window_start,
                    EndTime=window_end,
                    Period=self.period_seconds,
                    Statistics=["Average"],
                )
            values.extend(float(p["Average"]) for p in response.get("Datapoints", []) if "Average" in p)
            window_start = window_end
        return values


class InMemoryUtilization:
    """Fixed series per instance: for tests and for replaying an exported assessment."""

    def __init__(
        self,
        cpu: Mapping[str, Sequence[float]] | None = None,
        memory: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self._cpu = {k: list(v) for k, v in (cpu or {}).items()}
        self._memory = {k: list(v) for k, v in (memory or {}).items()}
        self.calls: list[tuple[str, str, int]] = []

    def cpu_percent(self, instance_id: str, days: int) -> list[float]:
        self.calls.append(("cpu", instance_id, days))
        return list(self._cpu.get(instance_id, []))

    def memory_percent(self, instance_id: str, days: int) -> list[float]:
        self.calls.append(("memory", instance_id, days))
        return list(self._memory.get(instance_id, []))
