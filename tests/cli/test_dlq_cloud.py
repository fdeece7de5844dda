"""`cli dlq` against Azure Service Bus, with the azure-servicebus 7.15 client autospecced (no namespace here).

Autospec makes every call match the SDK's real signatures; what is sent is the SDK's own ``ServiceBusMessage``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from unittest import mock

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiver, ServiceBusSender

from cli import cloud
from cli.dlq import ORIGINAL_MESSAGE_ID, REPLAY_COUNT
from shared.errors import PermanentError
from shared.pipeline import EventType, MigrationEvent

AT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _received(message_id: str, body: bytes = b'{"request_id": "w1"}', **props: object) -> SimpleNamespace:
    """A received message as 7.15 returns it: bytes keys and values in application properties, a body iterator."""
    properties = {b"DeadLetterReason": b"MaxDeliveryCountExceeded", b"by": b"ops"}
    properties.update({k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in props.items()})
    return SimpleNamespace(
        message_id=message_id,
        body=iter([body]),
        application_properties=properties,
        content_type="application/json",
        correlation_id=None,
        subject="migration-request",
        enqueued_time_utc=AT,
        dead_letter_reason="MaxDeliveryCountExceeded",
        dead_letter_error_description="Message couldn't be consumed after maximum delivery attempts.",
        sequence_number=7,
    )


@pytest.fixture
def bus(monkeypatch):
    client = mock.create_autospec(ServiceBusClient, instance=True)
    client.__enter__.return_value = client
    receiver = mock.create_autospec(ServiceBusReceiver, instance=True)
    receiver.__enter__.return_value = receiver
    sender = mock.create_autospec(ServiceBusSender, instance=True)
    sender.__enter__.return_value = sender
    client.get_queue_receiver.return_value = receiver
    client.get_queue_sender.return_value = sender
    audit = mock.create_autospec(ServiceBusReceiver, instance=True)
    audit.__enter__.return_value = audit
    client.get_subscription_receiver.return_value = audit
    order = mock.Mock()
    order.attach_mock(sender.send_messages, "send")
    order.attach_mock(receiver.complete_message, "complete")
    order.attach_mock(receiver.abandon_message, "abandon")
    monkeypatch.setattr(cloud, "_servicebus", lambda: client)
    return SimpleNamespace(client=client, receiver=receiver, sender=sender, audit=audit, order=order)


def test_a_replay_sends_a_new_message_then_completes_the_dead_letter(bus):
    other, target = _received("someone-else"), _received("w1", **{ORIGINAL_MESSAGE_ID: "w1"})
    bus.receiver.receive_messages.side_effect = [[other, target], []]

    replay = cloud.replay_dead_letter("w1")

    assert (replay.new_message_id, replay.original_message_id, replay.replay_count) == ("w1-replay-1", "w1", 1)
    [sent] = bus.sender.send_messages.call_args.args
    assert isinstance(sent, ServiceBusMessage)
    assert sent.message_id == "w1-replay-1" != target.message_id
    assert b"".join(sent.body) == b'{"request_id": "w1"}'
    assert sent.application_properties == {"by": "ops", ORIGINAL_MESSAGE_ID: "w1", REPLAY_COUNT: 1}
    assert (sent.content_type, sent.subject) == ("application/json", "migration-request")
    assert [c[0] for c in bus.order.mock_calls] == ["send", "complete", "abandon"]
    assert bus.receiver.complete_message.call_args.args == (target,)
    assert bus.receiver.abandon_message.call_args.args == (other,)


def test_a_replayed_message_counts_on(bus):
    bus.receiver.receive_messages.side_effect = [
        [_received("w1-replay-1", **{ORIGINAL_MESSAGE_ID: "w1"}, **{REPLAY_COUNT: 1})]
    ]

    replay = cloud.replay_dead_letter("w1-replay-1")

    assert (replay.new_message_id, replay.replay_count) == ("w1-replay-2", 2)


def test_a_send_the_broker_refuses_leaves_the_dead_letter(bus):
    target = _received("w1")
    bus.receiver.receive_messages.side_effect = [[target]]
    bus.sender.send_messages.side_effect = RuntimeError("ServiceBusError: unauthorized")

    with pytest.raises(RuntimeError, match="unauthorized"):
        cloud.replay_dead_letter("w1")

    bus.receiver.complete_message.assert_not_called()
    assert bus.receiver.abandon_message.call_args.args == (target,)


def test_an_unknown_message_id_is_a_clear_error_and_releases_what_it_looked_at(bus):
    other = _received("someone-else")
    bus.receiver.receive_messages.side_effect = [[other], []]

    with pytest.raises(PermanentError, match="no dead-lettered message nope"):
        cloud.replay_dead_letter("nope")

    bus.sender.send_messages.assert_not_called()
    assert bus.receiver.abandon_message.call_args.args == (other,)


def test_dlq_list_peeks_and_shows_the_triggers_cause_from_the_audit_events(bus):
    bus.receiver.peek_messages.return_value = [_received("w1")]
    rejection = MigrationEvent(
        event_id="rejected:w1",
        type=EventType.REQUEST_REJECTED,
        request_id="",
        orchestration_id="",
        state="InvalidRequest",
        detail="max_parallel: Input should be less than or equal to 200",
        at=AT,
    )
    unrelated = SimpleNamespace(message_id="x:1", subject="vm.state_changed", sequence_number=1, body=iter([b"{}"]))
    event = SimpleNamespace(
        message_id="rejected:w1",
        subject=EventType.REQUEST_REJECTED.value,
        sequence_number=2,
        body=iter([rejection.model_dump_json().encode()]),
    )
    bus.audit.peek_messages.side_effect = [[unrelated, event]]

    [row] = cloud.dead_letters()

    assert row["reason"] == "MaxDeliveryCountExceeded"
    assert row["cause"] == "InvalidRequest: max_parallel: Input should be less than or equal to 200"
    bus.receiver.receive_messages.assert_not_called()  # listing consumes nothing
    assert bus.client.get_subscription_receiver.call_args.args == ("migration-events", cloud.AUDIT_SUBSCRIPTION)
