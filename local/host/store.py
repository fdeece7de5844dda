"""SQLite state of the local host: instances, history, inbox, timers, work items, queue messages.

One connection (WAL), one lock; every episode, delivery or completion batch commits in one transaction, so a
host killed at any moment restarts from a consistent state.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input_json TEXT,
    output_json TEXT,
    custom_status_json TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    parent_json TEXT,
    engine_json TEXT NOT NULL,
    history_len INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_json TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (instance_id, seq);
CREATE TABLE IF NOT EXISTS timers (
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    timer_id INTEGER NOT NULL,
    fire_at TEXT NOT NULL,
    PRIMARY KEY (instance_id, execution_id, timer_id)
);
CREATE INDEX IF NOT EXISTS timers_by_time ON timers (fire_at);
CREATE TABLE IF NOT EXISTS work (
    work_id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input_json TEXT
);
CREATE INDEX IF NOT EXISTS work_by_instance ON work (instance_id);
CREATE TABLE IF NOT EXISTS sb_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    content_type TEXT,
    correlation_id TEXT,
    subject TEXT,
    user_properties TEXT NOT NULL,
    enqueued_at TEXT NOT NULL,
    scheduled_at TEXT,
    visible_at TEXT NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    lock_token TEXT,
    dead_letter_reason TEXT,
    dead_letter_description TEXT,
    dead_lettered_at TEXT
);
CREATE INDEX IF NOT EXISTS sb_ready ON sb_messages (queue, state, visible_at, seq);
CREATE TABLE IF NOT EXISTS sb_dedup (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (queue, message_id)
);
CREATE TABLE IF NOT EXISTS cron (
    function_name TEXT PRIMARY KEY,
    last_due TEXT NOT NULL
);
"""


class Store:
    """The SQLite database of one state directory."""

    def __init__(self, state_dir: str | Path) -> None:
        directory = Path(state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "host.sqlite3"
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one IMMEDIATE transaction (all or nothing)."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Read without a write transaction (still serialised with writers of this process)."""
        with self.lock:
            yield self._conn

    def latest_time(self) -> str | None:
        """The latest "now" the host has written (instances, queue messages, cron), as stored; None if empty.

        Timers, locks and duplicate-detection expiry are future times and do not count.
        """
        with self.reading() as db:
            row = db.execute(
                "SELECT MAX(t) FROM ("
                "SELECT MAX(updated_at) AS t FROM instances UNION ALL SELECT MAX(created_at) FROM instances "
                "UNION ALL SELECT MAX(enqueued_at) FROM sb_messages "
                "UNION ALL SELECT MAX(dead_lettered_at) FROM sb_messages "
                "UNION ALL SELECT MAX(last_due) FROM cron)"
            ).fetchone()
        return row[0] if row and row[0] else None

    def close(self) -> None:
        with self.lock:
            self._conn.close()
