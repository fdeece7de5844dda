"""Guest commands are awaited on events: the replication watch asks the ``command_watch`` Lambda, once per tick for
every waiting VM, which commands ended, and wakes each VM with its command's invocation. No VM polls its command
(``command_status`` is its safety net only), and a VM whose command ended is woken once for it."""

from __future__ import annotations

from pathlib import Path

from .helpers import by_name, open_stack, run_wave, wave

#: The guest commands of a completed migration: prepare the guest, install the agent (the guest is not reverted at
#: the end: the source is stopped by then, SSM cannot reach it).
COMMANDS_PER_VM = 2


def test_every_guest_command_s_end_comes_as_an_event_and_no_vm_polls_its_command(tmp_path: Path) -> None:
    names = ["rcm-lin", "v2-lin"]
    with open_stack(tmp_path) as stack:
        outcome = run_wave(stack, wave(stack, "e2e-commands", names))
        woken = stack.host.stats.episodes_by_trigger
        calls = dict(stack.invoker.calls)
        watched = [call for call in stack.invoker.history if call.function == "command_watch"]
    assert {name: p.state.value for name, p in by_name(outcome).items()} == dict.fromkeys(names, "completed")
    assert woken["migrate_vm: event_raised:command_ended"] == COMMANDS_PER_VM * len(names), woken
    assert "command_status" not in calls, calls
    # one call per tick while a VM waits on a command, for all of them: never one per VM and tick
    assert calls["command_watch"] <= 2 * COMMANDS_PER_VM * 10, calls
    assert any(len(call.event["commands"]) == len(names) for call in watched)
