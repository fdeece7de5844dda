"""A process's own CPU and peak memory, as the local stack's child processes (Lambda environments, orchestrator
workers) report them to the benchmark."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentUsage:
    """One environment's own ``getrusage(RUSAGE_SELF)``: CPU seconds (user + system) and peak RSS."""

    pid: int
    cpu_seconds: float
    peak_rss_kib: int


def own_usage() -> EnvironmentUsage:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return EnvironmentUsage(os.getpid(), usage.ru_utime + usage.ru_stime, _peak_rss_kib(usage.ru_maxrss))


def _peak_rss_kib(maxrss: int) -> int:
    """This process's own peak RSS. On Linux ``ru_maxrss`` of a spawned process starts at its parent's RSS at the
    fork that preceded the exec (the kernel keeps the larger of the two), so the exec'd image's high-water mark is
    read from ``/proc/self/status`` (``VmHWM``) instead; elsewhere ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return maxrss
