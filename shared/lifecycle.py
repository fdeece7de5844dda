"""The lifecycle of one VM's migration: states, the legal transitions between them, and the progress record.

The transition table is data (:data:`TRANSITIONS`); :func:`check_transition` refuses anything it does not list.
The orchestration carries a :class:`VmProgress` as its custom status, so an operator sees the state, the step's
detail, when each stage started, and, at the end, the outcome with its cause and what was rolled back.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import IllegalTransitionError
from shared.health import ProgressSnapshot
from shared.watch import WaitingFor


class VmState(StrEnum):
    QUEUED = "queued"
    PREFLIGHT = "preflight"
    PREPARING_NETWORK = "preparing_network"
    PREPARING_GUEST = "preparing_guest"
    INSTALLING_AGENT = "installing_agent"
    REGISTERING_AGENT = "registering_agent"
    ENABLING_REPLICATION = "enabling_replication"
    INITIAL_REPLICATION = "initial_replication"
    REPLICATING = "replicating"
    TEST_MIGRATING = "test_migrating"
    VALIDATING_TEST = "validating_test"
    CLEANING_UP_TEST = "cleaning_up_test"
    AWAITING_APPROVAL = "awaiting_approval"
    STOPPING_SOURCE = "stopping_source"
    MIGRATING = "migrating"
    COMMITTING = "committing"
    COMPLETING = "completing"
    # terminal
    COMPLETED = "completed"
    TEST_COMPLETED = "test_completed"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: no approval or a failed test with ``keep_replicating``: temporary access reverted, replication kept, so a
    #: later request adopts it instead of replicating from scratch.
    KEPT_REPLICATING = "kept_replicating"


S = VmState

#: The main line, in order: each state may move to the next one.
MAIN_LINE: tuple[VmState, ...] = (
    S.QUEUED,
    S.PREFLIGHT,
    S.PREPARING_NETWORK,
    S.PREPARING_GUEST,
    S.INSTALLING_AGENT,
    S.REGISTERING_AGENT,
    S.ENABLING_REPLICATION,
    S.INITIAL_REPLICATION,
    S.REPLICATING,
    S.TEST_MIGRATING,
    S.VALIDATING_TEST,
    S.CLEANING_UP_TEST,
    S.AWAITING_APPROVAL,
    S.STOPPING_SOURCE,
    S.MIGRATING,
    S.COMMITTING,
    S.COMPLETING,
    S.COMPLETED,
)

TERMINAL: frozenset[VmState] = frozenset(
    {S.COMPLETED, S.TEST_COMPLETED, S.REJECTED, S.FAILED, S.CANCELLED, S.KEPT_REPLICATING}
)

#: Moves off the main line.
_BRANCHES: dict[VmState, frozenset[VmState]] = {
    S.PREFLIGHT: frozenset({S.REJECTED}),
    # replicate_only: hand the replicating VM over to the operator (replication keeps running).
    S.REPLICATING: frozenset({S.COMPLETED}),
    # a failed test migration is cleaned up before the VM fails.
    S.TEST_MIGRATING: frozenset({S.CLEANING_UP_TEST}),
    # test_only: tear down after the clean-up and finish as a rehearsal (see below for keep_replicating).
    S.COMPLETING: frozenset({S.TEST_COMPLETED}),
    # keep_replicating: the test failed (after its clean-up) or no approval came; replication stays.
    S.CLEANING_UP_TEST: frozenset({S.COMPLETING, S.KEPT_REPLICATING}),
    S.AWAITING_APPROVAL: frozenset({S.KEPT_REPLICATING}),
}


def _build_transitions() -> dict[VmState, frozenset[VmState]]:
    table: dict[VmState, set[VmState]] = {state: set() for state in VmState}
    for current, following in pairwise(MAIN_LINE):
        table[current].add(following)
    for state, targets in _BRANCHES.items():
        table[state] |= targets
    for state in VmState:
        if state not in TERMINAL:
            table[state] |= {S.FAILED, S.CANCELLED}
    return {state: frozenset(targets) for state, targets in table.items()}


#: Every legal transition: state -> the states it may move to. Terminal states move nowhere.
TRANSITIONS: dict[VmState, frozenset[VmState]] = _build_transitions()


def is_terminal(state: VmState) -> bool:
    return state in TERMINAL


def check_transition(current: VmState, target: VmState) -> None:
    """Raise :class:`IllegalTransitionError` unless the table allows ``current`` -> ``target``."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (terminal)"
        raise IllegalTransitionError(
            f"illegal lifecycle transition {current.value} -> {target.value}; allowed: {allowed}",
            code="IllegalTransition",
        )


class Cutover(StrEnum):
    """How far the cutover went, which decides what a cancel, a failure or a timeout may still undo.

    The point of no return (Microsoft: "Before commit a failover can be cancelled (failoverCancel), which removes
    the failed-over VM; after commit there is no way back"):

    - ``not_started``: the failover was not accepted; a cancel or a failure rolls back and the source runs again.
    - ``failed_over``: Site Recovery accepted the failover, nothing is committed: the only way back is
      ``failoverCancel``, waited for; only once it removed the failed-over VM may the source start again. An
      operator's cancel is refused unless it asks for that rollback.
    - ``committed``: the commit succeeded; the source is never restarted, the Azure VM is authoritative.
    """

    NOT_STARTED = "not_started"
    FAILED_OVER = "failed_over"
    COMMITTED = "committed"


def cancel_refusal(state: VmState, cutover: Cutover, *, rollback: bool) -> str | None:
    """Why an operator's cancel of a VM in ``state`` must be refused, or None if it may be honoured."""
    if is_terminal(state):
        return f"the VM is {state.value}: nothing to cancel"
    if cutover is Cutover.COMMITTED:
        return (
            f"the VM is {state.value} and its migration was committed: the Azure VM is authoritative and the "
            "source stays stopped; nothing can be cancelled"
        )
    if state is S.COMMITTING:
        return "the VM is committing: a commit under way cannot be cancelled"
    if cutover is Cutover.FAILED_OVER and not rollback:
        return (
            f"the VM is {state.value} and Site Recovery accepted its failover: cancelling means cancelling the "
            "failover (the Azure VM is removed, then the source starts again); ask for it as a rollback"
        )
    return None


class StepError(BaseModel):
    """Why a VM failed: the step it was in, a machine-readable code and the message."""

    model_config = ConfigDict(frozen=True)

    step: VmState
    code: str
    message: str
    transient: bool = False


class StageTime(BaseModel):
    """When the VM entered a state (for the timeline)."""

    model_config = ConfigDict(frozen=True)

    state: VmState
    at: datetime


class VmProgress(BaseModel):
    """The record of one VM's migration, carried as the orchestration's custom status.

    Immutable: :meth:`advance`, :meth:`fail` and friends return a new record.
    """

    model_config = ConfigDict(frozen=True)

    request_id: str
    instance_id: str
    name: str = ""
    state: VmState = S.QUEUED
    detail: str = ""
    started_at: datetime
    updated_at: datetime
    stages: tuple[StageTime, ...] = ()
    reasons: tuple[str, ...] = Field(default=(), description="preflight rejection reasons and warnings")
    error: StepError | None = None
    rolled_back: tuple[str, ...] = ()
    approved_by: str = Field(default="", description="the approver's display name (the request body's 'by')")
    approver_id: str = Field(default="", description="the authenticated principal's id (Entra ID object id)")
    approver_name: str = Field(default="", description="the authenticated principal's name (UPN)")
    cutover: Cutover = Cutover.NOT_STARTED
    protected_item: str = Field(default="", description="Site Recovery protected item name, once replicating")
    health: str = Field(default="", description="last replication health level seen (healthy, warning, ...)")
    health_reasons: tuple[str, ...] = ()
    replication_progress: int | None = None
    health_snapshot: ProgressSnapshot | None = Field(default=None, description="for the next sweep's stall check")
    test_output: str = Field(default="", description="the test VM's smoke command output (truncated)")
    waiting_for: WaitingFor | None = Field(
        default=None, description="the Site Recovery change the VM waits for, for the watchers (shared.watch)"
    )

    @classmethod
    def start(cls, request_id: str, instance_id: str, at: datetime, name: str = "") -> VmProgress:
        return cls(
            request_id=request_id,
            instance_id=instance_id,
            name=name,
            started_at=at,
            updated_at=at,
            stages=(StageTime(state=S.QUEUED, at=at),),
        )

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)

    def advance(self, target: VmState, at: datetime, detail: str = "", **changes: Any) -> Self:
        """Move to ``target`` if the table allows it; otherwise raise :class:`IllegalTransitionError`."""
        check_transition(self.state, target)
        return self.model_copy(
            update={
                "state": target,
                "detail": detail,
                "updated_at": at,
                "stages": (*self.stages, StageTime(state=target, at=at)),
                **changes,
            }
        )

    def note(self, detail: str, at: datetime) -> Self:
        """Update the current step's detail without changing state."""
        return self.model_copy(update={"detail": detail, "updated_at": at})

    def fail(self, error: StepError, at: datetime, rolled_back: tuple[str, ...] = ()) -> Self:
        return self.advance(S.FAILED, at, error.message, error=error, rolled_back=(*self.rolled_back, *rolled_back))

    def durations(self, now: datetime | None = None) -> dict[VmState, float]:
        """Seconds spent in each state entered (the last one up to ``now`` or the last update)."""
        result: dict[VmState, float] = {}
        ends = [stage.at for stage in self.stages[1:]] + [now or self.updated_at]
        for stage, end in zip(self.stages, ends, strict=True):
            result[stage.state] = result.get(stage.state, 0.0) + (end - stage.at).total_seconds()
        return result
