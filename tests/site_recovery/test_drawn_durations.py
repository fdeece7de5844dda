"""Job durations and final-sync delays are drawn per job from a seeded distribution, so a pipeline cannot be tuned
to one fixed length (issue #18: the added cutover is measured against durations independent of each other)."""

from __future__ import annotations

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.clock import VirtualClock
from local.site_recovery import SiteRecoveryEmulator, build_emulated_client
from local.site_recovery.estate import Timings
from shared.site_recovery import VaultRef
from tests.site_recovery.conftest import enable


def _enable_jobs(seed: str, spread: float, machines: int = 4) -> list[float]:
    timings = {"duration_seed": seed, "duration_spread": spread}
    emulator = SiteRecoveryEmulator({"timings": timings}, clock=VirtualClock())
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator))
    e = emulator.estate
    vault = VaultRef(subscription_id=e.subscription_id, resource_group=e.resource_group, vault_name=e.vault_name)
    for index in range(1, machines + 1):
        enable(gateway, emulator, vault, name=f"web{index:02d}", index=index)
    return [(job.end - job.start).total_seconds() for job in emulator._jobs.values()]


def test_each_job_draws_its_own_duration_and_the_same_seed_draws_the_same() -> None:
    drawn = _enable_jobs("run-a", 0.25)
    assert len(set(drawn)) == len(drawn) > 1  # no two enables take the same time
    assert _enable_jobs("run-a", 0.25) == drawn  # repeatable
    assert _enable_jobs("run-b", 0.25) != drawn  # another seed, other durations
    assert all(value == round(value) >= 1 for value in drawn)


def test_no_spread_is_exactly_the_configured_duration() -> None:
    assert set(_enable_jobs("run-a", 0.0)) == {Timings().job_seconds["EnableDr"]}


def test_the_draw_is_centred_on_the_configured_duration() -> None:
    timings = Timings()
    draws = [timings.drawn(300.0, "job", str(index)) for index in range(400)]
    median = sorted(draws)[len(draws) // 2]
    assert 0.9 * 300 <= median <= 1.1 * 300
    assert min(draws) < 0.75 * 300 and max(draws) > 1.3 * 300  # a real spread, both ways


def test_a_shutdown_seen_again_keeps_the_first_stop(emulator: SiteRecoveryEmulator) -> None:
    emulator.register_machine("web01", "10.0.1.1", "EC200001-0000-4000-8000-000000000001", "linux")
    first = emulator.clock.now()
    emulator.source_stopped("web01", first)
    emulator.clock.sleep(30)
    emulator.source_stopped("web01", emulator.clock.now())  # the shutdown poll sees it stopped again
    assert emulator._machine("web01").source_stopped_at == first
