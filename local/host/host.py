"""The local Durable Functions host: runs an unchanged ``function_app.py`` with a virtual or wall clock."""

from __future__ import annotations

import json
import queue as stdlib_queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from local.clock import Clock, VirtualClock
from local.process_usage import EnvironmentUsage

from .activities import ActivityDispatch
from .client_api import ClientApiError, ClientApiServer
from .engine import (
    CONTINUED_AS_NEW,
    TERMINAL_STATUSES,
    EngineState,
    EpisodeDraft,
    EpisodeOutcome,
    InboxMessage,
    InstanceState,
    OrchestrationEngine,
    ReplayAnswer,
    install_timestamp_cache,
)
from .history import EventType, event, format_timestamp, parse_timestamp
from .index import ORCHESTRATION, SERVICE_BUS, TIMER, FunctionIndex, load_function_index
from .loop import run_on_loop
from .ncrontab import CronSchedule
from .operations import ClientOperations
from .queue import EmbeddedQueue, QueueOptions
from .status import HostStats, InstanceChange, Pending, WorkItem, loads_or_none
from .store import Store
from .triggers import TriggerDispatch, app_setting
from .workers import OrchestratorWorkers

DEFAULT_TASK_HUB = "LocalTaskHub"
#: Ready instances per worker process in one batch of episodes.
EPISODES_PER_WORKER = 8


class LocalHost(ClientOperations, ActivityDispatch, TriggerDispatch):
    """Runs a Durable Functions app: orchestrations, activities, Service Bus, timer and HTTP triggers.

    Use :meth:`open` as a context manager. All state lives in ``state_dir`` (SQLite); a host killed at any
    point and reopened on the same directory finishes its work (activities are at-least-once).
    """

    def __init__(
        self,
        app_path: str | Path,
        state_dir: str | Path,
        *,
        clock: Clock | None = None,
        activity_workers: int = 4,
        task_hub: str = DEFAULT_TASK_HUB,
        queues: dict[str, QueueOptions] | None = None,
        worker_processes: int = 1,
    ) -> None:
        if activity_workers < 1:
            raise ValueError("activity_workers must be at least 1")
        if worker_processes < 1:
            raise ValueError("worker_processes must be at least 1")
        self.clock: Clock = clock or VirtualClock()
        self.index: FunctionIndex = load_function_index(app_path)
        self.task_hub = task_hub
        self.stats = HostStats()
        self._store = Store(state_dir)
        self.queue = EmbeddedQueue(self._store, self.clock, queues)
        for function in self.index.of_type(SERVICE_BUS):
            self.queue.declare(app_setting(str(function.trigger["queueName"])))
        install_timestamp_cache()
        self._engine = OrchestrationEngine(self._resolve_orchestrator, task_hub=task_hub)
        #: ``worker_processes`` as FUNCTIONS_WORKER_PROCESS_COUNT: more than one replays orchestrators in that many
        #: processes, a batch of ready instances at a time; one replays them here, one instance at a time.
        self._workers = (
            OrchestratorWorkers(app_path, worker_processes, fallback=self._engine.replay)
            if worker_processes > 1
            else None
        )
        self._batch_size = EPISODES_PER_WORKER * worker_processes if worker_processes > 1 else 1
        self._lock = self._store.lock
        self._stats_lock = threading.Lock()  # activity threads add their times
        self._ready: dict[str, None] = {}
        self._histories: dict[str, list[str]] = {}
        self._work: deque[WorkItem] = deque()
        self._in_flight = 0
        self._results: stdlib_queue.Queue[tuple[WorkItem, bool, str, str]] = stdlib_queue.Queue()
        self._pool = ThreadPoolExecutor(max_workers=activity_workers, thread_name_prefix="activity")
        self._listeners: list[Callable[[InstanceChange], None]] = []
        self._cron: dict[str, CronSchedule] = {
            f.name: CronSchedule.parse(app_setting(str(f.trigger["schedule"]))) for f in self.index.of_type(TIMER)
        }
        self._server = ClientApiServer(self)
        self._client_json: str | None = None
        self._closed = False
        self._recover()

    # -- lifecycle ------------------------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def open(
        cls,
        app_path: str | Path,
        state_dir: str | Path,
        *,
        clock: Clock | None = None,
        activity_workers: int = 4,
        task_hub: str = DEFAULT_TASK_HUB,
        queues: dict[str, QueueOptions] | None = None,
        worker_processes: int = 1,
    ) -> Iterator[LocalHost]:
        """Open a host on ``state_dir``, serve the client API on 127.0.0.1, and stop everything on exit."""
        host = cls(
            app_path,
            state_dir,
            clock=clock,
            activity_workers=activity_workers,
            task_hub=task_hub,
            queues=queues,
            worker_processes=worker_processes,
        )
        host.start_server()
        try:
            yield host
        finally:
            host.close()

    def start_server(self) -> None:
        run_on_loop(self._server.start(), timeout=30)
        base = self._server.base_url
        self._client_json = json.dumps(
            {
                "taskHubName": self.task_hub,
                "creationUrls": {
                    "createNewInstancePostUri": base + "orchestrators/{functionName}[/{instanceId}]",
                    "createAndWaitOnNewInstancePostUri": base
                    + "orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}",
                },
                "managementUrls": self.management_urls("INSTANCEID"),
                "baseUrl": base,
                "requiredQueryStringParameters": "",
                "rpcBaseUrl": base,
                "httpBaseUrl": base,
                "maxGrpcMessageSizeInBytes": 0,
                "grpcHttpClientTimeout": "00:01:40",
            }
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._workers is not None:
            self._workers.close()
        if self._client_json is not None:
            run_on_loop(self._server.stop(), timeout=30)
        self._store.close()

    def __enter__(self) -> LocalHost:
        if self._client_json is None:
            self.start_server()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client_binding_json(self) -> str:
        """The durable client binding JSON passed to functions that declare a durable client."""
        if self._client_json is None:
            raise RuntimeError("the client API server is not running; use LocalHost.open(...)")
        return self._client_json

    @property
    def rpc_base_url(self) -> str:
        return self._server.base_url

    def management_urls(self, instance_id: str) -> dict[str, str]:
        base = self._server.base_url + f"instances/{instance_id}"
        query = f"?taskHub={self.task_hub}&connection=Storage"
        return {
            "id": instance_id,
            "statusQueryGetUri": base + query,
            "sendEventPostUri": base + "/raiseEvent/{eventName}" + query,
            "terminatePostUri": base + "/terminate?reason={text}&" + query[1:],
            "purgeHistoryDeleteUri": base + query,
            "rewindPostUri": base + "/rewind?reason={text}&" + query[1:],
            "restartPostUri": base + "/restart" + query,
            "suspendPostUri": base + "/suspend?reason={text}&" + query[1:],
            "resumePostUri": base + "/resume?reason={text}&" + query[1:],
        }

    def worker_usage(self) -> list[EnvironmentUsage]:
        """The orchestrator worker processes' own CPU and peak RSS (none when replays run in this process)."""
        return self._workers.usage() if self._workers is not None else []

    def add_listener(self, listener: Callable[[InstanceChange], None]) -> None:
        """Call ``listener`` after every change of an instance's runtime status or custom status."""
        self._listeners.append(listener)

    def _recover(self) -> None:
        latest = self._store.latest_time()
        if latest is not None and isinstance(self.clock, VirtualClock):
            # A reopened state directory continues its own timeline: never stamp new work before stored work.
            self.clock.advance_to(parse_timestamp(latest))
        self.queue.release_locks()
        with self._store.reading() as db:
            for (instance_id,) in db.execute("SELECT DISTINCT instance_id FROM inbox ORDER BY seq"):
                self._ready[instance_id] = None
            for row in db.execute(
                "SELECT work_id, instance_id, execution_id, task_id, name, input_json FROM work ORDER BY work_id"
            ):
                self._work.append(WorkItem(*row))

    # -- running --------------------------------------------------------------------------------------------

    def advance(self, delta: timedelta) -> datetime:
        """Move a virtual clock forward (due timers fire on the next run)."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance() needs a VirtualClock; the wall clock moves by itself")
        return self.clock.advance(delta)

    def run_until_idle(
        self,
        max_episodes: int | None = None,
        *,
        advance_clock: bool = True,
        horizon: timedelta | None = None,
        wall_timeout: float | None = None,
    ) -> int:
        """Run episodes, activities, due timers, queue deliveries and timer triggers until nothing is runnable.

        With a virtual clock and ``advance_clock``, time jumps to the next durable timer or scheduled message
        (stopping at timer-trigger occurrences on the way) when nothing else can run; ``horizon`` bounds how
        far. With the wall clock the host waits for the next timer, at most ``wall_timeout`` seconds overall.
        Returns the number of episodes run; stops early after ``max_episodes``.
        """
        episodes = 0
        start = self.clock.now()
        deadline = start + horizon if horizon is not None else None
        wall_started = datetime.now().timestamp()
        self._init_cron()
        while True:
            progressed = self._drain_results(block=False)
            self._dispatch_work()
            progressed |= self._fire_due_timers()
            ready = list(self._ready)
            for first in range(0, len(ready), self._batch_size):
                if max_episodes is not None and episodes >= max_episodes:
                    return episodes
                batch = ready[first : first + self._batch_size]
                episodes += self._run_episodes(batch if max_episodes is None else batch[: max_episodes - episodes])
                progressed = True
                self._drain_results(block=False)
                self._dispatch_work()
            progressed |= self._deliver_messages()
            progressed |= self._fire_cron()
            if progressed or self._ready:
                continue
            if self._in_flight:
                self._drain_results(block=True)
                continue
            if not advance_clock:
                return episodes
            due = self._next_due(deadline)
            if due is None:
                return episodes
            if isinstance(self.clock, VirtualClock):
                self.clock.advance_to(due)
                self.stats.clock_jumps += 1
            else:
                remaining = None
                if wall_timeout is not None:
                    remaining = wall_timeout - (datetime.now().timestamp() - wall_started)
                    if remaining <= 0:
                        return episodes
                wait = max(0.0, (due - self.clock.now()).total_seconds())
                self.clock.sleep(min(wait, remaining) if remaining is not None else wait)

    def _next_due(self, deadline: datetime | None) -> datetime | None:
        with self._store.reading() as db:
            row = db.execute("SELECT MIN(fire_at) FROM timers").fetchone()
        candidates = [parse_timestamp(row[0])] if row and row[0] else []
        queues = [app_setting(str(f.trigger["queueName"])) for f in self.index.of_type(SERVICE_BUS)]
        visible = self.queue.next_visible_time(queues, self.clock.now())
        if visible is not None:
            candidates.append(visible)
        if not candidates:
            return None
        due = min(candidates)
        cron_due = self._next_cron_due()
        if cron_due is not None and cron_due < due:
            due = cron_due
        if deadline is not None and due > deadline:
            return None
        return due

    # -- episodes -------------------------------------------------------------------------------------------

    def _resolve_orchestrator(self, name: str) -> Callable[..., Any]:
        return self.index.get(ORCHESTRATION, name).callable

    def _played_history(self, db: Any, instance_id: str) -> list[str]:
        cached = self._histories.get(instance_id)
        if cached is None:
            cached = [
                OrchestrationEngine.played(json.loads(r[0]))
                for r in db.execute("SELECT event_json FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,))
            ]
            self._histories[instance_id] = cached
        return cached

    def _run_episodes(self, batch: list[str]) -> int:
        """Run one episode of each instance in ``batch`` in one transaction; returns how many ran an orchestrator.

        Each episode begins (events picked, context built) in order; the replays run in the orchestrator workers
        side by side, or here without them; then each is decided and committed in order. The store's lock is held
        throughout, so nothing else writes in between; an event one episode of the batch sends to another instance
        of the batch waits in that instance's inbox for its next episode, as a message arriving during an episode
        does in Azure.
        """
        pending = Pending()
        ran = 0
        with self._store.transaction() as db:
            now = self.clock.now()
            begun: list[tuple[InstanceState, int, EpisodeDraft | EpisodeOutcome]] = []
            cpu = time.thread_time()
            for instance_id in batch:
                self._ready.pop(instance_id, None)
                loaded = self._load_instance(db, instance_id)
                if loaded is None:
                    db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
                    continue
                instance, history_len, inbox = loaded
                played = self._played_history(db, instance_id)
                begun.append((instance, history_len, self._engine.begin_episode(instance, played, inbox, now)))
            answers = iter(self._replay([draft for _, _, draft in begun if isinstance(draft, EpisodeDraft)]))
            for instance, history_len, draft in begun:
                outcome = (
                    draft if isinstance(draft, EpisodeOutcome) else self._engine.finish_episode(draft, *next(answers))
                )
                if outcome.ran_orchestrator:
                    ran += 1
                    self._count_episode(instance, outcome)
                self._commit_episode(db, pending, instance, history_len, outcome, now)
                if outcome.deferred:
                    pending.ready.add(instance.instance_id)
            self.stats.episode_cpu_seconds += time.thread_time() - cpu
        self._apply(pending)
        return ran

    def _replay(self, drafts: list[EpisodeDraft]) -> list[ReplayAnswer]:
        jobs = [(draft.instance.name, draft.body) for draft in drafts]
        if self._workers is not None and len(jobs) > 1:
            self.stats.worker_replays += len(jobs)
            return self._workers.replay_all(jobs)
        return [self._engine.replay(name, body) for name, body in jobs]

    def _load_instance(self, db: Any, instance_id: str) -> tuple[InstanceState, int, list[InboxMessage]] | None:
        """The instance as the engine needs it, its history length and its inbox; None if it is gone."""
        row = db.execute(
            "SELECT name, execution_id, status, input_json, parent_json, engine_json, custom_status_json, "
            "output_json, history_len FROM instances WHERE instance_id = ?",
            (instance_id,),
        ).fetchone()
        if row is None:
            return None
        inbox_rows = db.execute(
            "SELECT seq, execution_id, event_json FROM inbox WHERE instance_id = ? ORDER BY seq", (instance_id,)
        ).fetchall()
        instance = InstanceState(
            instance_id=instance_id,
            name=row[0],
            execution_id=row[1],
            status=row[2],
            input_json=row[3],
            parent=loads_or_none(row[4]),
            engine=EngineState.from_json(row[5]),
            custom_status_json=row[6],
            output_json=row[7],
        )
        inbox = [InboxMessage(seq, execution, json.loads(text)) for seq, execution, text in inbox_rows]
        return instance, int(row[8]), inbox

    def _count_episode(self, instance: InstanceState, outcome: EpisodeOutcome) -> None:
        self.stats.episodes += 1
        self.stats.events_replayed += outcome.replayed_events
        self.stats.longest_replay = max(self.stats.longest_replay, outcome.replayed_events)
        self.stats.episodes_by_trigger[f"{instance.name}: {'+'.join(outcome.triggers)}"] += 1

    def _commit_episode(
        self,
        db: Any,
        pending: Pending,
        instance: InstanceState,
        history_len: int,
        outcome: EpisodeOutcome,
        now: datetime,
    ) -> None:
        instance_id = instance.instance_id
        if outcome.consumed:
            db.executemany("DELETE FROM inbox WHERE seq = ?", [(seq,) for seq in outcome.consumed])
        previous_status, previous_custom = instance.status, instance.custom_status_json
        if outcome.next_start_event is not None:
            db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
            db.execute("DELETE FROM timers WHERE instance_id = ?", (instance_id,))
            db.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))
            db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
            db.execute(
                "UPDATE instances SET execution_id = ?, status = ?, input_json = ?, output_json = NULL, "
                "custom_status_json = ?, updated_at = ?, engine_json = ?, history_len = 0 WHERE instance_id = ?",
                (
                    outcome.new_execution_id,
                    CONTINUED_AS_NEW,
                    outcome.continue_as_new_input,
                    outcome.custom_status_json,
                    format_timestamp(now),
                    EngineState().to_json(),
                    instance_id,
                ),
            )
            self._histories[instance_id] = []
            self._enqueue(db, pending, instance_id, outcome.new_execution_id, outcome.next_start_event)
            self._note_change(
                pending, instance, CONTINUED_AS_NEW, outcome.custom_status_json, previous_status, previous_custom, now
            )
            return
        if outcome.appended:
            db.executemany(
                "INSERT INTO history (instance_id, seq, event_json) VALUES (?, ?, ?)",
                [
                    (instance_id, history_len + i, json.dumps(e, separators=(",", ":")))
                    for i, e in enumerate(outcome.appended)
                ],
            )
            cache = self._histories.setdefault(instance_id, [])
            cache.extend(OrchestrationEngine.played(e) for e in outcome.appended)
        db.execute(
            "UPDATE instances SET status = ?, output_json = ?, custom_status_json = ?, updated_at = ?, "
            "engine_json = ?, history_len = ? WHERE instance_id = ?",
            (
                outcome.status,
                outcome.output_json,
                outcome.custom_status_json,
                format_timestamp(now),
                outcome.engine.to_json(),
                history_len + len(outcome.appended),
                instance_id,
            ),
        )
        for activity in outcome.activities:
            cursor = db.execute(
                "INSERT INTO work (instance_id, execution_id, task_id, name, input_json) VALUES (?, ?, ?, ?, ?)",
                (instance_id, instance.execution_id, activity.task_id, activity.name, activity.input_json),
            )
            pending.work.append(
                WorkItem(
                    int(cursor.lastrowid or 0),
                    instance_id,
                    instance.execution_id,
                    activity.task_id,
                    activity.name,
                    activity.input_json,
                )
            )
        if outcome.timers:
            db.executemany(
                "INSERT OR REPLACE INTO timers (instance_id, execution_id, timer_id, fire_at) VALUES (?, ?, ?, ?)",
                [(instance_id, instance.execution_id, t, format_timestamp(at)) for t, at in outcome.timers],
            )
        for sub in outcome.sub_orchestrations:
            parent = {
                "instance_id": instance_id,
                "execution_id": instance.execution_id,
                "task_id": sub.task_id,
                "name": instance.name,
            }
            try:
                if self.index.find(ORCHESTRATION, sub.name) is None:
                    raise ClientApiError(400, f"no orchestrator function named {sub.name!r}")
                self._create_instance(db, pending, sub.name, sub.instance_id, sub.input_json, parent=parent)
            except ClientApiError as exc:
                self._enqueue(
                    db,
                    pending,
                    instance_id,
                    instance.execution_id,
                    event(
                        EventType.SUB_ORCHESTRATION_FAILED,
                        now,
                        TaskScheduledId=sub.task_id,
                        Reason=exc.message,
                        Details="",
                    ),
                )
        if outcome.parent_event is not None and instance.parent:
            self._enqueue(
                db, pending, instance.parent["instance_id"], instance.parent["execution_id"], outcome.parent_event
            )
        if outcome.status in TERMINAL_STATUSES:
            db.execute("DELETE FROM timers WHERE instance_id = ?", (instance_id,))
            db.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))
            self._histories.pop(instance_id, None)
        self._note_change(
            pending, instance, outcome.status, outcome.custom_status_json, previous_status, previous_custom, now
        )

    def _note_change(
        self,
        pending: Pending,
        instance: InstanceState,
        status: str,
        custom_json: str | None,
        previous_status: str,
        previous_custom: str | None,
        now: datetime,
    ) -> None:
        if status != previous_status or custom_json != previous_custom:
            pending.changes.append(
                InstanceChange(
                    instance.instance_id,
                    instance.name,
                    status,
                    loads_or_none(custom_json),
                    previous_status,
                    loads_or_none(previous_custom),
                    now,
                )
            )

    # -- timers ---------------------------------------------------------------------------------------------

    def _fire_due_timers(self) -> bool:
        now = format_timestamp(self.clock.now())
        pending = Pending()
        with self._store.transaction() as db:
            due = db.execute(
                "SELECT instance_id, execution_id, timer_id, fire_at FROM timers WHERE fire_at <= ? "
                "ORDER BY fire_at, instance_id, timer_id",
                (now,),
            ).fetchall()
            for instance_id, execution_id, timer_id, fire_at in due:
                db.execute(
                    "DELETE FROM timers WHERE instance_id = ? AND execution_id = ? AND timer_id = ?",
                    (instance_id, execution_id, timer_id),
                )
                self._enqueue(
                    db,
                    pending,
                    instance_id,
                    execution_id,
                    event(EventType.TIMER_FIRED, parse_timestamp(fire_at), TimerId=timer_id, FireAt=fire_at),
                )
        self._apply(pending)
        return bool(due)
