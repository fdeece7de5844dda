"""Service Bus, HTTP and timer triggers on the local host, with the real DurableOrchestrationClient."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cli.dlq import ORIGINAL_MESSAGE_ID, REPLAY_COUNT, plan_replay, replay_local
from local.host import COMPLETED, MAX_DELIVERY_COUNT_EXCEEDED, RUNNING, TERMINATED
from local.host.queue import MAX_DELIVERY_COUNT_EXCEEDED_DESCRIPTION
from shared.errors import PermanentError


def test_service_bus_starter_uses_the_durable_client_and_sees_message_metadata(host, app_module):
    request = {"id": "a1", "orchestrator": "approval", "input": {"wave": 7}}
    host.send("requests", request, message_id="msg-a1", user_properties={"source": "cli"})

    host.run_until_idle(advance_clock=False)

    status = host.status("req-a1")
    assert status.runtime_status == RUNNING
    assert status.input == {"wave": 7}
    seen = app_module.RECORD["start_from_queue"][0]
    assert seen == {
        "message_id": "msg-a1",
        "delivery_count": 1,
        "props": {"source": "cli"},
        "content_type": "application/json",
    }
    assert host.queue.active("requests") == []  # completed


def test_http_function_raises_an_event_through_the_client(host):
    host.send("requests", {"id": "a2", "orchestrator": "approval"})
    host.run_until_idle(advance_clock=False)

    response = host.invoke_http("approve/req-a2", "POST", {"approver": "bob"})
    assert response.status_code == 202
    assert json.loads(response.get_body()) == {"status": "Running"}
    host.run_until_idle()

    assert host.status("req-a2").output == {"outcome": "approved", "by": {"approver": "bob"}}


def test_http_starter_returns_check_status_response_and_admin_queries(host):
    response = host.invoke_http("start/chaining", "POST", {"ignored": True})
    assert response.status_code == 202
    links = json.loads(response.get_body())
    assert links["statusQueryGetUri"].startswith("http://127.0.0.1")
    host.run_until_idle()

    admin = json.loads(host.invoke_http(f"admin/{links['id']}", "GET").get_body())
    assert admin["status"]["runtimeStatus"] == "Completed"
    assert links["id"] in admin["completed"]


def test_http_terminate_through_the_client(host):
    instance_id = host.start("wait_forever")
    host.run_until_idle()

    assert host.invoke_http(f"admin/{instance_id}", "DELETE").status_code == 202
    host.run_until_idle()

    assert host.status(instance_id).runtime_status == TERMINATED
    assert host.status(instance_id).output == "operator cancelled"


def test_duplicate_message_id_is_ignored_within_the_window(host, app_module):
    first = host.send("requests", {"id": "d1", "orchestrator": "chaining"}, message_id="same")
    second = host.send("requests", {"id": "d1", "orchestrator": "chaining"}, message_id="same")
    host.run_until_idle()

    assert first.accepted and not second.accepted
    assert len(app_module.RECORD["start_from_queue"]) == 1
    host.advance(timedelta(minutes=11))  # past the 10-minute duplicate-detection window
    assert host.send("requests", {"id": "d1", "orchestrator": "chaining"}, message_id="same").accepted


def test_poison_message_is_dead_lettered_after_max_delivery_count(host, app_module):
    host.send("poison", "bad payload", message_id="p1")

    host.run_until_idle()

    assert app_module.RECORD["poison"] == list(range(1, 11))
    [dead] = host.dead_letters("poison")
    assert dead.message_id == "p1"
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    # The broker's own description: the Functions host only abandons, the exception never reaches the message.
    assert dead.dead_letter_description == MAX_DELIVERY_COUNT_EXCEEDED_DESCRIPTION
    assert dead.delivery_count == 10


def test_exception_abandons_and_the_message_is_redelivered(host, app_module):
    host.send("flaky", "x", message_id="f1")

    host.run_until_idle()

    assert app_module.RECORD["flaky"] == [("f1", 1), ("f1", 2)]
    assert host.dead_letters("flaky") == []
    assert host.queue.active("flaky") == []


def test_a_dead_letter_error_is_retried_like_any_exception_as_in_azure(host, app_module):
    """Without the SDK-type binding's message actions a trigger cannot pick its own reason (docs/dead-lettering.md)."""
    host.send("strict", b"not json", message_id="s1")
    host.send("strict", b"{}", message_id="s2")

    host.run_until_idle()

    assert sorted(app_module.RECORD["strict"]) == ["s1"] * 10 + ["s2"]
    [dead] = host.dead_letters("strict")
    assert (dead.message_id, dead.dead_letter_reason, dead.delivery_count) == ("s1", MAX_DELIVERY_COUNT_EXCEEDED, 10)


def test_a_replay_is_a_new_message_that_is_delivered(host, app_module):
    host.send("strict", b"still not json", message_id="r1", user_properties={"by": "ops"})
    host.run_until_idle()
    [dead] = host.dead_letters("strict")

    replay = replay_local(host, "strict", "r1")

    assert (replay.new_message_id, replay.original_message_id, replay.replay_count) == ("r1-replay-1", "r1", 1)
    assert host.dead_letters("strict") == []
    [queued] = host.queue.active("strict")
    assert queued.user_properties == {"by": "ops", ORIGINAL_MESSAGE_ID: "r1", REPLAY_COUNT: 1}
    assert (queued.body, queued.delivery_count) == (dead.body, 0)
    host.run_until_idle()
    assert app_module.RECORD["strict"][10] == "r1-replay-1"  # delivered again, under its new id
    [again] = host.dead_letters("strict")
    second = replay_local(host, "strict", again.message_id)
    assert (second.new_message_id, second.original_message_id, second.replay_count) == ("r1-replay-2", "r1", 2)


def test_a_resend_with_the_same_id_inside_the_window_is_dropped_as_azure_does(host, app_module):
    """``duplicate-detection.md``: reported as accepted, dropped; even after the first was consumed."""
    host.send("strict", b"not json", message_id="d9")
    host.run_until_idle()
    assert len(host.dead_letters("strict")) == 1

    resent = host.send("strict", b"{}", message_id="d9")  # the old replay: the same id again
    host.run_until_idle(advance_clock=False)

    assert not resent.accepted
    assert host.queue.active("strict") == []
    assert app_module.RECORD["strict"].count("d9") == 10  # nothing delivered after the resend


def test_replaying_the_same_dead_letter_twice_is_refused_not_doubled(host, app_module):
    """A crash between the send and the completion leaves the dead letter: a second replay is a duplicate."""
    host.send("strict", b"nope", message_id="c1")
    host.run_until_idle()
    [dead] = host.dead_letters("strict")
    replay, properties = plan_replay(dead.message_id, dead.user_properties)
    assert host.send("strict", dead.body, message_id=replay.new_message_id, user_properties=properties).accepted

    with pytest.raises(PermanentError, match="dropped by the queue's duplicate detection"):
        replay_local(host, "strict", "c1")
    assert [m.message_id for m in host.dead_letters("strict")] == ["c1"]


def test_scheduled_message_waits_for_its_time_on_the_virtual_clock(host, app_module):
    due = host.clock.now() + timedelta(hours=2)
    host.send("requests", {"id": "s9", "orchestrator": "chaining"}, scheduled_enqueue_time=due)

    host.run_until_idle(advance_clock=False)
    assert "start_from_queue" not in app_module.RECORD

    host.run_until_idle()
    assert host.status("req-s9").runtime_status == COMPLETED
    assert host.clock.now() == due


def test_timer_trigger_fires_on_ncrontab_occurrences_while_time_passes(host, app_module):
    start = host.clock.now()
    host.start("approval")  # its 72 h timeout moves the clock

    host.run_until_idle(horizon=timedelta(hours=1))
    fired = app_module.RECORD.get("quarter_hourly", [])

    assert len(fired) == 4  # 08:15, 08:30, 08:45, 09:00
    assert fired[0] == ("2026-01-05T08:15:00.000000Z", False)
    assert host.clock.now() == start + timedelta(hours=1)


def test_unknown_queue_is_a_clear_error(host):
    import pytest

    from local.host import QueueError

    with pytest.raises(QueueError, match=r"no queue named 'nope'.*requests"):
        host.send("nope", "x")
