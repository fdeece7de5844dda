"""``make bench``: waves of 10, 100 and 1,000 VMs through the full lifecycle, and 1 h vs 24 h of replication.

    .venv/bin/python -m bench                      # everything; writes BENCHMARKS.md
    .venv/bin/python -m bench --sizes 10 --no-write
    .venv/bin/python -m bench --results-dir .state/bench   # keep each wave's figures; rerun only what is missing

Each wave runs in its own process (peak RSS is a per-process high-water mark). Prints a table and rewrites the
generated part of BENCHMARKS.md (between the ``bench:begin``/``bench:end`` markers; the prose around it is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

#: Targets (issues 8 and 18): figures to compare against, not timed tests.
TARGET_REAL_SECONDS_1000 = 120.0
TARGET_RSS_MIB_SUMMED = 1024.0
TARGET_EPISODES_PER_VM = 25.0
TARGET_REPLAY_GROWTH_24H = 1.3
TARGET_SR_CALLS_PER_VM = 20.0
TARGET_ADDED_CUTOVER_P95 = 30.0
TARGET_THROTTLED_SHARE = 0.05
TARGET_MAX_HISTORY = 5000
TARGET_WAVE_RATIO = 1.05


@dataclass(frozen=True)
class Case:
    vms: int
    initial_replication_hours: float = 1.0

    @property
    def stem(self) -> str:
        """The file name of its figures and log: ``wave-100-24h``."""
        return f"wave-{self.vms}-{self.initial_replication_hours:g}h"

    @property
    def label(self) -> str:
        return f"{self.vms} VMs, {self.initial_replication_hours:g} h IR"


def run_case(case: Case, scratch: Path, timeout: float) -> dict[str, Any]:
    """Run one wave in a child process; returns its figures (see ``bench.wave.WaveFigures``)."""
    out = scratch / f"{case.stem}.json"
    log = scratch / f"{case.stem}.log"
    # ``-c``, not ``-m bench.wave``: a spawned process (each Lambda execution environment) imports its parent's main
    # module when that is importable by name, and bench.wave brings the whole local stack (~40 MiB per environment)
    # that a Lambda never loads.
    command = [
        sys.executable,
        "-c",
        "import sys; from bench.wave import main; sys.exit(main())",
        "--vms",
        str(case.vms),
        "--initial-replication-hours",
        str(case.initial_replication_hours),
        "--json-out",
        str(out),
    ]
    with log.open("wb") as stream:
        result = subprocess.run(
            command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    if result.returncode != 0 or not out.exists():
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"{case.label}: the benchmark failed (exit {result.returncode}):\n{tail}")
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


def machine() -> dict[str, str]:
    """nproc, CPU model and RAM of this machine."""
    model = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count() or 0),
        "cpu": model,
        "ram": memory,
        "python": platform.python_version(),
    }


ROWS: tuple[tuple[str, str, str], ...] = (
    ("VMs completed", "completed", "{:d}"),
    ("max_parallel", "max_parallel", "{:d}"),
    ("real seconds (wave)", "real_seconds", "{:.1f}"),
    ("CPU seconds (wave, pipeline process)", "cpu_seconds", "{:.1f}"),
    ("CPU seconds (moto server process, whole run)", "emulated_aws_cpu_seconds", "{:.1f}"),
    ("peak RSS MiB (pipeline process)", "peak_rss_mib", "{:.0f}"),
    ("peak RSS MiB (moto server process)", "emulated_aws_peak_rss_mib", "{:.0f}"),
    ("Lambda environments (processes)", "lambda_environments", "{:d}"),
    ("CPU seconds (Lambda environments, summed, whole run)", "lambda_environments_cpu_seconds", "{:.1f}"),
    ("peak RSS MiB (Lambda environments, summed)", "lambda_environments_peak_rss_mib_sum", "{:.0f}"),
    ("peak RSS MiB (largest Lambda environment)", "lambda_environments_peak_rss_mib_max", "{:.0f}"),
    ("orchestrator worker processes", "worker_processes", "{:d}"),
    ("CPU seconds (orchestrator workers, summed, whole run)", "worker_cpu_seconds", "{:.1f}"),
    ("peak RSS MiB (orchestrator workers, summed)", "worker_peak_rss_mib_sum", "{:.0f}"),
    ("orchestrator replays in worker processes", "worker_replay_share", "{:.0%}"),
    ("peak RSS MiB (all processes, summed)", "peak_rss_mib_summed", "{:.0f}"),
    ("seeding real s (excluded)", "seeding_real_seconds", "{:.1f}"),
    ("orchestration episodes", "episodes", "{:d}"),
    ("orchestration episodes / VM", "episodes_per_vm", "{:.1f}"),
    ("activities", "activities", "{:d}"),
    ("episode CPU ms (mean)", "episode_cpu_ms", "{:.1f}"),
    ("activity real ms / CPU ms (mean)", "activity_wall_over_cpu", "{}"),
    ("history events replayed / VM", "events_replayed_per_vm", "{:.0f}"),
    ("largest history (events)", "largest_history", "{:d}"),
    ("Lambda calls / VM", "lambda_calls_per_vm", "{:.2f}"),
    ("Site Recovery calls / VM", "sr_calls_per_vm", "{:.2f}"),
    ("SR sweep pages (total)", "sr_sweep_pages", "{:d}"),
    ("SR watch pages (total)", "sr_watch_pages", "{:d}"),
    ("Site Recovery calls / VM, all pages included", "sr_calls_per_vm_all", "{:.2f}"),
    ("ARM requests throttled (429)", "arm_throttled_share", "{:.1%}"),
    ("EC2 requests throttled (RequestLimitExceeded)", "ec2_throttled_share", "{:.1%}"),
    ("wave simulated h", "wave_simulated_hours", "{:.2f}"),
    ("slowest VM simulated h", "slowest_vm_hours", "{:.2f}"),
    ("wave / slowest VM", "wave_to_slowest_ratio", "{:.3f}"),
    ("cutover s (stop→commit end, max)", "cutover_seconds_max", "{:.0f}"),
    ("added cutover s (p95)", "added_cutover_seconds_p95", "{:.0f}"),
    ("added cutover s (max)", "added_cutover_seconds_max", "{:.0f}"),
)


def _derived(figures: dict[str, Any]) -> dict[str, Any]:
    """Figures computed from others (older figure files lack the newer keys: shown as "—")."""
    out = dict(figures)
    out["episodes_per_vm"] = figures["episodes"] / max(1, figures["vms"])
    rss = [
        figures.get(key)
        for key in (
            "peak_rss_mib",
            "lambda_environments_peak_rss_mib_sum",
            "emulated_aws_peak_rss_mib",
            "worker_peak_rss_mib_sum",
        )
    ]
    if "worker_replays" in figures:
        out["worker_replay_share"] = figures["worker_replays"] / max(1, figures["episodes"])
    if figures.get("activity_cpu_ms"):
        out["activity_wall_over_cpu"] = f"{figures['activity_wall_ms']:.1f} / {figures['activity_cpu_ms']:.1f}"
    out["peak_rss_mib_summed"] = sum(value for value in rss if value is not None)
    return out


def table(results: list[tuple[Case, dict[str, Any]]]) -> str:
    """The figures as a Markdown table, one column per case."""
    header = "| figure | " + " | ".join(case.label for case, _ in results) + " |"
    lines = [header, "|---|" + "---:|" * len(results)]
    rows = [_derived(figures) for _, figures in results]
    for title, key, form in ROWS:
        cells = [form.format(row[key]) if row.get(key) is not None else "—" for row in rows]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(results: list[tuple[Case, dict[str, Any]]]) -> list[str]:
    """Each target with the measured figure, whether it is met and by how much it is missed."""
    by = {(case.vms, case.initial_replication_hours): _derived(figures) for case, figures in results}
    lines: list[str] = []

    def verdict(name: str, measured: str, met: bool) -> None:
        lines.append(f"- {'met' if met else '**missed**'}: {name} — {measured}")

    big, mid, long = by.get((1000, 1.0)), by.get((100, 1.0)), by.get((100, 24.0))
    if big:
        verdict(
            f"1,000-VM wave ≤ {TARGET_REAL_SECONDS_1000:.0f} s real",
            f"{big['real_seconds']:.1f} s ({big['real_seconds'] / TARGET_REAL_SECONDS_1000:.1f} x the target)",
            big["real_seconds"] <= TARGET_REAL_SECONDS_1000,
        )
        verdict(
            f"1,000-VM wave ≤ {TARGET_RSS_MIB_SUMMED:.0f} MiB peak RSS summed over all processes",
            f"{big['peak_rss_mib_summed']:.0f} MiB",
            big["peak_rss_mib_summed"] <= TARGET_RSS_MIB_SUMMED,
        )
    one_hour = [key for key in by if key[1] == 1.0]
    widest = by[max(one_hour)] if one_hour else None  # the largest 1 h wave run
    if widest:
        label = f"{widest['vms']} VMs"
        verdict(
            f"orchestration episodes per VM ≤ {TARGET_EPISODES_PER_VM:.0f} ({label})",
            f"{widest['episodes_per_vm']:.1f} ({widest['episodes_per_vm'] / TARGET_EPISODES_PER_VM:.1f} x)",
            widest["episodes_per_vm"] <= TARGET_EPISODES_PER_VM,
        )
        verdict(
            f"Site Recovery calls per VM ≤ {TARGET_SR_CALLS_PER_VM:.0f}, every page included ({label})",
            f"{widest['sr_calls_per_vm_all']:.2f}",
            widest["sr_calls_per_vm_all"] <= TARGET_SR_CALLS_PER_VM,
        )
        verdict(
            f"added cutover latency ≤ {TARGET_ADDED_CUTOVER_P95:.0f} s at p95 ({label}; job durations drawn)",
            f"p95 {widest['added_cutover_seconds_p95']:.0f} s, max {widest['added_cutover_seconds_max']:.0f} s",
            widest["added_cutover_seconds_p95"] <= TARGET_ADDED_CUTOVER_P95,
        )
    if mid and long:
        growth = long["events_replayed_per_vm"] / mid["events_replayed_per_vm"]
        verdict(
            f"events replayed per VM with 24 h of initial replication ≤ {TARGET_REPLAY_GROWTH_24H} x the 1 h figure",
            f"{long['events_replayed_per_vm']:.0f} vs {mid['events_replayed_per_vm']:.0f} ({growth:.2f} x)",
            growth <= TARGET_REPLAY_GROWTH_24H,
        )
        verdict(
            "Site Recovery per-VM calls flat from 1 h to 24 h of initial replication",
            f"{mid['sr_calls_per_vm']:.2f} vs {long['sr_calls_per_vm']:.2f} per VM (vault-level pages apart: "
            f"{mid['sr_sweep_pages'] + mid['sr_watch_pages']} vs {long['sr_sweep_pages'] + long['sr_watch_pages']})",
            long["sr_calls_per_vm"] <= mid["sr_calls_per_vm"] * 1.05,
        )
    for case, figures in results:
        shares = {k: figures.get(f"{k}_throttled_share") for k in ("arm", "ec2")}
        worst = max((v for v in shares.values() if v is not None), default=None)
        if worst is not None:
            verdict(
                f"throttled share of calls < {TARGET_THROTTLED_SHARE:.0%} ({case.label})",
                ", ".join(f"{k.upper()} {v:.1%}" for k, v in shares.items() if v is not None),
                worst < TARGET_THROTTLED_SHARE,
            )
    largest = max(figures["largest_history"] for _, figures in results)
    verdict(f"no history over {TARGET_MAX_HISTORY} events", f"largest {largest}", largest <= TARGET_MAX_HISTORY)
    for case, figures in results:
        if figures["max_parallel"] >= case.vms:
            verdict(
                f"wave / slowest VM ≤ {TARGET_WAVE_RATIO} ({case.label}, max_parallel {figures['max_parallel']})",
                f"{figures['wave_to_slowest_ratio']:.3f}",
                figures["wave_to_slowest_ratio"] <= TARGET_WAVE_RATIO,
            )
    return lines


def episode_breakdown(results: list[tuple[Case, dict[str, Any]]]) -> list[str]:
    """Episodes per VM by orchestrator and what woke it, one column per case (the profile behind the episodes
    target); empty when no figures carry the breakdown."""
    carrying = [
        (case, figures["episodes_per_vm_by_trigger"])
        for case, figures in results
        if figures.get("episodes_per_vm_by_trigger")
    ]
    if not carrying:
        return []
    triggers = sorted({t for _, by in carrying for t in by}, key=lambda t: -max(by.get(t, 0.0) for _, by in carrying))
    lines = [
        "| orchestrator: woken by | " + " | ".join(case.label for case, _ in carrying) + " |",
        "|---|" + "---:|" * len(carrying),
    ]
    lines += [f"| {t} | " + " | ".join(f"{by.get(t, 0.0):.2f}" for _, by in carrying) + " |" for t in triggers]
    return ["Orchestration episodes per VM, by what woke the orchestrator:", "", *lines, ""]


def report(results: list[tuple[Case, dict[str, Any]]], command: str, elapsed: float) -> str:
    """The generated section of BENCHMARKS.md."""
    info = machine()
    calls = "\n".join(
        f"- {case.label}: Lambda {json.dumps(figures['lambda_calls'])}; Site Recovery "
        f"{json.dumps(figures['sr_calls_by_operation'])}"
        for case, figures in results
    )
    return "\n".join(
        [
            BEGIN,
            f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `{command}` in {elapsed:.0f} s.",
            "",
            f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Python {info['python']}.",
            "",
            table(results),
            "",
            "Targets:",
            "",
            *verdicts(results),
            "",
            *episode_breakdown(results),
            "Calls by kind:",
            "",
            calls,
            END,
        ]
    )


def write_report(section: str, path: Path = REPORT) -> None:
    """Replace the generated section of ``path`` (create the file when it is missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    path.write_text(before + section + after, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="wave sizes, comma separated (default 10,100,1000)")
    parser.add_argument(
        "--long-replication-vms",
        type=int,
        default=100,
        help="wave size run again with 24 h of initial replication (0: skip; default 100)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per wave")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument(
        "--results-dir",
        type=Path,
        help="keep each wave's figures (JSON) and log here; a wave whose figures are already there is not run again "
        "(default: a temporary directory)",
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--sizes: expected comma-separated integers, not {args.sizes!r}")
    cases = [Case(size) for size in sizes]
    if args.long_replication_vms:
        cases.append(Case(args.long_replication_vms, 24.0))
    started = time.perf_counter()
    results: list[tuple[Case, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        kept = args.results_dir or Path(scratch)
        kept.mkdir(parents=True, exist_ok=True)
        for case in cases:
            done = kept / f"{case.stem}.json"
            if args.results_dir and done.exists():
                print(f"kept {case.label} ({done})", flush=True)
                results.append((case, json.loads(done.read_text(encoding="utf-8"))))
                continue
            print(f"running {case.label} ...", flush=True)
            results.append((case, run_case(case, kept, args.timeout)))
    elapsed = time.perf_counter() - started
    command = "python -m bench" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    print(table(results))
    print()
    print("\n".join(verdicts(results)))
    if not args.no_write:
        write_report(report(results, command, elapsed))
        print(f"\nwrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
