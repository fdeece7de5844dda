"""The wave benchmark still runs: a 10-VM wave produces sane figures (not timings), and the report is written."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import BEGIN, END, Case, table, verdicts, write_report
from bench.__main__ import main as bench_main
from bench.wave import WaveFigures, build_scenario, run_wave


@pytest.fixture(scope="module")
def figures() -> WaveFigures:
    return run_wave(10, worker_processes=2)  # as the benchmark runs it on this machine: replays in two workers


def test_ten_vm_wave_completes_with_sane_figures(figures: WaveFigures) -> None:
    assert figures.runtime_status == "Completed"
    assert figures.completed == 10, figures.errors
    assert figures.real_seconds > 0 and figures.cpu_seconds > 0 and figures.peak_rss_mib > 0
    assert figures.seeding_real_seconds > 0
    # the function app's two worker processes replayed orchestrator episodes and reported their own usage
    assert figures.worker_processes == 2 and figures.worker_cpu_seconds > 0 and figures.worker_peak_rss_mib_sum > 0
    assert 0 < figures.worker_replays < figures.episodes  # a batch of one replays in the pipeline: no round trip
    # every VM runs several orchestration episodes and replays its own history at least once per episode
    assert figures.episodes > 10 * 10
    assert figures.events_replayed_per_vm > figures.largest_history / 10
    assert 0 < figures.largest_history < 5000
    # one inventory call for the wave, then a fixed handful of Lambda and Site Recovery calls per VM
    assert figures.lambda_calls["inventory"] == 1
    assert figures.lambda_calls["prepare_network"] == 10
    assert 5 <= figures.lambda_calls_per_vm <= 20
    assert 5 <= figures.sr_calls_per_vm <= 60
    assert figures.sr_calls_by_operation["enable"] == 10
    assert figures.sr_calls_by_operation["commit"] == 10
    assert figures.sr_sweep_pages >= 1
    # the emulated EC2 counted the Lambdas' rate-limited calls (two ingress rules per VM at least)
    assert figures.ec2_throttle["AuthorizeSecurityGroupIngress"]["requests"] >= 20
    assert 0.0 <= figures.ec2_throttled_share <= 1.0
    # every VM ran side by side: the wave lasts as long as its slowest VM
    assert figures.slowest_vm_hours > 1.0
    assert figures.wave_to_slowest_ratio == pytest.approx(1.0, abs=0.05)
    # the pipeline adds latency to each cutover on top of the emulator's own (drawn) durations, never less
    assert figures.cutover_seconds_max > figures.added_cutover_seconds_max
    assert 0 <= figures.added_cutover_seconds_mean <= figures.added_cutover_seconds_max
    assert 0 <= figures.added_cutover_seconds_p95 <= figures.added_cutover_seconds_max


def test_report_keeps_the_prose_around_the_generated_section(figures: WaveFigures, tmp_path: Path) -> None:
    results: list[tuple[Case, dict[str, Any]]] = [(Case(10), asdict(figures))]
    rendered = table(results)
    assert "| VMs completed | 10 |" in rendered
    assert any("added cutover latency" in line for line in verdicts(results))
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Benchmarks\n\nprose before\n\n{BEGIN}\nold\n{END}\n\nprose after\n", encoding="utf-8")
    write_report(f"{BEGIN}\n{rendered}\n{END}", path)
    text = path.read_text(encoding="utf-8")
    assert "prose before" in text and "prose after" in text and "old" not in text and rendered in text


def test_generated_scenario_mixes_platforms_and_bounds_the_request() -> None:
    scenario = build_scenario(12)
    platforms = {spec.platform.value for spec in scenario.estate.instances}
    assert platforms == {"linux", "windows"}
    assert scenario.request["approval"] == "auto"
    assert scenario.request["max_parallel"] == 12
    assert build_scenario(1000).request["max_parallel"] == 200  # the request's own limit
    with pytest.raises(ValueError, match="between 1 and 1000"):
        build_scenario(1001)


#: What one VM may cost, measured on this code (BENCHMARKS.md): a regression guard on the counts, which are exact and
#: repeatable (times are not asserted anywhere). Issue #18's target of 25 episodes per VM is not met yet; these keep
#: what was won (publishes ride with the steps: 61.8 -> 50.7 episodes per VM; wake on change: replays flat).
EPISODES_PER_VM = 55
EVENTS_REPLAYED_PER_VM = 2400
SITE_RECOVERY_CALLS_PER_VM = 16  # per-VM calls; the vault-level pages are shared by the wave
THROTTLED_SHARE = 0.05  # issue #18: a paced wave stays under 5 % throttled calls on every limited API
#: Issue #18: simulated seconds the pipeline adds to a cutover at p95 (the replication watch wakes each wait within
#: a tick of 10 s; its safety nets alone would add minutes). Deterministic: virtual time, seeded durations.
ADDED_CUTOVER_P95_SECONDS = 30


def check_counts(figures: WaveFigures) -> None:
    per_vm = figures.episodes / figures.vms
    assert per_vm <= EPISODES_PER_VM, per_vm
    assert figures.events_replayed_per_vm <= EVENTS_REPLAYED_PER_VM
    assert figures.sr_calls_per_vm <= SITE_RECOVERY_CALLS_PER_VM
    assert figures.arm_throttled_share < THROTTLED_SHARE, figures.arm_requests
    assert figures.ec2_throttled_share < THROTTLED_SHARE, figures.ec2_throttle
    assert figures.sr_watch_pages > 0  # the replication watch read the job list while VMs waited
    assert figures.added_cutover_seconds_p95 <= ADDED_CUTOVER_P95_SECONDS


def test_ten_vm_wave_costs_stay_within_the_measured_budget(figures: WaveFigures) -> None:
    check_counts(figures)


@pytest.mark.slow
def test_hundred_vm_wave_costs_stay_within_the_measured_budget() -> None:
    figures = run_wave(100)
    assert figures.completed == 100, figures.errors
    check_counts(figures)
    # the vault-level pages (health sweep, replication watch) spread over a hundred VMs: every call counted
    assert figures.sr_calls_per_vm_all <= 20


def test_kept_figures_are_reported_without_running_the_wave_again(
    figures: WaveFigures, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / f"{Case(10).stem}.json").write_text(json.dumps(asdict(figures)), encoding="utf-8")
    assert (
        bench_main(["--sizes", "10", "--long-replication-vms", "0", "--no-write", "--results-dir", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    assert "kept 10 VMs, 1 h IR" in out and "running" not in out
    assert "| VMs completed | 10 |" in out
