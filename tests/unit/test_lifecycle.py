from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import IllegalTransitionError
from shared.lifecycle import (
    MAIN_LINE,
    TERMINAL,
    TRANSITIONS,
    Cutover,
    StepError,
    VmProgress,
    VmState,
    cancel_refusal,
    check_transition,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_main_line_walks_from_queued_to_completed():
    progress = VmProgress.start("wave-1", "i-0b000000000000001", T0)
    for minutes, state in enumerate(MAIN_LINE[1:], start=1):
        progress = progress.advance(state, T0 + timedelta(minutes=minutes))
    assert progress.state is VmState.COMPLETED and progress.terminal
    assert [stage.state for stage in progress.stages] == list(MAIN_LINE)
    assert progress.durations()[VmState.QUEUED] == 60.0


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (VmState.QUEUED, VmState.MIGRATING),  # skipping the whole lifecycle
        (VmState.REPLICATING, VmState.STOPPING_SOURCE),  # cutover without a test migration
        (VmState.TEST_MIGRATING, VmState.AWAITING_APPROVAL),  # test migration never cleaned up
        (VmState.AWAITING_APPROVAL, VmState.MIGRATING),  # migrating with the source running
        (VmState.COMPLETED, VmState.FAILED),  # terminal
        (VmState.PREPARING_NETWORK, VmState.REJECTED),  # only preflight rejects
    ],
)
def test_illegal_transitions_are_refused(current, target):
    with pytest.raises(IllegalTransitionError) as caught:
        check_transition(current, target)
    assert f"{current.value} -> {target.value}" in caught.value.message


def test_branches_for_modes_and_failures():
    check_transition(VmState.PREFLIGHT, VmState.REJECTED)
    check_transition(VmState.REPLICATING, VmState.COMPLETED)  # replicate_only
    check_transition(VmState.TEST_MIGRATING, VmState.CLEANING_UP_TEST)  # failed test migration
    check_transition(VmState.CLEANING_UP_TEST, VmState.COMPLETING)  # test_only
    check_transition(VmState.COMPLETING, VmState.TEST_COMPLETED)
    for state in VmState:
        if state not in TERMINAL:
            check_transition(state, VmState.FAILED)
            check_transition(state, VmState.CANCELLED)


def test_terminal_states_go_nowhere():
    assert {state for state, targets in TRANSITIONS.items() if not targets} == TERMINAL


def test_failure_records_step_cause_and_rollback():
    progress = VmProgress.start("wave-1", "i-1", T0).advance(VmState.PREFLIGHT, T0)
    progress = progress.advance(VmState.PREPARING_NETWORK, T0)
    failed = progress.fail(
        StepError(step=VmState.PREPARING_NETWORK, code="AccessDenied", message="ec2:AuthorizeSecurityGroupIngress"),
        T0,
        rolled_back=("removed 2 security group rules",),
    )
    assert failed.state is VmState.FAILED
    assert failed.error.step is VmState.PREPARING_NETWORK
    assert failed.rolled_back == ("removed 2 security group rules",)
    assert progress.state is VmState.PREPARING_NETWORK  # records are immutable


def test_progress_round_trips_through_json():
    progress = VmProgress.start("wave-1", "i-1", T0).advance(VmState.PREFLIGHT, T0, "checking")
    assert VmProgress.model_validate_json(progress.model_dump_json()) == progress


@given(st.lists(st.sampled_from(list(VmState)), max_size=60))
def test_no_sequence_of_legal_transitions_leaves_a_terminal_state(choices):
    progress = VmProgress.start("wave-1", "i-1", T0)
    reached_terminal = False
    for target in choices:
        if target not in TRANSITIONS[progress.state]:
            with pytest.raises(IllegalTransitionError):
                progress.advance(target, T0)
            continue
        assert not reached_terminal, "a terminal state moved on"
        progress = progress.advance(target, T0)
        reached_terminal = progress.terminal
    if reached_terminal:
        for state in VmState:
            with pytest.raises(IllegalTransitionError):
                progress.advance(state, T0)


# --- the point of no return ---------------------------------------------------------------------------------------

#: States a VM can be in once Site Recovery accepted its failover (migrate_vm sets the cutover only from MIGRATING).
_AFTER_FAILOVER = (VmState.MIGRATING, VmState.COMMITTING, VmState.COMPLETING)


@pytest.mark.parametrize("state", [s for s in VmState if s not in TERMINAL])
@pytest.mark.parametrize("cutover", list(Cutover))
@pytest.mark.parametrize("rollback", [False, True])
def test_a_cancel_is_honoured_only_before_the_point_of_no_return(state, cutover, rollback):
    refusal = cancel_refusal(state, cutover, rollback=rollback)
    if cutover is Cutover.COMMITTED or state is VmState.COMMITTING:
        assert refusal is not None and state.value in refusal  # never after (or during) the commit
    elif cutover is Cutover.FAILED_OVER:
        assert (refusal is None) is rollback  # only an explicit rollback cancels an accepted failover
    else:
        assert refusal is None


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_a_finished_vm_has_nothing_to_cancel(state):
    assert cancel_refusal(state, Cutover.NOT_STARTED, rollback=True) == f"the VM is {state.value}: nothing to cancel"


def test_kept_replicating_is_terminal_and_reached_only_without_a_cutover():
    sources = {state for state, targets in TRANSITIONS.items() if VmState.KEPT_REPLICATING in targets}
    assert sources == {VmState.CLEANING_UP_TEST, VmState.AWAITING_APPROVAL}
    assert VmState.KEPT_REPLICATING in TERMINAL
    assert not set(_AFTER_FAILOVER) & sources
