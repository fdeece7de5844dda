"""A waiting VM's safety nets (:meth:`functions.workflows.steps.Steps.await_change`): when the event it waits for
never comes it reads for itself, at the time it published, on the replication watch's look event; with no watch
running at all, its wait fails at the deadline on the one durable timer it keeps. No per-look durable timer is left
behind to wake the orchestration for nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from local.scenario import Scenario
from local.stack import LocalStack
from shared.lifecycle import VmProgress
from shared.pipeline import LOOK_EVENT
from shared.request import vm_instance_id
from shared.watch import WaitKind, look_event

from .helpers import by_name, open_stack, run_wave, scenario, source, wave

#: A schedule that does not come round within a wave on the virtual clock (the next 29 February).
NEVER = "0 0 0 29 2 *"


def _progress(stack: LocalStack, orchestration_id: str) -> VmProgress:
    status = stack.host.status(orchestration_id)
    assert status is not None
    return VmProgress.model_validate(status.custom_status)


def _quiet(**update: object) -> Scenario:
    return scenario().model_copy(update=update)


def test_a_vm_whose_discovery_event_never_comes_reads_the_site_itself_when_the_watch_says_its_look_is_due(
    tmp_path: Path,
) -> None:
    with open_stack(tmp_path, _quiet(discovery_watch_schedule=NEVER)) as stack:
        outcome = run_wave(stack, wave(stack, "e2e-look", ["rcm-lin"]))
        woken = stack.host.stats.episodes_by_trigger
        first_look = stack.scenario.timings.registration_first_poll
    progress = by_name(outcome)["rcm-lin"]
    assert progress.state.value == "completed", progress.error
    assert woken["migrate_vm: event_raised:machine_discovered"] == 0, woken
    # discovered by its own read: the look came at registration_first_poll after the wait began (a watch tick later
    # at most), where a per-look timer used to wake it
    assert woken["migrate_vm: event_raised:look"] >= 1, woken
    registering = next(s for s in progress.stages if s.state.value == "registering_agent")
    enabling = next(s for s in progress.stages if s.state.value == "enabling_replication")
    waited = (enabling.at - registering.at).total_seconds()
    assert first_look <= waited <= first_look + 10 + 1, waited


def test_with_no_watch_running_each_wait_ends_on_its_deadline_read(tmp_path: Path) -> None:
    """The backstop: no watch raises anything, so each wait reads once, at its deadline, and the VM still
    completes (slowly: that is what the watches are for)."""
    timings = scenario().timings.model_copy(update={"registration_timeout": 1800, "job_timeout": 1200})
    quiet = _quiet(discovery_watch_schedule=NEVER, watch_schedule=NEVER, timings=timings)
    with open_stack(tmp_path, quiet) as stack:
        outcome = run_wave(stack, wave(stack, "e2e-no-watch", ["rcm-lin"]))
        woken = stack.host.stats.episodes_by_trigger
    progress = by_name(outcome)["rcm-lin"]
    assert progress.state.value == "completed", progress.error
    assert woken["migrate_vm: event_raised:look"] == 0 and woken["migrate_vm: event_raised:job_completed"] == 0
    registering = next(s for s in progress.stages if s.state.value == "registering_agent")
    enabling = next(s for s in progress.stages if s.state.value == "enabling_replication")
    assert (enabling.at - registering.at).total_seconds() == 1800


def test_with_no_watch_running_a_wait_fails_at_its_deadline_and_leaves_the_source_running(tmp_path: Path) -> None:
    timings = scenario().timings.model_copy(update={"registration_timeout": 1800})
    never_registers = scenario().site_recovery.model_copy(update={"discovery_seconds": 10 * 3600})
    quiet = _quiet(discovery_watch_schedule=NEVER, watch_schedule=NEVER, timings=timings, site_recovery=never_registers)
    with open_stack(tmp_path, quiet) as stack:
        outcome = run_wave(stack, wave(stack, "e2e-no-watch", ["rcm-lin"]))
        progress = by_name(outcome)["rcm-lin"]
        state = source(stack, "rcm-lin")["state"]
    assert progress.state.value == "failed"
    assert progress.error is not None and progress.error.code == "AgentNotRegistered", progress.error
    assert progress.error.step.value == "registering_agent"
    registering = next(s for s in progress.stages if s.state.value == "registering_agent")
    failed = next(s for s in progress.stages if s.state.value == "failed")
    # failed at the deadline, then rolled back: the guest's revert is a Run Command, and with no watch its end too is
    # read at its own deadline (command_timeout)
    rollback = scenario().timings.command_timeout
    assert 1800 + rollback <= (failed.at - registering.at).total_seconds() < 1800 + rollback + 300, progress.stages
    assert state == "running"


def test_a_look_raised_for_an_earlier_look_time_reads_nothing(tmp_path: Path) -> None:
    """A look the watch raised again before the VM published its next one (or for a wait that ended) is not a
    read: only the look for the time the wait asked last is."""
    with open_stack(tmp_path, _quiet(discovery_watch_schedule=NEVER, watch_schedule=NEVER)) as stack:
        stack.use_request(wave(stack, "e2e-stale-look", ["rcm-lin"]))
        stack.submit()
        stack.host.run_until_idle(horizon=timedelta(minutes=10))
        vm = vm_instance_id("e2e-stale-look", stack.seeded.instance_id("rcm-lin"))
        waiting = _progress(stack, vm).waiting_for  # its guest preparation's command: no watch tells it it ended
        assert waiting is not None and waiting.kind is WaitKind.COMMAND and waiting.look_at is not None
        reads = stack.host.stats.activities_executed

        earlier = waiting.model_copy(update={"look_at": waiting.look_at - timedelta(seconds=10)})
        stack.host.raise_event(vm, LOOK_EVENT, look_event(earlier))
        stack.host.run_until_idle(advance_clock=False)
        assert stack.host.stats.activities_executed == reads  # ignored: no read
        assert _progress(stack, vm).waiting_for == waiting

        stack.host.raise_event(vm, LOOK_EVENT, look_event(waiting))
        stack.host.run_until_idle(advance_clock=False)
        assert stack.host.stats.activities_executed > reads  # the VM read its command itself, and went on
        assert _progress(stack, vm).waiting_for != waiting
