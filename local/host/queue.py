"""An embedded queue with Azure Service Bus semantics, stored in the host's SQLite database.

Peek-lock receive, complete, abandon, dead-letter with reason and description, max delivery count (then
``MaxDeliveryCountExceeded`` with the platform's generic description), duplicate detection on message id within
a window, scheduled enqueue time, per-queue dead-letter listing, and completing a dead-lettered message.

Anchors (Microsoft's Service Bus docs, ``articles/service-bus-messaging``): ``duplicate-detection.md`` — a message
whose id was logged within the window is reported as accepted and dropped; scheduled messages count; the window
is 20 s .. 7 days (default 10 min). ``service-bus-dead-letter-queues.md`` — past the max delivery count the broker
sets reason ``MaxDeliveryCountExceeded`` and its own description (not the consumer's exception); a message leaves
the dead-letter queue only when a receiver completes it there, and can reach the queue again only as a new send
(which duplicate detection sees like any other).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from local.clock import Clock

from .history import format_timestamp, parse_timestamp
from .store import Store

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
#: The broker's description for it, as ``service-bus-dead-letter-queues.md`` gives it (the trigger's exception
#: never reaches the message: the Functions host only abandons it).
MAX_DELIVERY_COUNT_EXCEEDED_DESCRIPTION = "Message couldn't be consumed after maximum delivery attempts."
ACTIVE = "active"
LOCKED = "locked"
DEAD = "dead"


class QueueError(Exception):
    """A queue operation that cannot be done (unknown queue, lost lock, bad message)."""


@dataclass(frozen=True)
class QueueOptions:
    """Per-queue settings, named as in Service Bus."""

    max_delivery_count: int = 10
    duplicate_detection_window: timedelta = timedelta(minutes=10)
    lock_duration: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if self.max_delivery_count < 1:
            raise ValueError("max_delivery_count must be at least 1")
        if not timedelta(seconds=20) <= self.duplicate_detection_window <= timedelta(days=7):
            raise ValueError(
                f"duplicate_detection_window must be between 20 seconds and 7 days (Service Bus), "
                f"not {self.duplicate_detection_window}"
            )


@dataclass(frozen=True)
class SendResult:
    """Whether a sent message was accepted, or dropped as a duplicate of a message id seen in the window."""

    accepted: bool
    message_id: str
    sequence_number: int | None


@dataclass(frozen=True)
class QueueMessage:
    """A message as the queue holds it (locked messages carry their lock token)."""

    queue: str
    sequence_number: int
    message_id: str
    body: bytes
    content_type: str | None
    correlation_id: str | None
    subject: str | None
    user_properties: dict[str, Any]
    enqueued_time: datetime
    scheduled_enqueue_time: datetime | None
    delivery_count: int
    lock_token: str | None = None
    locked_until: datetime | None = None
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None
    dead_lettered_time: datetime | None = None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def _body_bytes(body: bytes | str | dict[str, Any] | list[Any]) -> tuple[bytes, str | None]:
    if isinstance(body, bytes):
        return body, None
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain"
    if isinstance(body, dict | list):
        return json.dumps(body).encode("utf-8"), "application/json"
    raise QueueError(f"message body must be bytes, str, dict or list, not {type(body).__name__}")


_COLUMNS = (
    "seq, queue, message_id, body, content_type, correlation_id, subject, user_properties, enqueued_at, "
    "scheduled_at, delivery_count, lock_token, visible_at, dead_letter_reason, dead_letter_description, "
    "dead_lettered_at, state"
)


def _row_to_message(row: tuple[Any, ...]) -> QueueMessage:
    (
        seq,
        queue,
        message_id,
        body,
        content_type,
        correlation_id,
        subject,
        props,
        enqueued,
        scheduled,
        count,
        token,
        visible,
        reason,
        description,
        dead_at,
        state,
    ) = row
    return QueueMessage(
        queue=queue,
        sequence_number=seq,
        message_id=message_id,
        body=bytes(body),
        content_type=content_type,
        correlation_id=correlation_id,
        subject=subject,
        user_properties=json.loads(props),
        enqueued_time=parse_timestamp(enqueued),
        scheduled_enqueue_time=parse_timestamp(scheduled) if scheduled else None,
        delivery_count=count,
        lock_token=token if state == LOCKED else None,
        locked_until=parse_timestamp(visible) if state == LOCKED else None,
        dead_letter_reason=reason,
        dead_letter_description=description,
        dead_lettered_time=parse_timestamp(dead_at) if dead_at else None,
    )


class EmbeddedQueue:
    """Service Bus queues for the local host; every operation is one SQLite transaction."""

    def __init__(self, store: Store, clock: Clock, queues: dict[str, QueueOptions] | None = None) -> None:
        self._store = store
        self._clock = clock
        self._queues: dict[str, QueueOptions] = dict(queues or {})

    # -- declaration ------------------------------------------------------------------------------------

    def declare(self, name: str, options: QueueOptions | None = None) -> None:
        """Create a queue (idempotent); an explicit ``options`` replaces earlier settings."""
        if not name or "/" in name:
            raise QueueError(f"invalid queue name {name!r}")
        if options is not None or name not in self._queues:
            self._queues[name] = options or QueueOptions()

    @property
    def names(self) -> list[str]:
        return sorted(self._queues)

    def options(self, name: str) -> QueueOptions:
        if name not in self._queues:
            known = ", ".join(self.names) or "none"
            raise QueueError(f"no queue named {name!r} (declared: {known})")
        return self._queues[name]

    # -- sending ----------------------------------------------------------------------------------------

    def send(
        self,
        queue: str,
        body: bytes | str | dict[str, Any] | list[Any],
        *,
        message_id: str | None = None,
        content_type: str | None = None,
        correlation_id: str | None = None,
        subject: str | None = None,
        user_properties: dict[str, Any] | None = None,
        scheduled_enqueue_time: datetime | None = None,
    ) -> SendResult:
        """Enqueue a message; a message id seen within the duplicate-detection window is dropped."""
        options = self.options(queue)
        payload, default_type = _body_bytes(body)
        message_id = message_id or uuid.uuid4().hex
        now = self._clock.now()
        visible = max(now, scheduled_enqueue_time) if scheduled_enqueue_time else now
        with self._store.transaction() as db:
            db.execute("DELETE FROM sb_dedup WHERE queue = ? AND expires_at <= ?", (queue, format_timestamp(now)))
            if db.execute("SELECT 1 FROM sb_dedup WHERE queue = ? AND message_id = ?", (queue, message_id)).fetchone():
                return SendResult(False, message_id, None)
            db.execute(
                "INSERT INTO sb_dedup (queue, message_id, expires_at) VALUES (?, ?, ?)",
                (queue, message_id, format_timestamp(now + options.duplicate_detection_window)),
            )
            cursor = db.execute(
                "INSERT INTO sb_messages (queue, message_id, body, content_type, correlation_id, subject, "
                "user_properties, enqueued_at, scheduled_at, visible_at, delivery_count, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    queue,
                    message_id,
                    payload,
                    content_type or default_type,
                    correlation_id,
                    subject,
                    json.dumps(user_properties or {}),
                    format_timestamp(now),
                    format_timestamp(scheduled_enqueue_time) if scheduled_enqueue_time else None,
                    format_timestamp(visible),
                    ACTIVE,
                ),
            )
            return SendResult(True, message_id, cursor.lastrowid)

    # -- peek-lock --------------------------------------------------------------------------------------

    def receive(self, queue: str) -> QueueMessage | None:
        """Lock the next visible message (delivery count + 1), or None when none is visible now."""
        options = self.options(queue)
        now = format_timestamp(self._clock.now())
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT seq FROM sb_messages WHERE queue = ? AND state IN (?, ?) AND visible_at <= ? "
                "ORDER BY visible_at, seq LIMIT 1",
                (queue, ACTIVE, LOCKED, now),
            ).fetchone()
            if row is None:
                return None
            token = uuid.uuid4().hex
            locked_until = format_timestamp(self._clock.now() + options.lock_duration)
            db.execute(
                "UPDATE sb_messages SET state = ?, lock_token = ?, visible_at = ?, "
                "delivery_count = delivery_count + 1 WHERE seq = ?",
                (LOCKED, token, locked_until, row[0]),
            )
            return self._load(db, row[0])

    def complete(self, message: QueueMessage) -> None:
        with self._store.transaction() as db:
            self._check_lock(db, message)
            db.execute("DELETE FROM sb_messages WHERE seq = ?", (message.sequence_number,))

    def abandon(self, message: QueueMessage) -> bool:
        """Release the lock; past the max delivery count the message is dead-lettered. True if dead-lettered."""
        options = self.options(message.queue)
        with self._store.transaction() as db:
            current = self._check_lock(db, message)
            if current.delivery_count >= options.max_delivery_count:
                self._dead_letter(
                    db, message.sequence_number, MAX_DELIVERY_COUNT_EXCEEDED, MAX_DELIVERY_COUNT_EXCEEDED_DESCRIPTION
                )
                return True
            db.execute(
                "UPDATE sb_messages SET state = ?, lock_token = NULL, visible_at = ? WHERE seq = ?",
                (ACTIVE, format_timestamp(self._clock.now()), message.sequence_number),
            )
            return False

    def dead_letter(self, message: QueueMessage, reason: str, description: str = "") -> None:
        with self._store.transaction() as db:
            self._check_lock(db, message)
            self._dead_letter(db, message.sequence_number, reason, description)

    def release_locks(self) -> int:
        """Make every locked message visible again (a restarted host lost its locks)."""
        with self._store.transaction() as db:
            cursor = db.execute("UPDATE sb_messages SET state = ?, lock_token = NULL WHERE state = ?", (ACTIVE, LOCKED))
            return cursor.rowcount

    # -- inspection -------------------------------------------------------------------------------------

    def active(self, queue: str) -> list[QueueMessage]:
        """Messages waiting or locked (scheduled ones included), in order."""
        self.options(queue)
        with self._store.reading() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM sb_messages WHERE queue = ? AND state != ? ORDER BY seq",  # noqa: S608
                (queue, DEAD),
            ).fetchall()
        return [_row_to_message(r) for r in rows]

    def dead_letters(self, queue: str) -> list[QueueMessage]:
        """The queue's dead-letter sub-queue, oldest first, each with its reason and description."""
        self.options(queue)
        with self._store.reading() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM sb_messages WHERE queue = ? AND state = ? ORDER BY seq",  # noqa: S608
                (queue, DEAD),
            ).fetchall()
        return [_row_to_message(r) for r in rows]

    def complete_dead_letter(self, queue: str, sequence_number: int) -> None:
        """Remove a message from the dead-letter sub-queue (a DLQ receiver completing it)."""
        self.options(queue)
        with self._store.transaction() as db:
            deleted = db.execute(
                "DELETE FROM sb_messages WHERE queue = ? AND state = ? AND seq = ?", (queue, DEAD, sequence_number)
            ).rowcount
        if not deleted:
            raise QueueError(f"no dead-lettered message with sequence number {sequence_number} in queue {queue!r}")

    def next_visible_time(self, queues: list[str], after: datetime) -> datetime | None:
        """When the earliest message of ``queues`` not receivable at ``after`` (scheduled or locked) becomes so."""
        if not queues:
            return None
        marks = ",".join("?" * len(queues))
        with self._store.reading() as db:
            row = db.execute(
                f"SELECT MIN(visible_at) FROM sb_messages WHERE state IN (?, ?) AND visible_at > ? "  # noqa: S608
                f"AND queue IN ({marks})",
                (ACTIVE, LOCKED, format_timestamp(after), *queues),
            ).fetchone()
        return parse_timestamp(row[0]) if row and row[0] else None

    # -- helpers ----------------------------------------------------------------------------------------

    @staticmethod
    def _load(db: Any, seq: int) -> QueueMessage:
        row = db.execute(f"SELECT {_COLUMNS} FROM sb_messages WHERE seq = ?", (seq,)).fetchone()  # noqa: S608
        return _row_to_message(row)

    def _check_lock(self, db: Any, message: QueueMessage) -> QueueMessage:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM sb_messages WHERE seq = ?",  # noqa: S608
            (message.sequence_number,),
        ).fetchone()
        if row is None or row[-1] != LOCKED or row[11] != message.lock_token:
            raise QueueError(
                f"the lock on message {message.message_id!r} in {message.queue!r} was lost or already released"
            )
        return _row_to_message(row)

    def _dead_letter(self, db: Any, seq: int, reason: str, description: str) -> None:
        db.execute(
            "UPDATE sb_messages SET state = ?, lock_token = NULL, dead_letter_reason = ?, "
            "dead_letter_description = ?, dead_lettered_at = ? WHERE seq = ?",
            (DEAD, reason, description[:4096], format_timestamp(self._clock.now()), seq),
        )
