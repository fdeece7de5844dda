"""Dead-lettered requests: what `cli dlq list` shows and how `cli dlq replay` resends one, locally and in Azure.

A replay is what Service Bus allows and nothing kinder: receive the message from the dead-letter sub-queue, send
a copy as a *new* message, and complete the dead-lettered one only after the broker accepted the send. The copy
gets a new message id (the queue's duplicate detection would silently drop a resend of the old one inside its
window) derived from the original id and the replay count, so replaying the same dead letter twice (a crash
between send and complete) is dropped as a duplicate instead of starting twice. The original id and the count
travel as application properties.

Why the reason shown is not the broker's: a Python Service Bus trigger cannot dead-letter a message with its own
reason without the SDK-type binding's message actions (``azurefunctions-extensions-bindings-servicebus``, beta;
see ``docs/dead-lettering.md``). The trigger raises instead, the platform redelivers up to the max delivery count
and dead-letters with ``MaxDeliveryCountExceeded``; the real reason is published as a ``request.rejected`` event
whose id is ``rejected:<message id>``, and `dlq list` joins the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import PermanentError
from shared.pipeline import EventType, MigrationEvent

ORIGINAL_MESSAGE_ID = "original-message-id"
REPLAY_COUNT = "replay-count"
#: Application properties the broker adds to a dead-lettered message (azure-servicebus ``_common/constants.py``);
#: they describe the old message and are not copied onto its replay.
BROKER_DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})
#: Service Bus message ids are at most 128 characters.
_MAX_MESSAGE_ID = 128


@dataclass(frozen=True)
class Replay:
    """A dead-lettered message sent again: which one, under which new id, and how many times so far."""

    dead_letter_message_id: str
    original_message_id: str
    new_message_id: str
    replay_count: int


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def plan_replay(message_id: str, properties: Mapping[Any, Any] | None) -> tuple[Replay, dict[str | bytes, Any]]:
    """The replay of a dead-lettered message and the application properties its copy carries.

    Received Service Bus properties have ``bytes`` keys and string values; both are decoded here.
    """
    props: dict[str | bytes, Any] = {str(_text(k)): _text(v) for k, v in (properties or {}).items()}
    props = {key: value for key, value in props.items() if key not in BROKER_DEAD_LETTER_PROPERTIES}
    original = str(props.get(ORIGINAL_MESSAGE_ID) or message_id)
    try:
        count = int(props.get(REPLAY_COUNT) or 0) + 1
    except (TypeError, ValueError):
        count = 1
    suffix = f"-replay-{count}"
    new_id = original[: _MAX_MESSAGE_ID - len(suffix)] + suffix
    props.update({ORIGINAL_MESSAGE_ID: original, REPLAY_COUNT: count})
    return Replay(message_id, original, new_id, count), props


def replay_local(host: Any, queue: str, message_id: str) -> Replay:
    """Replay the oldest dead-lettered message with ``message_id`` on the local host's embedded queue."""
    matches = [m for m in host.dead_letters(queue) if m.message_id == message_id]
    if not matches:
        raise PermanentError(
            f"no dead-lettered message {message_id!r} in {queue}", code="NotFound", resource=message_id
        )
    dead = matches[0]
    replay, properties = plan_replay(message_id, dead.user_properties)
    sent = host.send(
        queue,
        dead.body,
        message_id=replay.new_message_id,
        content_type=dead.content_type,
        correlation_id=dead.correlation_id,
        subject=dead.subject,
        user_properties=properties,
    )
    if not sent.accepted:
        raise PermanentError(
            f"replay of {message_id!r} as {replay.new_message_id!r} was dropped by the queue's duplicate detection "
            "(it was replayed already); the dead-lettered message stays",
            code="DuplicateReplay",
            resource=message_id,
        )
    host.complete_dead_letter(queue, dead.sequence_number)
    return replay


def rejection_causes(events: Iterable[MigrationEvent]) -> dict[str, str]:
    """Message id → the reason the trigger gave for refusing it (from ``request.rejected`` events)."""
    causes = {}
    for event in events:
        if event.type == EventType.REQUEST_REJECTED and event.event_id.startswith("rejected:"):
            causes[event.event_id.removeprefix("rejected:")] = f"{event.state}: {event.detail}"
    return causes


def rows(dead_letters: Iterable[Mapping[str, Any]], causes: Mapping[str, str]) -> list[dict[str, Any]]:
    """What `dlq list` prints: the broker's reason and description, and the trigger's own cause where known."""
    return [{**row, "cause": causes.get(str(row["message_id"]), "")} for row in dead_letters]
