"""Durable Functions sample patterns on the local host, through the real azure-functions-durable SDK."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from local.host import COMPLETED, CONTINUED_AS_NEW, FAILED, RUNNING, TERMINATED, InstanceChange


def test_function_chaining_passes_typed_inputs_and_reports_custom_status(host):
    changes: list[InstanceChange] = []
    host.add_listener(changes.append)
    instance_id = host.start("chaining")

    host.run_until_idle()

    status = host.status(instance_id)
    assert status.runtime_status == COMPLETED
    assert status.output == {
        "greetings": ["Hello Tokyo!", "Hello Seattle!", "Hello London!"],
        "echo": {"echo": {"cities": 3}},
    }
    assert status.custom_status == {"step": "London"}
    seen = [(c.runtime_status, c.custom_status) for c in changes if c.instance_id == instance_id]
    assert seen[0] == ("Pending", None)
    assert ("Running", {"step": "Tokyo"}) in seen
    assert seen[-1] == (COMPLETED, {"step": "London"})


def test_history_has_the_wire_format_the_sdk_expects(host):
    instance_id = host.start("chaining")
    host.run_until_idle()

    history = host.status(instance_id, show_history=True).history
    assert history[0]["EventType"] == 12 and history[1]["EventType"] == 0
    assert history[1]["Version"] == "" and history[1]["Name"] == "chaining"
    assert all(e["Timestamp"].endswith("Z") for e in history)
    scheduled = [e for e in history if e["EventType"] == 4]
    completed = [e for e in history if e["EventType"] == 5]
    assert [e["EventId"] for e in scheduled] == [0, 1, 2, 3]
    assert [e["TaskScheduledId"] for e in completed] == [0, 1, 2, 3]
    assert json.loads(scheduled[0]["Input"]) == "Tokyo"
    assert history[-2]["EventType"] == 1 and history[-1]["EventType"] == 13
    assert host.status(instance_id).history_length == len(history)


def test_fan_out_fan_in_runs_fifty_activities_in_parallel_batches(host):
    instance_id = host.start("fan_out_fan_in", {"size": 50})

    host.run_until_idle()

    status = host.status(instance_id)
    assert status.output == {"count": 50, "sum": sum(i * i for i in range(50))}
    assert host.stats.activities_executed == 51
    assert host.stats.episodes < 51  # completions are batched into few episodes


@pytest.mark.parametrize("approve", [True, False])
def test_human_interaction_event_or_timeout(host, approve):
    instance_id = host.start("approval")
    start = host.clock.now()
    host.run_until_idle(advance_clock=False)
    assert host.status(instance_id).runtime_status == RUNNING

    if approve:
        host.advance(timedelta(hours=1))
        host.raise_event(instance_id, "Approval", {"by": "ann", "note": "go"})
    host.run_until_idle()

    status = host.status(instance_id)
    assert status.runtime_status == COMPLETED
    if approve:
        assert status.output == {"outcome": "approved", "by": {"by": "ann", "note": "go"}}
        assert host.clock.now() == start + timedelta(hours=1)  # the cancelled 72 h timer was not waited for
    else:
        assert status.output["outcome"] == "timed_out"
        assert host.clock.now() == start + timedelta(hours=72)


def test_monitor_loops_on_timers_with_continue_as_new(host):
    changes: list[InstanceChange] = []
    host.add_listener(changes.append)
    start = host.clock.now()
    instance_id = host.start("monitor", {"count": 0, "max": 4})

    host.run_until_idle()

    status = host.status(instance_id)
    assert status.runtime_status == COMPLETED
    assert status.output["checks"] == 4
    assert status.input == {"count": 3, "max": 4}
    assert host.clock.now() == start + timedelta(minutes=120)
    assert sum(1 for c in changes if c.runtime_status == CONTINUED_AS_NEW) == 3
    assert status.history_length < 12  # each execution starts a fresh history


def test_sub_orchestrations_with_retry_and_plain(host, app_module):
    instance_id = host.start("parent_with_retry", "p")

    host.run_until_idle()

    status = host.status(instance_id)
    assert status.runtime_status == COMPLETED, status.output
    assert status.output["children"] == [{"child": "ok after 3"}] * 3
    assert status.output["chain"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    child = host.status(f"{instance_id}-chain")
    assert child.runtime_status == COMPLETED


def test_activity_retry_exhausts_into_failure_after_the_final_timer(host, app_module):
    start = host.clock.now()
    instance_id = host.start("retry_exhausted", "k1")

    host.run_until_idle()

    status = host.status(instance_id, show_history=True)
    assert status.output == {"failed": True, "error": "Activity function 'always_fails' failed: RuntimeError: boom k1 "}
    assert len(app_module.RECORD["always_fails:k1"]) == 3
    timers = [e for e in status.history if e["EventType"] == 10]
    assert len(timers) == 3  # one after each failed attempt, the last one included
    assert host.clock.now() == start + timedelta(seconds=15)


def test_activity_retry_recovers_and_numbering_stays_consistent(host, app_module):
    instance_id = host.start("retry_then_success", "k2")

    host.run_until_idle()

    status = host.status(instance_id, show_history=True)
    assert status.output == ["ok after 3", "Hello after retry!"]
    ids = [e["EventId"] for e in status.history if e["EventType"] in (4, 10)]
    assert ids == list(range(len(ids)))


def test_unhandled_orchestrator_failure_marks_failed_with_message(host):
    instance_id = host.start("unhandled_failure", "k3")

    host.run_until_idle()

    status = host.status(instance_id)
    assert status.runtime_status == FAILED
    assert "Orchestrator function 'unhandled_failure' failed" in status.output
    assert "boom k3" in status.output
    assert status.custom_status == "about to fail"


def test_terminate_stops_a_waiting_instance(host):
    instance_id = host.start("wait_forever")
    host.run_until_idle()
    assert host.status(instance_id).custom_status == "waiting"

    host.terminate(instance_id, "no longer needed")
    host.run_until_idle()

    status = host.status(instance_id)
    assert status.runtime_status == TERMINATED
    assert status.output == "no longer needed"
    with pytest.raises(Exception, match="already Terminated"):
        host.terminate(instance_id, "again")


def test_non_deterministic_change_is_detected(host, app_module):
    instance_id = host.start("drifting")
    host.run_until_idle()
    assert host.status(instance_id).runtime_status == RUNNING

    app_module.NON_DETERMINISTIC["swap"] = True  # a code change deployed while the instance waits
    host.raise_event(instance_id, "Go", None)
    host.run_until_idle()

    status = host.status(instance_id)
    assert status.runtime_status == FAILED
    assert "Non-deterministic workflow detected" in status.output
    assert "'say_hello'" in status.output and "'square'" in status.output


def test_unknown_orchestrator_is_refused_with_the_known_names(host):
    with pytest.raises(Exception, match=r"doesn't exist or is not an orchestrator.*chaining"):
        host.start("no_such_thing")


def test_purge_and_query(host):
    done = host.start("chaining", instance_id="q-1")
    waiting = host.start("wait_forever", instance_id="q-2")
    host.run_until_idle()

    assert [s.instance_id for s in host.instances(prefix="q-", statuses=[COMPLETED])] == [done]
    assert host.purge(waiting) == 0  # still running
    assert host.purge(done) == 1
    assert host.status(done) is None


def test_wall_clock_host_runs_without_timers(tmp_path, app_module):
    from pathlib import Path

    from local.host import LocalHost, WallClock

    app = Path(__file__).parent / "apps" / "patterns_app.py"
    with LocalHost.open(app, tmp_path / "wall", clock=WallClock(), activity_workers=2) as wall:
        instance_id = wall.start("fan_out_fan_in", {"size": 5})
        wall.run_until_idle(wall_timeout=5)
        assert wall.status(instance_id).output == {"count": 5, "sum": 30}


def test_the_instance_query_leaves_inputs_out_when_asked(host):
    """The Durable HTTP API's instance query: inputs by default, none with ``showInput=false`` (what the replication
    watch asks on every tick)."""
    import urllib.request

    host.start("wait_forever", {"big": "x" * 1000}, instance_id="q-in")
    host.run_until_idle()
    host.start_server()
    url = f"{host.rpc_base_url}instances/?runtimeStatus=Running&instanceIdPrefix=q-"

    def listed(query: str) -> list[dict]:
        with urllib.request.urlopen(url + query, timeout=10) as response:  # noqa: S310 - the host's 127.0.0.1 API
            return json.loads(response.read())

    assert [item["input"] for item in listed("")] == [{"big": "x" * 1000}]
    without = listed("&showInput=false")
    assert [item["instanceId"] for item in without] == ["q-in"] and without[0]["input"] is None
