"""The replication model of a protected item: initial replication progress, recovery points, RPO, health and the
operations the service allows, all derived from the clock (nothing runs in the background)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from local.site_recovery.estate import HealthLevel
from local.site_recovery.model import _ITEM_TYPE, EmulatorCore, _guid, _iso, _Item, _Machine


class ReplicationMixin(EmulatorCore):
    """Derived replication facts of an item."""

    def _ir_seconds(self, item: _Item) -> float:
        own = item.machine.behaviour.initial_replication_seconds
        return own if own is not None else self.estate.timings.initial_replication_seconds

    def _ir_percent(self, item: _Item, now: datetime) -> int:
        if item.enabled_at is None:
            return 0
        elapsed = (now - item.enabled_at).total_seconds()
        duration = self._ir_seconds(item)
        percent = 100 if duration <= 0 else min(100, int(elapsed / duration * 100))
        stuck = item.machine.behaviour.stuck_at_percent
        return min(percent, stuck) if stuck is not None else percent

    def _ir_done_at(self, item: _Item) -> datetime | None:
        if item.enabled_at is None or item.machine.behaviour.stuck_at_percent is not None:
            return None
        return item.enabled_at + timedelta(seconds=self._ir_seconds(item))

    def _stalled_at(self, machine: _Machine, when: datetime) -> bool:
        return any(start <= when and (end is None or when < end) for start, end in machine.stalls)

    def _recovery_points(
        self, item: _Item, now: datetime, *, newest_only: bool = False
    ) -> list[tuple[str, datetime, str]]:
        """(name, time, type) of the item's retained recovery points, oldest first."""
        first = self._ir_done_at(item)
        if first is None or first > now:
            return []
        timings = self.estate.timings
        keep = 1 if newest_only else timings.recovery_point_retention
        newest_first: list[tuple[str, datetime, str]] = []
        stopped = item.machine.source_stopped_at
        if stopped is not None and stopped >= first:
            delay = timings.drawn(timings.final_sync_delay_seconds, "final-sync", item.name, _iso(stopped))
            final = stopped + timedelta(seconds=delay)
            if final <= now and final <= (item.replication_stopped_at or now):
                newest_first.append((_guid("rp-final", item.name, _iso(stopped)), final, "CrashConsistent"))
        interval = timedelta(seconds=timings.recovery_point_interval_seconds)
        end = min(t for t in (now, item.replication_stopped_at, stopped) if t is not None)
        index = int((end - first) / interval) if end >= first else -1
        while index >= 0 and len(newest_first) < keep:
            when = first + index * interval
            if not self._stalled_at(item.machine, when):
                kind = "AppConsistent" if index % 12 == 0 else "CrashConsistent"
                newest_first.append((_guid("rp", item.name, str(index)), when, kind))
            index -= 1
        return newest_first[::-1]

    def _replication_view(self, item: _Item, now: datetime) -> dict[str, Any]:
        """Derived replication facts: progress, RPO, health, allowed operations, states."""
        timings = self.estate.timings
        behaviour = item.machine.behaviour
        percent = self._ir_percent(item, now)
        points = self._recovery_points(item, now, newest_only=True)
        last_point = points[-1] if points else None
        delta = self._ir_done_at(item) is not None and percent == 100
        replicating = delta and item.replication_stopped_at is None
        rpo: int | None = None
        if replicating and last_point is not None:
            behind = int((now - last_point[1]).total_seconds())
            stalled = self._stalled_at(item.machine, now)
            rpo = max(timings.rpo_seconds, behind) if stalled else timings.rpo_seconds
        errors: list[dict[str, Any]] = []
        health = "Normal"
        if behaviour.health is not HealthLevel.NORMAL:
            health = behaviour.health.value
            errors.append(self._health_error(behaviour.health_error_code, behaviour.health_error_message, health, now))
        if rpo is not None and rpo > timings.rpo_warning_seconds:
            level = "Critical" if rpo > timings.rpo_critical_seconds else "Warning"
            health = "Critical" if "Critical" in (health, level) else "Warning"
            errors.append(
                self._health_error(
                    "RpoThresholdExceeded",
                    f"The recovery point objective is {rpo // 60} minutes, above the threshold.",
                    level,
                    now,
                )
            )
        ir_health = "InProgress"
        if item.enabled_at is not None and not delta and behaviour.stuck_at_percent is not None:
            expected = item.enabled_at + timedelta(seconds=self._ir_seconds(item))
            if now > expected:
                ir_health = "NoProgress"
                health = "Critical" if health == "Critical" else "Warning"
                errors.append(
                    self._health_error(
                        "InitialReplicationNoProgress",
                        f"Initial replication has made no progress for a while ({percent}% complete).",
                        "Warning",
                        now,
                    )
                )
        if delta:
            ir_health = "None"
        return {
            "percent": percent,
            "delta": delta,
            "rpo": rpo,
            "last_point": last_point,
            "health": health,
            "errors": errors,
            "ir_health": ir_health,
            "allowed": self._allowed_operations(item, delta),
        }

    def _health_error(self, code: str, message: str, level: str, now: datetime) -> dict[str, Any]:
        return {
            "errorCode": code,
            "errorMessage": message,
            "summaryMessage": message,
            "errorLevel": level,
            "errorSource": "ServerLevel",
            "errorType": "Replication",
            "errorCategory": "Replication",
            "possibleCauses": "",
            "recommendedAction": "Check the source machine and the replication appliance.",
            "creationTimeUtc": _iso(now),
            "innerHealthErrors": [],
        }

    def _allowed_operations(self, item: _Item, delta: bool) -> list[str]:
        if item.running_job is not None or item.enabled_at is None or item.disabling:
            return []
        if item.failover_state == "FailedOver":
            return ["Commit", "CancelFailover", "ChangePit"]
        if item.failover_state == "Committed":
            return ["DisableProtection"]
        if item.test_failover_state == "WaitingForCompletion":
            return ["TestFailoverCleanup"]
        if not delta:
            return ["DisableProtection"]
        return ["TestFailover", "UnplannedFailover", "DisableProtection"]

    def _protection_state(self, item: _Item, view: dict[str, Any]) -> tuple[str, str]:  # noqa: PLR0911
        job = item.running_job
        if item.disabling:
            return "DisablingProtection", "Disabling protection"
        if item.enabled_at is None:
            return "EnablingProtection", "Enabling protection"
        if job is not None and job.scenario == "UnplannedFailover":
            return "UnplannedFailoverInProgress", "Failover in progress"
        if item.failover_state == "FailedOver":
            return "FailedOver", "Failover completed"
        if job is not None and job.scenario == "FailoverCommit":
            return "FailoverCommitInProgress", "Committing failover"
        if item.failover_state == "Committed":
            return "FailoverCommitted", "Failover committed"
        if not view["delta"]:
            return "InitialReplicationInProgress", f"Initial replication in progress ({view['percent']}% complete)"
        if item.test_failover_state == "WaitingForCompletion":
            return "Protected", "Cleanup test failover pending"
        return "Protected", "Protected"

    # ------------------------------------------------------- resource bodies

    def _recovery_point_body(self, item: _Item, point: tuple[str, datetime, str]) -> dict[str, Any]:
        return {
            "name": point[0],
            "type": f"{_ITEM_TYPE}/replicationProtectedItems/recoveryPoints",
            "id": f"{self._item_id(item.fabric, item.name)}/recoveryPoints/{point[0]}",
            "properties": {
                "recoveryPointTime": _iso(point[1]),
                "recoveryPointType": point[2],
                "providerSpecificDetails": {"instanceType": "InMageRcm", "isMultiVmSyncPoint": "False"},
            },
        }

    # ------------------------------------------------------- HTTP
