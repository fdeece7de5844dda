"""The host benchmark script runs (small sizes; the figures are printed, not asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "host_fanout.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("host_fanout_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fan_out_benchmark_completes_and_reports(capsys):
    bench = _bench_module()

    assert bench.main(["--activities", "200", "--workers", "2"]) == 0

    out = capsys.readouterr().out
    assert "fan-out of 200 activities" in out and "episodes" in out and "history events replayed" in out


def test_wave_benchmark_completes():
    figures = _bench_module().run(activities=0, wave=20, steps=5, workers=2)

    assert figures["activities"] == 100
    assert figures["episodes"] >= 20 * 6
