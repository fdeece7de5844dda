"""One orchestration episode: build the context JSON, replay the orchestrator through the SDK, decide what next.

The engine mirrors what the Durable Functions extension does for an out-of-process (Python) orchestrator:

* history events carry ``EventType`` numbers, ``EventId``, ``IsPlayed`` and a ``Timestamp`` ending in ``Z``;
* the SDK answers with one cumulative, flat action list (replay schema V3); actions it has not issued before
  are scheduled with the next sequence numbers, in order (the SDK numbers its tasks the same way);
* retries follow the Durable Task retry interceptor: after every failed attempt — the last one included — a
  timer is created; when it fires the task is scheduled again or, attempts exhausted, fails;
* the SDK does no determinism check, so the engine compares the actions of a replay with the ones recorded in
  earlier episodes and fails the instance on a mismatch.

The engine is pure: an episode is :meth:`OrchestrationEngine.begin_episode` (the instance's state and new events
in, the orchestrator's context out), the replay (:meth:`OrchestrationEngine.replay` here, or
:func:`replay_orchestrator` in a worker process) and :meth:`OrchestrationEngine.finish_episode` (an
:class:`EpisodeOutcome`); the host persists the outcome in one transaction.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import uuid4

import azure.functions as func
from azure.functions.durable_functions import OrchestrationTriggerConverter
from azure.functions.meta import Datum

from .history import (
    ID_ACTIONS,
    ActionType,
    EventType,
    event,
    execution_started,
    format_timestamp,
    parse_timestamp,
)
from .retry import RetrySpec, RetryTimeoutExpiredError, next_retry_delay

OUT_OF_PROC_LABEL = "$OutOfProcData$:"
UPPER_SCHEMA_VERSION = 2  # ReplaySchema.V3

PENDING = "Pending"
RUNNING = "Running"
COMPLETED = "Completed"
FAILED = "Failed"
TERMINATED = "Terminated"
CONTINUED_AS_NEW = "ContinuedAsNew"
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, TERMINATED})

_COMPLETION_TYPES = {
    EventType.TASK_COMPLETED: "TaskScheduledId",
    EventType.TASK_FAILED: "TaskScheduledId",
    EventType.SUB_ORCHESTRATION_COMPLETED: "TaskScheduledId",
    EventType.SUB_ORCHESTRATION_FAILED: "TaskScheduledId",
    EventType.TIMER_FIRED: "TimerId",
}
_FAILURE_TYPES = (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED)

#: What replaying an orchestrator answers: the SDK's state JSON, or the error it failed with (or both).
ReplayAnswer = tuple[dict[str, Any] | None, str | None]


@dataclass
class EngineState:
    """What the host remembers about one execution between episodes (persisted as JSON)."""

    next_id: int = 0
    leaves: list[list[Any]] = field(default_factory=list)
    open_ids: set[int] = field(default_factory=set)
    retries: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry_timers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "next_id": self.next_id,
                "leaves": self.leaves,
                "open_ids": sorted(self.open_ids),
                "retries": self.retries,
                "retry_timers": self.retry_timers,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> EngineState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            next_id=int(data["next_id"]),
            leaves=list(data["leaves"]),
            open_ids=set(data["open_ids"]),
            retries=dict(data["retries"]),
            retry_timers=dict(data["retry_timers"]),
        )


@dataclass
class InstanceState:
    """An orchestration instance as the engine needs it."""

    instance_id: str
    name: str
    execution_id: str
    status: str
    input_json: str | None
    parent: dict[str, Any] | None
    engine: EngineState
    custom_status_json: str | None = None
    output_json: str | None = None


@dataclass(frozen=True)
class InboxMessage:
    """A new event waiting for the instance (``seq`` orders arrival; ``execution_id`` None targets any)."""

    seq: int
    execution_id: str | None
    event: dict[str, Any]


@dataclass(frozen=True)
class ActivityWork:
    task_id: int
    name: str
    input_json: str | None


@dataclass(frozen=True)
class SubOrchestrationStart:
    task_id: int
    name: str
    instance_id: str
    input_json: str | None


@dataclass
class EpisodeOutcome:
    """Everything an episode decided; the host commits it atomically."""

    consumed: list[int] = field(default_factory=list)
    appended: list[dict[str, Any]] = field(default_factory=list)
    status: str = RUNNING
    output_json: str | None = None
    custom_status_json: str | None = None
    activities: list[ActivityWork] = field(default_factory=list)
    timers: list[tuple[int, datetime]] = field(default_factory=list)
    sub_orchestrations: list[SubOrchestrationStart] = field(default_factory=list)
    parent_event: dict[str, Any] | None = None
    continue_as_new_input: str | None = None
    new_execution_id: str | None = None
    next_start_event: dict[str, Any] | None = None
    deferred: bool = False
    engine: EngineState = field(default_factory=EngineState)
    replayed_events: int = 0
    ran_orchestrator: bool = False
    error: str | None = None
    #: What woke the orchestrator this episode (:func:`trigger_of` of each new event), for the benchmark's breakdown.
    triggers: tuple[str, ...] = ()


@dataclass(frozen=True)
class EpisodeDraft:
    """An episode up to its replay: the context the orchestrator is called with, and what is decided after it."""

    instance: InstanceState
    outcome: EpisodeOutcome
    events: list[dict[str, Any]]
    now: datetime
    body: str


class NonDeterminismError(Exception):
    """The orchestrator's replay issued different actions than the recorded history."""


def _flatten(actions: list[dict[str, Any]], out: list[dict[str, Any]]) -> None:
    for action in actions:
        if action.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            _flatten(action.get("compoundActions") or [], out)
        else:
            out.append(action)


def _signature(action: dict[str, Any]) -> list[Any]:
    kind = int(action["actionType"])
    name = action.get("functionName") or action.get("externalEventName") or ""
    return [kind, name]


def _describe(signature: list[Any]) -> str:
    try:
        kind = ActionType(signature[0]).name.lower()
    except ValueError:
        kind = f"action type {signature[0]}"
    return f"{kind} {signature[1]!r}" if signature[1] else kind


class OrchestrationEngine:
    """Runs episodes of orchestrator functions through the Durable Functions SDK."""

    def __init__(self, resolve_orchestrator: Callable[[str], Callable[..., Any]], *, task_hub: str) -> None:
        self._resolve = resolve_orchestrator
        self.task_hub = task_hub

    # -- building the context ---------------------------------------------------------------------------

    @staticmethod
    def played(event_dict: dict[str, Any]) -> str:
        """The JSON of an event as later episodes replay it (``IsPlayed`` true)."""
        return json.dumps({**event_dict, "IsPlayed": True}, separators=(",", ":"))

    def context_json(self, instance: InstanceState, played: list[str], new_events: list[dict[str, Any]]) -> str:
        history = ",".join([*played, *(json.dumps(e, separators=(",", ":")) for e in new_events)])
        head = {
            "input": instance.input_json,
            "instanceId": instance.instance_id,
            "isReplaying": bool(played),
            "parentInstanceId": instance.parent["instance_id"] if instance.parent else None,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "upperSchemaVersionNew": UPPER_SCHEMA_VERSION,
        }
        return '{"history":[' + history + "]," + json.dumps(head)[1:]

    # -- the episode ------------------------------------------------------------------------------------

    def begin_episode(
        self, instance: InstanceState, played: list[str], inbox: list[InboxMessage], now: datetime
    ) -> EpisodeOutcome | EpisodeDraft:
        """Pick the episode's events and build the orchestrator's context; an outcome when no replay is needed."""
        engine = EngineState.from_json(instance.engine.to_json())
        outcome = EpisodeOutcome(engine=engine, status=instance.status)
        outcome.custom_status_json = instance.custom_status_json
        outcome.output_json = instance.output_json

        if instance.status in TERMINAL_STATUSES:
            outcome.consumed = [m.seq for m in inbox]
            return outcome

        terminate = next((m for m in inbox if m.event["EventType"] == EventType.EXECUTION_TERMINATED), None)
        if terminate is not None:
            return self._terminate(instance, inbox, terminate, now, outcome)

        events = self._select_events(instance, inbox, engine, outcome)
        if not events and played:
            return outcome  # only stale or duplicate messages: nothing to replay
        if not played and not any(e["EventType"] == EventType.EXECUTION_STARTED for e in events):
            outcome.consumed = []  # not started yet (an event ahead of the start): keep everything for later
            return outcome

        new_events = [event(EventType.ORCHESTRATOR_STARTED, now), *events]
        for item in events:
            key = (
                _COMPLETION_TYPES.get(EventType(item["EventType"])) if item["EventType"] in _COMPLETION_TYPES else None
            )
            if key is not None:
                engine.open_ids.discard(int(item[key]))

        outcome.ran_orchestrator = True
        outcome.replayed_events = len(played) + len(new_events)
        outcome.triggers = tuple(sorted({trigger_of(item) for item in events}))
        outcome.appended.extend(new_events)
        return EpisodeDraft(instance, outcome, events, now, self.context_json(instance, played, new_events))

    def replay(self, name: str, body: str) -> ReplayAnswer:
        """Call the orchestrator ``name`` with the context ``body`` in this process."""
        try:
            handle = self._resolve(name)
        except Exception as exc:
            return None, str(exc)
        return replay_orchestrator(handle, body)

    def finish_episode(  # noqa: PLR0911 - one decision table, read top to bottom
        self, draft: EpisodeDraft, state: dict[str, Any] | None, error: str | None
    ) -> EpisodeOutcome:
        """Decide from the orchestrator's answer (its state JSON, or the error it failed with)."""
        instance, outcome, events, now = draft.instance, draft.outcome, draft.events, draft.now
        engine = outcome.engine
        if state is not None:
            outcome.custom_status_json = (
                json.dumps(state["customStatus"]) if state.get("customStatus") is not None else None
            )
        if error is not None:
            return self._fail(instance, outcome, now, f"Orchestrator function '{instance.name}' failed: {error}")

        assert state is not None
        leaves: list[dict[str, Any]] = []
        for group in state.get("actions") or []:
            _flatten(group, leaves)
        try:
            new_leaves = self._check_determinism(engine, leaves)
        except NonDeterminismError as exc:
            return self._fail(instance, outcome, now, str(exc))

        if state.get("isDone"):
            continue_action = next((a for a in leaves if a.get("actionType") == ActionType.CONTINUE_AS_NEW), None)
            if continue_action is not None:
                return self._continue_as_new(instance, outcome, now, continue_action)
            outcome.status = COMPLETED
            outcome.output_json = json.dumps(state.get("output"))
            outcome.appended.append(
                event(EventType.EXECUTION_COMPLETED, now, OrchestrationStatus=COMPLETED, Result=outcome.output_json)
            )
            outcome.appended.append(event(EventType.ORCHESTRATOR_COMPLETED, now))
            if instance.parent:
                outcome.parent_event = event(
                    EventType.SUB_ORCHESTRATION_COMPLETED,
                    now,
                    TaskScheduledId=instance.parent["task_id"],
                    Result=outcome.output_json,
                )
            return outcome

        outcome.status = RUNNING
        try:
            self._schedule_retries(instance, events, engine, outcome, now)
        except RetryTimeoutExpiredError as exc:
            # DTFx fails the task without a timer; the Python SDK (RetryAbleTask) waits for one after every
            # failure, so in Azure this orchestration would wait forever. Fail it here, saying why.
            return self._fail(
                instance,
                outcome,
                now,
                f"Orchestrator function '{instance.name}' failed: {exc}; the Durable Task Framework creates no "
                "retry timer then, and the Python SDK waits for one (the orchestration would hang in Azure)",
            )
        try:
            self._schedule_new(instance, new_leaves, engine, outcome, now)
        except NonDeterminismError as exc:
            return self._fail(instance, outcome, now, str(exc))
        outcome.appended.append(event(EventType.ORCHESTRATOR_COMPLETED, now))
        return outcome

    # -- pieces -----------------------------------------------------------------------------------------

    def _select_events(
        self, instance: InstanceState, inbox: list[InboxMessage], engine: EngineState, outcome: EpisodeOutcome
    ) -> list[dict[str, Any]]:
        """Pick this episode's events, in an order whose sequence numbers the host can predict.

        Retry bookkeeping (a failed attempt creating its timer, a retry timer re-scheduling the attempt) takes
        sequence numbers inside the SDK while it replays; running those events first, and at most one retry
        that gives up (which resumes the orchestrator) last among them, keeps every number the SDK takes in
        this episode in the host's order: retry numbers first, then the new actions.
        """
        started: list[dict[str, Any]] = []
        retry_events: list[dict[str, Any]] = []
        exhausting: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        seen_completions: set[tuple[int, int]] = set()
        for message in inbox:
            item = message.event
            kind = int(item["EventType"])
            if message.execution_id is not None and message.execution_id != instance.execution_id:
                outcome.consumed.append(message.seq)  # for an earlier execution (continue-as-new, restart)
                continue
            if kind == EventType.EXECUTION_STARTED:
                started.append(item)
                outcome.consumed.append(message.seq)
                continue
            if kind in _COMPLETION_TYPES:
                task_id = int(item[_COMPLETION_TYPES[EventType(kind)]])
                key = (0 if kind == EventType.TIMER_FIRED else 1, task_id)
                if task_id not in engine.open_ids or key in seen_completions:
                    outcome.consumed.append(message.seq)  # duplicate or stale completion (at-least-once)
                    continue
                seen_completions.add(key)
                if kind in _FAILURE_TYPES and str(task_id) in engine.retries:
                    retry_events.append(item)
                elif kind == EventType.TIMER_FIRED and str(task_id) in engine.retry_timers:
                    retry = engine.retries[engine.retry_timers[str(task_id)]]
                    if retry["attempts"] >= retry["max"]:
                        if exhausting:
                            seen_completions.discard(key)
                            outcome.deferred = True
                            continue  # one giving-up retry per episode; this one waits in the inbox
                        exhausting.append(item)
                    else:
                        retry_events.append(item)
                else:
                    others.append(item)
                outcome.consumed.append(message.seq)
                continue
            others.append(item)
            outcome.consumed.append(message.seq)
        return [*started, *retry_events, *exhausting, *others]

    @staticmethod
    def _check_determinism(engine: EngineState, leaves: list[dict[str, Any]]) -> list[dict[str, Any]]:
        recorded = engine.leaves
        for position, (old, action) in enumerate(zip(recorded, leaves, strict=False)):
            new = _signature(action)
            if new != old:
                raise NonDeterminismError(
                    "Non-deterministic workflow detected: a previous execution of this orchestration issued "
                    f"{_describe(old)} as action #{position}, but the replay issued {_describe(new)}. "
                    "Orchestrator code must issue the same actions in the same order on every replay."
                )
        if len(leaves) < len(recorded):
            missing = recorded[len(leaves)]
            raise NonDeterminismError(
                "Non-deterministic workflow detected: a previous execution of this orchestration issued "
                f"{_describe(missing)} as action #{len(leaves)}, but the replay did not issue it."
            )
        return leaves[len(recorded) :]

    def _schedule_retries(
        self,
        instance: InstanceState,
        events: list[dict[str, Any]],
        engine: EngineState,
        outcome: EpisodeOutcome,
        now: datetime,
    ) -> None:
        for item in events:
            kind = int(item["EventType"])
            if kind in _FAILURE_TYPES and str(item["TaskScheduledId"]) in engine.retries:
                attempt_key = str(item["TaskScheduledId"])
                retry = engine.retries[attempt_key]
                delay = next_retry_delay(_retry_spec(retry), retry["attempts"], _first_attempt(retry, now), now)
                timer_id = engine.next_id
                engine.next_id += 1
                fire_at = now + delay
                outcome.appended.append(event(EventType.TIMER_CREATED, now, timer_id, FireAt=format_timestamp(fire_at)))
                outcome.timers.append((timer_id, fire_at))
                engine.open_ids.add(timer_id)
                engine.retry_timers[str(timer_id)] = attempt_key
            elif kind == EventType.TIMER_FIRED and str(item["TimerId"]) in engine.retry_timers:
                attempt_key = engine.retry_timers.pop(str(item["TimerId"]))
                retry = engine.retries.pop(attempt_key)
                if retry["attempts"] >= retry["max"]:
                    continue  # gave up: the SDK fails the task
                retry["attempts"] += 1
                task_id = engine.next_id
                engine.next_id += 1
                self._schedule_one(instance, retry["action"], task_id, outcome, now)
                engine.open_ids.add(task_id)
                engine.retries[str(task_id)] = retry
            elif kind in _COMPLETION_TYPES and kind not in _FAILURE_TYPES and kind != EventType.TIMER_FIRED:
                engine.retries.pop(str(item["TaskScheduledId"]), None)

    def _schedule_new(
        self,
        instance: InstanceState,
        new_leaves: list[dict[str, Any]],
        engine: EngineState,
        outcome: EpisodeOutcome,
        now: datetime,
    ) -> None:
        for action in new_leaves:
            kind = int(action["actionType"])
            engine.leaves.append(_signature(action))
            if kind not in ID_ACTIONS:
                if kind in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY, ActionType.CALL_HTTP):
                    raise NonDeterminismError(
                        f"{ActionType(kind).name.lower()} is not supported by the local host "
                        "(entities and durable HTTP are not used by this product)"
                    )
                continue  # external events take no sequence number; the SDK matches them by name
            task_id = engine.next_id
            engine.next_id += 1
            engine.open_ids.add(task_id)
            self._schedule_one(instance, action, task_id, outcome, now)
            if kind in (ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
                options = action.get("retryOptions") or {}
                engine.retries[str(task_id)] = {
                    "action": action,
                    "attempts": 1,
                    "max": RetrySpec.from_options(options).max_attempts,
                    "first_attempt": format_timestamp(now),
                }

    @staticmethod
    def _schedule_one(
        instance: InstanceState, action: dict[str, Any], task_id: int, outcome: EpisodeOutcome, now: datetime
    ) -> None:
        kind = int(action["actionType"])
        if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            name = str(action["functionName"])
            outcome.appended.append(
                event(EventType.TASK_SCHEDULED, now, task_id, Name=name, Version="", Input=action.get("input"))
            )
            outcome.activities.append(ActivityWork(task_id, name, action.get("input")))
        elif kind in (ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            name = str(action["functionName"])
            child_id = action.get("instanceId") or f"{instance.instance_id}:{task_id:04d}"
            outcome.appended.append(
                event(
                    EventType.SUB_ORCHESTRATION_CREATED,
                    now,
                    task_id,
                    Name=name,
                    Version="",
                    InstanceId=child_id,
                    Input=action.get("input"),
                )
            )
            outcome.sub_orchestrations.append(SubOrchestrationStart(task_id, name, child_id, action.get("input")))
        elif kind == ActionType.CREATE_TIMER:
            fire_at = parse_timestamp(str(action["fireAt"]))
            outcome.appended.append(event(EventType.TIMER_CREATED, now, task_id, FireAt=format_timestamp(fire_at)))
            outcome.timers.append((task_id, fire_at))

    def _fail(self, instance: InstanceState, outcome: EpisodeOutcome, now: datetime, error: str) -> EpisodeOutcome:
        outcome.status = FAILED
        outcome.error = error
        outcome.output_json = json.dumps(error)
        outcome.activities.clear()
        outcome.timers.clear()
        outcome.sub_orchestrations.clear()
        outcome.appended.append(
            event(EventType.EXECUTION_COMPLETED, now, OrchestrationStatus=FAILED, Result=outcome.output_json)
        )
        outcome.appended.append(event(EventType.ORCHESTRATOR_COMPLETED, now))
        if instance.parent:
            outcome.parent_event = event(
                EventType.SUB_ORCHESTRATION_FAILED,
                now,
                TaskScheduledId=instance.parent["task_id"],
                Reason=error,
                Details=f"sub-orchestration {instance.instance_id} ({instance.name})",
            )
        return outcome

    def _terminate(
        self,
        instance: InstanceState,
        inbox: list[InboxMessage],
        terminate: InboxMessage,
        now: datetime,
        outcome: EpisodeOutcome,
    ) -> EpisodeOutcome:
        reason = terminate.event.get("Input")
        outcome.consumed = [m.seq for m in inbox]
        outcome.status = TERMINATED
        outcome.output_json = json.dumps(reason)
        outcome.appended.extend(
            [
                event(EventType.ORCHESTRATOR_STARTED, now),
                event(EventType.EXECUTION_TERMINATED, now, Input=reason),
                event(EventType.ORCHESTRATOR_COMPLETED, now),
            ]
        )
        if instance.parent:
            outcome.parent_event = event(
                EventType.SUB_ORCHESTRATION_FAILED,
                now,
                TaskScheduledId=instance.parent["task_id"],
                Reason=f"Sub-orchestration {instance.instance_id} was terminated: {reason}",
                Details="",
            )
        return outcome

    def _continue_as_new(
        self, instance: InstanceState, outcome: EpisodeOutcome, now: datetime, action: dict[str, Any]
    ) -> EpisodeOutcome:
        outcome.status = CONTINUED_AS_NEW
        outcome.continue_as_new_input = action.get("input")
        outcome.new_execution_id = uuid4().hex
        outcome.engine = EngineState()
        outcome.activities.clear()
        outcome.timers.clear()
        outcome.sub_orchestrations.clear()
        outcome.appended = []
        outcome.next_start_event = execution_started(
            now,
            name=instance.name,
            input_json=outcome.continue_as_new_input,
            instance_id=instance.instance_id,
            execution_id=outcome.new_execution_id,
            parent=instance.parent,
        )
        return outcome


def replay_orchestrator(handle: Callable[..., Any], body: str) -> ReplayAnswer:
    """Replay one orchestrator function on its context ``body`` as the Python worker calls it: its state JSON (the
    SDK's answer), or the error it failed with (with the state the SDK attached, if any)."""
    context = OrchestrationTriggerConverter.decode(Datum(body, "json"), trigger_metadata=None)
    try:
        result = handle(context)
    except Exception as exc:
        message = str(exc)
        label_at = message.find(OUT_OF_PROC_LABEL)
        if label_at < 0:
            return None, f"{type(exc).__name__}: {message}\n{traceback.format_exc(limit=5)}"
        state = json.loads(message[label_at + len(OUT_OF_PROC_LABEL) :])
        error = state.get("error") or message[:label_at].strip()
        return state, str(error)
    if not isinstance(result, str):
        return None, f"orchestrator returned {type(result).__name__}, expected the SDK's JSON state string"
    return json.loads(result), None


def trigger_of(history_event: dict[str, Any]) -> str:
    """A new event as the reason for an episode: its type, with the name of a raised event
    (``timer_fired``, ``event_raised:job_completed``)."""
    kind = EventType(int(history_event["EventType"])).name.lower()
    if history_event["EventType"] == EventType.EVENT_RAISED:
        return f"{kind}:{history_event.get('Name', '')}"
    return kind


def orchestration_context(body: str) -> func.OrchestrationContext:
    """The trigger value the worker passes to an orchestrator function."""
    return func.OrchestrationContext(body)


def install_timestamp_cache(maxsize: int = 262_144) -> None:
    """Memoise the SDK's timestamp parsing (same results, parsed once per distinct string).

    The SDK builds every history event with ``dateutil.parser.parse``, which dominates replay time; a replay
    re-parses the same timestamps every episode, so caching the original function's results changes nothing
    the orchestrator sees (datetimes are immutable) and makes long histories several times cheaper.
    """
    module: Any = sys.modules.get("azure.durable_functions.models.history.HistoryEvent")
    if module is None:
        importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
        module = sys.modules["azure.durable_functions.models.history.HistoryEvent"]
    original = module.dt_parse
    if getattr(original, "cache_info", None) is not None:
        return
    module.dt_parse = functools.lru_cache(maxsize=maxsize)(original)


def _retry_spec(retry: dict[str, Any]) -> RetrySpec:
    return RetrySpec.from_options(retry["action"].get("retryOptions") or {})


def _first_attempt(retry: dict[str, Any], now: datetime) -> datetime:
    """When the retried task was first issued (state written before this field existed counts from now)."""
    first = retry.get("first_attempt")
    return parse_timestamp(first) if first else now
