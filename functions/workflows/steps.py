"""The building blocks every orchestration step uses: state moves, activity calls, durable waits and polls.

Activities answer ``{"value": ...}``, ``{"error": {...}}`` (permanent, a broken contract or a bug: the step fails
at once with its cause) or ``{"transient": {...}}`` (see ``functions/activities/_step.py``). Only transient answers
are retried, by the orchestrator with the call's named policy (:mod:`functions.workflows.retrying`), and each retry
publishes ``step.retried`` with the attempt number and the cause. Lifecycle events go to the orchestration's
outbox (:mod:`functions.workflows.outbox`): they ride with the next activity call, or are published before a wait
that would hold them back too long, so a topic outage delays events and never fails a step.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from functions import retry
from functions.workflows.outbox import Outbox
from functions.workflows.retrying import activity_name, call_with_retry, describe
from shared.errors import error_from_dict
from shared.lifecycle import StepError, VmProgress, VmState
from shared.pipeline import CANCEL_EVENT, LOOK_EVENT, EventType, MigrationEvent
from shared.watch import WaitingFor, look_taken

#: What :meth:`Steps.await_change`'s ``accept`` answers for an event that is about the wait but is to be confirmed by
#: a read (the read's answer is the result).
CHECK = object()

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
Flow = Generator[Any, Any, Any]


class StepFailed(Exception):  # noqa: N818 - control flow inside the orchestrator, not an error type of the domain
    """Ends the lifecycle at the current step with a recorded cause."""

    def __init__(self, error: StepError) -> None:
        super().__init__(error.message)
        self.error = error


class Cancelled(Exception):  # noqa: N818 - control flow
    """The operator cancelled the migration (``rollback``: asked explicitly to undo an accepted failover)."""

    def __init__(self, by: str, rollback: bool = False) -> None:
        super().__init__(by)
        self.by = by
        self.rollback = rollback


class Steps:
    """Shared machinery of a VM orchestration: progress record, events, calls and waits."""

    def __init__(self, context: Any, request_id: str, progress: VmProgress) -> None:
        self.context = context
        self.request_id = request_id
        self.orchestration_id: str = context.instance_id
        self.progress = progress
        self.outbox = Outbox(context)
        self.event_seq = 0
        self.cancel_task = context.wait_for_external_event(CANCEL_EVENT)
        self.cancellable = True  # rolling back ignores a cancel: the rollback itself must finish
        self.backoff = 2.0
        self._publish_status()

    # --- time and progress ------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        now: datetime = self.context.current_utc_datetime
        return now

    @property
    def state(self) -> VmState:
        return self.progress.state

    def move(self, target: VmState, detail: str = "") -> None:
        previous = self.progress.state
        self.progress = self.progress.advance(target, self.now, detail)
        self.announce(previous)

    def note(self, detail: str) -> None:
        self.progress = self.progress.note(detail, self.now)
        self._publish_status()

    def announce(self, previous: VmState, event_type: EventType = EventType.VM_STATE_CHANGED, **data: Any) -> None:
        """Queue an event for the current state and publish the custom status."""
        self.event_seq += 1
        self.outbox.add(
            MigrationEvent(
                event_id=f"{self.orchestration_id}:{self.event_seq}",
                type=event_type,
                request_id=self.request_id,
                orchestration_id=self.orchestration_id,
                instance_id=self.progress.instance_id,
                state=self.progress.state.value,
                previous_state=previous.value,
                detail=self.progress.detail,
                at=self.now,
                data=data,
            )
        )
        self._publish_status()

    def _publish_status(self) -> None:
        self.context.set_custom_status(self.progress.model_dump(mode="json"))

    @property
    def pending_events(self) -> list[MigrationEvent]:
        """The outbox's events not published yet (carried over when the orchestration continues as new)."""
        return self.outbox.pending

    @pending_events.setter
    def pending_events(self, events: list[MigrationEvent]) -> None:
        self.outbox.pending = list(events)

    def flush_events(self, before_wait: float) -> Flow:
        """Before a wait of ``before_wait`` seconds: publish the outbox once if the wait would hold its events back
        too long; a failure leaves them for the next try (an outage fails nothing)."""
        yield from self.outbox.publish_before(before_wait)

    def deliver_events(self) -> Flow:
        """Before the orchestration ends: publish the outbox, waiting out a topic outage (about a day at most)."""
        delivered = yield from self.outbox.deliver()
        if not delivered:
            self.note(f"{len(self.outbox.pending)} event(s) could not be published: {self.outbox.last_error}")

    # --- activities -------------------------------------------------------------------------------------------

    def call(self, activity: Any, payload: BaseModel, result_type: type[M], policy: retry.RetryPolicy) -> Flow:
        """Call an activity, retrying only transient errors by its named policy (each retry announced as
        ``step.retried``); a permanent error, a broken contract or a bug ends the step at once with its cause."""
        riders = self.outbox.riders()
        envelope: dict[str, Any] = {"input": payload.model_dump(mode="json")}
        if riders:
            envelope["events"] = [event.model_dump(mode="json") for event in riders]
        name = activity_name(activity)

        def retried(attempt: int, cause: dict[str, Any], delay: float) -> None:
            self.announce(
                self.state,
                EventType.STEP_RETRIED,
                activity=name,
                policy=policy.name,
                attempt=attempt,
                cause=describe(cause),
                code=str(cause.get("code") or ""),
                retry_in_seconds=delay,
            )

        try:
            answer = yield from call_with_retry(self.context, activity, policy, envelope, retried)
        except Exception as exc:  # the Functions host failed the activity itself (no envelope answer)
            raise StepFailed(StepError(step=self.state, code="ActivityFailed", message=_first_line(exc))) from None
        self.outbox.rode(riders, answer.get("events"))
        if "error" in answer:
            error = error_from_dict(answer["error"])
            message = f"{error.message} ({error.resource})" if error.resource else error.message
            raise StepFailed(
                StepError(
                    step=self.state, code=error.code, message=message, transient=bool(answer["error"].get("transient"))
                )
            )
        return result_type.model_validate(answer["value"])

    # --- waits ------------------------------------------------------------------------------------------------

    def sleep(self, seconds: float) -> Flow:
        """A durable timer that the operator's cancel interrupts (unless rolling back)."""
        yield from self.flush_events(seconds)
        timer = self.context.create_timer(self.now + timedelta(seconds=seconds))
        if not self.cancellable:
            yield timer
            return
        while (yield self.context.task_any([timer, self.cancel_task])) is self.cancel_task:
            self._cancel_arrived()

    def wait_for(self, event: str, seconds: float) -> Flow:
        """Wait for an external event or a timeout; returns the event's data, or None on timeout. The operator's
        cancel interrupts the wait, unless rolling back (the rollback itself waits for jobs this way)."""
        yield from self.flush_events(seconds)
        timer = self.context.create_timer(self.now + timedelta(seconds=seconds))
        _, data = yield from self.wait_any((event,), timer)
        return data

    def wait_any(self, events: tuple[str, ...], timer: Any) -> Flow:
        """Wait for the first of ``events`` or ``timer`` (a durable timer, possibly awaited before); returns the
        event's name and data, or (None, None) when the timer fired. The operator's cancel interrupts the wait,
        unless rolling back."""
        waiters = {name: self.context.wait_for_external_event(name) for name in events}
        while True:
            tasks = [*waiters.values(), timer, *([self.cancel_task] if self.cancellable else [])]
            winner = yield self.context.task_any(tasks)
            if winner is not self.cancel_task:
                break
            self._cancel_arrived()
        if winner is timer:
            return None, None
        name = next(name for name, waiter in waiters.items() if waiter is winner)
        _consumed(self.context, name)
        return name, winner.result

    def await_change(
        self,
        event: str,
        waiting: WaitingFor,
        *,
        accept: Callable[[Any], Any],
        check: Callable[[], Flow],
        first: float,
        every: float,
        timeout: float,
        what: str,
        code: str,
    ) -> Flow:
        """Wait until Site Recovery changed the way ``waiting`` says, woken by the watchers' ``event``, not by polls.

        ``waiting`` goes into the custom status for the watchers (:mod:`shared.watch`) for as long as the wait lasts.
        ``accept(data)`` answers an event with the result, :data:`CHECK` (read to confirm) or None (not about this
        wait: wait on, no read). The safety net: ``first`` seconds in, then every ``every``, ``check()`` reads Site
        Recovery directly and answers the result or None; the wait asks the replication watch for these looks
        (``WaitingFor.look_at``, answered by :data:`shared.pipeline.LOOK_EVENT`) instead of keeping a durable timer
        per look, which could not be withdrawn once the event won. The last look is at the deadline, and one durable
        timer there is the backstop if no watch runs: the wait fails with ``code`` after ``timeout`` either way.
        Between changes the orchestration does not replay.
        """
        deadline = self.now + timedelta(seconds=timeout)
        backstop = self.context.create_timer(deadline)
        look_at = min(self.now + timedelta(seconds=first), deadline)
        try:
            while True:
                self.set_waiting(waiting.model_copy(update={"look_at": look_at}))
                yield from self.flush_events((look_at - self.now).total_seconds())
                name, data = yield from self.wait_any((event, LOOK_EVENT), backstop)
                if name == event:
                    answer = accept(data)
                    if answer is None:
                        continue
                    if answer is not CHECK:
                        return answer
                elif name == LOOK_EVENT and not look_taken(data, look_at):
                    continue  # raised for an earlier look: that one was taken
                result = yield from check()
                if result is not None:
                    return result
                if self.now >= deadline:
                    raise StepFailed(
                        StepError(step=self.state, code=code, message=f"{what} did not finish within {timeout:.0f}s")
                    )
                look_at = min(self.now + timedelta(seconds=every), deadline)
        finally:
            self.set_waiting(None)

    def set_waiting(self, waiting: WaitingFor | None) -> None:
        """Publish what the VM waits for (None: nothing) in its custom status."""
        self.progress = self.progress.model_copy(update={"waiting_for": waiting})
        self._publish_status()

    def check_cancelled(self) -> None:
        if self.cancel_task.is_completed:
            self._cancel_arrived()

    def cancel_refused(self, data: Any) -> str | None:
        """Why the operator's cancel (its event ``data``) is not honoured now, or None; see the subclass."""
        return None

    def _cancel_arrived(self) -> None:
        """A cancel event came: raise :class:`Cancelled`, or, if refused now, say so and wait for the next one."""
        data = self.cancel_task.result
        refusal = self.cancel_refused(data)
        if refusal is None:
            raise Cancelled(_cancelled_by(data), rollback=isinstance(data, dict) and data.get("rollback") is True)
        _consumed(self.context, CANCEL_EVENT)
        self.cancel_task = self.context.wait_for_external_event(CANCEL_EVENT)
        self.note(f"cancel by {_cancelled_by(data)} refused: {refusal}")

    def poll(
        self,
        check: Callable[[], Flow],
        *,
        done: Callable[[Any], bool],
        first: float,
        maximum: float,
        timeout: float,
        what: str,
        code: str,
        then: float | None = None,
    ) -> Flow:
        """Wait ``first`` seconds, then check until ``done``, backing off (from ``then``, if given) up to
        ``maximum``; fail after ``timeout``."""
        deadline = self.now + timedelta(seconds=timeout)
        delay = first
        backoff_from = then
        while True:
            yield from self.sleep(delay)
            result = yield from check()
            if done(result):
                return result
            if self.now >= deadline:
                raise StepFailed(
                    StepError(step=self.state, code=code, message=f"{what} did not finish within {timeout:.0f}s")
                )
            if backoff_from is not None:
                delay, backoff_from = backoff_from / self.backoff, None
            delay = min(delay * self.backoff, maximum, max(1.0, (deadline - self.now).total_seconds()))


def _consumed(context: Any, event: str) -> None:
    """Forget an external event once a waiter took it.

    The Durable Python SDK (azure-functions-durable 1.x) keeps an event that arrived before its waiter was yielded
    as a deferred completion and never removes it, so every later ``wait_for_external_event`` of that name would
    complete at once with the same old event (an endless loop for a refused cancel, a re-read health event). The
    JavaScript SDK fixed the same defect (Azure/azure-functions-durable-js#707); this clears the spent entry.
    """
    deferred = getattr(context, "deferred_tasks", None)
    if isinstance(deferred, dict):
        deferred.pop(event, None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def _cancelled_by(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("by") or "operator")
    return str(data or "operator")
