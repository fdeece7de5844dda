"""Benchmark one wave through the full lifecycle on the local stack (virtual clock).

    .venv/bin/python -m bench.wave --vms 100
    .venv/bin/python -m bench.wave --vms 1000 --max-parallel 200 --json

The scenario is generated (a Linux/Windows mix, automatic approval, ``max_parallel`` ≥ the wave unless told
otherwise). Seeding the emulated estate in moto is timed on its own and excluded from the wave's figures. Run
one wave per process: peak RSS (``ru_maxrss``) is a high-water mark of the whole process.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from local.scenario import Scenario
from local.site_recovery.estate import Operation
from local.stack import LocalStack
from shared.lifecycle import VmProgress, VmState

#: Site Recovery requests made by the replication-health sweep and the replication watch's final-sync reads (pages
#: of the vault's protected items).
SWEEP_OPERATIONS = frozenset({Operation.LIST_VAULT_ITEMS})
#: Site Recovery requests made by the replication watch for jobs (pages of the vault's job list).
WATCH_OPERATIONS = frozenset({Operation.LIST_JOBS})
#: The largest request the pipeline accepts runs at most this many VMs side by side.
MAX_PARALLEL_LIMIT = 200
#: "Inbound rules per security group" raised to AWS's maximum. The pipeline adds two /32 rules per VM to the
#: appliance's group, so moto's default quota (60) stops a wave at 30 VMs in flight — see BENCHMARKS.md.
RAISED_RULES_QUOTA = 1000

_TARGET = {
    "subscription_id": "00000000-0000-0000-0000-000000000001",
    "resource_group": "rg-migrated",
    "region": "westeurope",
    "vault": {"name": "mig-vault", "resource_group": "rg-migration"},
    "virtual_network_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-network"
    "/providers/Microsoft.Network/virtualNetworks/vnet-prod",
    "subnet": "apps",
    "test_virtual_network_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-network"
    "/providers/Microsoft.Network/virtualNetworks/vnet-test",
    "test_subnet": "test",
    "cache_storage_account_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-migration"
    "/providers/Microsoft.Storage/storageAccounts/migcache01",
    "disk_type": "Premium_LRS",
}

#: (os_name, os_version, platform, instance_type): every third VM is Windows.
_OS_MIX = (
    ("Ubuntu", "22.04", "linux", "t3.medium"),
    ("Red Hat Enterprise Linux", "8.6", "linux", "m5.large"),
    ("Microsoft Windows Server 2022 Datacenter", "10.0.20348", "windows", "m5.xlarge"),
    ("Debian GNU/Linux", "11", "linux", "c5.large"),
    ("Rocky Linux", "9.2", "linux", "m5.large"),
    ("Microsoft Windows Server 2019 Datacenter", "10.0.17763", "windows", "r5.large"),
)


def build_scenario(
    vms: int,
    *,
    max_parallel: int | None = None,
    initial_replication_hours: float = 1.0,
    rules_quota: int = RAISED_RULES_QUOTA,
) -> Scenario:
    """A generated wave of ``vms`` instances that all migrate: automatic approval, no faults."""
    if not 1 <= vms <= 1000:
        raise ValueError(f"vms must be between 1 and 1000 (one request's limit), not {vms}")
    parallel = max_parallel if max_parallel is not None else min(vms, MAX_PARALLEL_LIMIT)
    instances = []
    for index in range(vms):
        os_name, os_version, platform, instance_type = _OS_MIX[index % len(_OS_MIX)]
        windows = platform == "windows"
        instances.append(
            {
                "name": f"vm-{index:04d}",
                "os_name": os_name,
                "os_version": os_version,
                "platform": platform,
                "cloud_init": not windows,
                "instance_type": instance_type,
                "tags": {"Wave": "bench"},
                "disks": [{"size_gib": 60 if windows else 30}],
            }
        )
    return Scenario.model_validate(
        {
            "name": f"bench-{vms}",
            "estate": {
                "region": "eu-west-1",
                "subnet_cidr": "10.0.0.0/20",
                "instances": instances,
                "inbound_rules_per_security_group": rules_quota,
            },
            "site_recovery": {"initial_replication_seconds": initial_replication_hours * 3600},
            "timings": {
                "command_first_poll": 60,
                "registration_first_poll": 120,
                "job_first_poll": 120,
            },
            "health_schedule": "0 */15 * * * *",
            "request": {
                "request_id": f"bench-{vms}",
                "environment": "dev",
                "mode": "full",
                "approval": "auto",
                "max_parallel": parallel,
                "appliance": {"provider": "InMageRcm", "discovery_ip": "10.0.1.5"},
                "target": _TARGET,
                "vms": [{"instance": item["name"]} for item in instances],
            },
            "max_virtual_hours": 24 * 30,
        }
    )


@dataclass
class Usage:
    """Real and CPU seconds of a stretch of this process."""

    real: float = 0.0
    cpu: float = 0.0


@contextmanager
def _measured(into: Usage) -> Iterator[None]:
    real, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        into.real += time.perf_counter() - real
        into.cpu += time.process_time() - cpu


@dataclass
class WaveFigures:
    """What one wave cost, and how long its VMs took in simulated time."""

    vms: int
    max_parallel: int
    initial_replication_hours: float
    completed: int
    runtime_status: str
    real_seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    #: The moto server's process (the emulated AWS, not the pipeline); known once it has exited.
    emulated_aws_peak_rss_mib: float
    #: CPU seconds of the moto server's whole life (seeding included), on the machine's other core.
    emulated_aws_cpu_seconds: float
    seeding_real_seconds: float
    seeding_cpu_seconds: float
    setup_real_seconds: float

    episodes: int
    activities: int
    events_replayed_per_vm: float
    largest_history: int
    largest_history_instance: str
    lambda_calls_per_vm: float
    lambda_calls: dict[str, int]
    sr_calls_per_vm: float
    sr_sweep_pages: int
    sr_sweep_pages_per_vm: float
    #: The replication watch's job-list pages (vault-level, like the sweep's), apart from the per-VM calls.
    sr_watch_pages: int
    sr_watch_pages_per_vm: float
    #: Every Site Recovery request, vault-level pages included, divided by the wave size.
    sr_calls_per_vm_all: float
    sr_calls_by_operation: dict[str, int]
    wave_simulated_hours: float
    slowest_vm_hours: float
    wave_to_slowest_ratio: float
    cutover_seconds_max: float
    added_cutover_seconds_p95: float
    added_cutover_seconds_max: float
    added_cutover_seconds_mean: float
    states: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    #: ARM's throttling in front of both Azure emulators (local/arm_limits.py): requests and 429s per bucket
    arm_requests: dict[str, dict[str, int]] = field(default_factory=dict)
    arm_throttled_share: float = 0.0
    #: Per activity, mean real and thread-CPU milliseconds; per episode, mean CPU milliseconds (sizing the deployed
    #: worker processes and thread pools: infra/azure/modules/functionapp.bicep)
    activity_wall_ms: float = 0.0
    activity_cpu_ms: float = 0.0
    episode_cpu_ms: float = 0.0
    #: The emulated EC2's request rate limits (AWS's buckets): requests and throttled answers per bucket, and the
    #: share of all the limited requests that were throttled (botocore's retries included, each a request).
    ec2_throttle: dict[str, dict[str, int]] = field(default_factory=dict)
    ec2_throttled_share: float = 0.0
    #: The Lambda execution environments (processes, each reporting its own getrusage as it stops): how many ran,
    #: their CPU seconds summed (whole life: cold starts included), their peak RSS summed and the largest.
    lambda_environments: int = 0
    lambda_environments_cpu_seconds: float = 0.0
    lambda_environments_peak_rss_mib_sum: float = 0.0
    lambda_environments_peak_rss_mib_max: float = 0.0
    #: The function app's worker processes replaying orchestrators (FUNCTIONS_WORKER_PROCESS_COUNT; none when 1):
    #: how many, their CPU seconds and peak RSS summed (whole life: importing the app included), and how many
    #: replays they ran (the rest ran in the pipeline's process).
    worker_processes: int = 0
    worker_cpu_seconds: float = 0.0
    worker_peak_rss_mib_sum: float = 0.0
    worker_replays: int = 0
    #: Episodes per VM by orchestrator and what woke it (the local host's ``episodes_by_trigger``), most first.
    episodes_per_vm_by_trigger: dict[str, float] = field(default_factory=dict)


def run_wave(
    vms: int,
    *,
    max_parallel: int | None = None,
    initial_replication_hours: float = 1.0,
    activity_workers: int = 4,
    rules_quota: int = RAISED_RULES_QUOTA,
    state_dir: Path | None = None,
    lambda_environments: int | None = None,
    worker_processes: int | None = None,
) -> WaveFigures:
    """Migrate a generated wave of ``vms`` VMs on a fresh local stack; returns its figures."""
    scenario = build_scenario(
        vms, max_parallel=max_parallel, initial_replication_hours=initial_replication_hours, rules_quota=rules_quota
    )
    setup, wave = Usage(), Usage()
    with tempfile.TemporaryDirectory(prefix="bench-wave-") as scratch:
        with _measured(setup):
            opened = LocalStack.open(
                scenario,
                state_dir or Path(scratch),
                activity_workers=activity_workers,
                lambda_environments=lambda_environments,
                worker_processes=worker_processes,
            )
            local = opened.__enter__()
        try:
            with _measured(wave):
                local.submit()
                outcome = local.run()
            figures = _figures(local, scenario, outcome, wave, setup)
        finally:
            opened.__exit__(None, None, None)
    # RUSAGE_CHILDREN sums moto's server, the Lambda environments and the orchestrator workers (all children): each
    # environment's and worker's own report is taken out of the CPU; ru_maxrss is the largest child's, moto's unless
    # another child's is as large.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    environments = local.invoker.lambdas.environment_usage()
    workers = local.host.worker_usage()
    lambda_cpu = sum(item.cpu_seconds for item in environments)
    worker_cpu = sum(item.cpu_seconds for item in workers)
    return replace(
        figures,
        emulated_aws_peak_rss_mib=children.ru_maxrss / 1024,
        emulated_aws_cpu_seconds=children.ru_utime + children.ru_stime - lambda_cpu - worker_cpu,
        worker_processes=len(workers),
        worker_cpu_seconds=worker_cpu,
        worker_peak_rss_mib_sum=sum(item.peak_rss_kib for item in workers) / 1024,
        lambda_environments=len(environments),
        lambda_environments_cpu_seconds=lambda_cpu,
        lambda_environments_peak_rss_mib_sum=sum(item.peak_rss_kib for item in environments) / 1024,
        lambda_environments_peak_rss_mib_max=max((item.peak_rss_kib for item in environments), default=0) / 1024,
    )


def _figures(local: LocalStack, scenario: Scenario, outcome: Any, wave: Usage, setup: Usage) -> WaveFigures:
    vms = len(scenario.estate.instances)
    stats = outcome.stats
    # A VM orchestration continues as new at its stage boundaries: the longest history an episode replayed counts
    # too, besides the final length of every instance.
    histories = [(status.history_length, status.instance_id) for status in local.host.instances()]
    largest, largest_id = max(histories)
    if int(stats["longest_replay"]) > largest:
        largest, largest_id = int(stats["longest_replay"]), "an execution that continued as new"
    requests = local.site_recovery.requests
    by_operation = Counter(str(request.operation.value) for request in requests)
    sweep_pages = sum(1 for request in requests if request.operation in SWEEP_OPERATIONS)
    watch_pages = sum(1 for request in requests if request.operation in WATCH_OPERATIONS)
    lambda_calls = dict(local.invoker.calls)
    throttle = local.throttle_counts()
    limited = sum(counts["requests"] for counts in throttle.values())
    progress: list[VmProgress] = outcome.progress
    states = Counter(item.state.value for item in progress)
    durations = [(item.updated_at - item.started_at).total_seconds() for item in progress]
    wave_hours = outcome.virtual_hours
    slowest = max(durations) / 3600 if durations else 0.0
    timings = scenario.site_recovery
    added = _added_cutovers(local, progress)
    cutovers = [seconds for seconds in (_cutover_seconds(item) for item in progress) if seconds is not None]
    arm = local.arm_limits.counts()
    return WaveFigures(
        vms=vms,
        max_parallel=int(scenario.request["max_parallel"]),
        initial_replication_hours=timings.initial_replication_seconds / 3600,
        completed=states.get(VmState.COMPLETED.value, 0),
        runtime_status=outcome.runtime_status,
        real_seconds=wave.real,
        cpu_seconds=wave.cpu,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        emulated_aws_peak_rss_mib=0.0,
        emulated_aws_cpu_seconds=0.0,
        seeding_real_seconds=local.seeding.real_seconds,
        seeding_cpu_seconds=local.seeding.cpu_seconds,
        setup_real_seconds=setup.real,
        episodes=int(stats["episodes"]),
        worker_replays=int(stats["worker_replays"]),
        activities=int(stats["activities_executed"]),
        events_replayed_per_vm=stats["events_replayed"] / vms,
        largest_history=largest,
        largest_history_instance=largest_id,
        lambda_calls_per_vm=sum(lambda_calls.values()) / vms,
        lambda_calls=lambda_calls,
        sr_calls_per_vm=(len(requests) - sweep_pages - watch_pages) / vms,
        sr_sweep_pages=sweep_pages,
        sr_sweep_pages_per_vm=sweep_pages / vms,
        sr_watch_pages=watch_pages,
        sr_watch_pages_per_vm=watch_pages / vms,
        sr_calls_per_vm_all=len(requests) / vms,
        sr_calls_by_operation=dict(sorted(by_operation.items())),
        wave_simulated_hours=wave_hours,
        slowest_vm_hours=slowest,
        wave_to_slowest_ratio=wave_hours / slowest if slowest else 0.0,
        cutover_seconds_max=max(cutovers, default=0.0),
        added_cutover_seconds_p95=_percentile(added, 95),
        added_cutover_seconds_max=max(added, default=0.0),
        added_cutover_seconds_mean=sum(added) / len(added) if added else 0.0,
        states=dict(states),
        errors=dict(Counter(f"{e.step}: {e.code}: {e.message[:160]}" for e in (p.error for p in progress) if e)),
        arm_requests={kind: {"requests": c.requests, "throttled": c.throttled} for kind, c in arm.items()},
        activity_wall_ms=1000 * stats["activity_wall_seconds"] / max(1, int(stats["activities_executed"])),
        activity_cpu_ms=1000 * stats["activity_cpu_seconds"] / max(1, int(stats["activities_executed"])),
        episode_cpu_ms=1000 * stats["episode_cpu_seconds"] / max(1, int(stats["episodes"])),
        arm_throttled_share=sum(c.throttled for c in arm.values()) / max(1, sum(c.requests for c in arm.values())),
        ec2_throttle=throttle,
        episodes_per_vm_by_trigger={
            trigger: round(count / vms, 2) for trigger, count in Counter(stats["episodes_by_trigger"]).most_common()
        },
        ec2_throttled_share=sum(counts["throttled"] for counts in throttle.values()) / limited if limited else 0.0,
    )


def _added_cutovers(local: LocalStack, progress: list[VmProgress]) -> list[float]:
    """Per completed VM: its cutover (stop → commit end) less what the emulator itself took of it (that VM's drawn
    final-sync delay and its failover and commit jobs): the latency the pipeline added."""
    added = []
    for item in progress:
        cutover = _cutover_seconds(item)
        floor = local.site_recovery.cutover_floor_seconds(item.protected_item) if item.protected_item else None
        if cutover is not None and floor is not None:
            added.append(cutover - floor)
    return added


def _percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def _cutover_seconds(progress: VmProgress) -> float | None:
    """Simulated seconds from the source's stop to the commit's end (the completing stage's start)."""
    stop: datetime | None = None
    for stage in progress.stages:
        if stage.state == VmState.STOPPING_SOURCE and stop is None:
            stop = stage.at
        elif stage.state == VmState.COMPLETING and stop is not None:
            return (stage.at - stop).total_seconds()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--vms", type=int, default=10, help="VMs in the wave (1..1000)")
    parser.add_argument("--max-parallel", type=int, default=None, help="default: the wave size, at most 200")
    parser.add_argument("--initial-replication-hours", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=4, help="activity worker threads")
    parser.add_argument(
        "--lambda-environments", type=int, default=None, help="Lambda environments (default: CPUs; 0: in-process)"
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="the function app's worker processes replaying orchestrators (default 1: in the pipeline's process; "
        "two cost 190 MiB for 2 %% of the 1,000-VM wave's time here, BENCHMARKS.md)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--json-out", type=Path, default=None, help="write the figures as JSON to this file")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log while the estate is seeded
    figures = run_wave(
        args.vms,
        max_parallel=args.max_parallel,
        initial_replication_hours=args.initial_replication_hours,
        activity_workers=args.workers,
        lambda_environments=args.lambda_environments,
        worker_processes=args.worker_processes,
    )
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(asdict(figures)), encoding="utf-8")
    if args.json:
        print(json.dumps(asdict(figures)))
    else:
        for key, value in asdict(figures).items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
