"""The step envelope's verdicts, the orchestrator's retries and the event outbox, driven without a host.

The retry delays are checked against ``local/host/retry.py``, the host's reading of the Durable Task Framework's
retry interceptor (``Azure/durabletask`` ``RetryInterceptor.cs``), so the orchestrator's own retries wait exactly
what ``call_activity_with_retry`` would have waited.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from functions import retry
from functions.activities._step import run_step
from functions.workflows.outbox import Outbox
from functions.workflows.retrying import call_with_retry
from local.host.retry import RetrySpec, next_retry_delay
from shared.errors import OperationInProgressError, PermanentError, TransientError
from shared.pipeline import EventType, MigrationEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


class Ask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: str


def _raise(error: Exception) -> Any:
    def body(_: Ask) -> None:
        raise error

    return body


@pytest.mark.parametrize(
    ("body", "verdict", "code"),
    [
        (lambda ask: {"id": ask.instance_id}, "value", None),
        (_raise(TransientError("Rate exceeded", code="Throttling")), "transient", "Throttling"),
        (_raise(OperationInProgressError("busy")), "transient", "OperationInProgress"),
        (_raise(PermanentError("no such instance", code="InstanceNotFound")), "error", "InstanceNotFound"),
        (_raise(KeyError("pre_existing")), "error", "KeyError"),
        (_raise(TypeError("unsupported operand")), "error", "TypeError"),
        (lambda ask: Ask.model_validate({"instance_id": 3}), "error", "ValidationError"),
    ],
    ids=["value", "transient", "in-progress", "permanent", "key-error", "type-error", "bad-answer"],
)
def test_the_envelope_retries_only_transient_errors_and_names_the_cause_of_the_rest(
    body: Any, verdict: str, code: str | None
) -> None:
    answer = run_step({"input": {"instance_id": "i-1"}}, Ask, body)
    assert list(answer) == [verdict]
    if code is not None:
        assert answer[verdict]["code"] == code
        assert "\n" not in answer[verdict]["message"]


def test_input_that_breaks_the_contract_fails_at_once_on_one_line() -> None:
    answer = run_step({"input": {"instance": "i-1"}}, Ask, lambda ask: None)
    assert answer["error"]["code"] == "InvalidRequest"
    assert answer["error"]["message"] == "Ask: instance_id: Field required; instance: Extra inputs are not permitted"


def _host_delays(policy: retry.RetryPolicy) -> list[float]:
    spec = RetrySpec.from_options(policy.to_json())
    return [next_retry_delay(spec, n, T0, T0).total_seconds() for n in range(1, policy.attempts)]


def _mine(policy: retry.RetryPolicy) -> list[float]:
    return [policy.delay_after(n) for n in range(1, policy.attempts)]


@pytest.mark.parametrize(
    "policy", [retry.AWS_CALL, retry.SITE_RECOVERY_CALL, retry.READINESS, retry.PREFLIGHT, retry.EVENT_PUBLISH]
)
def test_orchestrator_retries_wait_what_durable_would(policy: retry.RetryPolicy) -> None:
    assert _mine(policy) == _host_delays(policy)


def test_the_aws_policy_waits_5_10_20_40_s_and_the_comparison_catches_a_flat_backoff() -> None:
    assert _mine(retry.AWS_CALL)[:4] == [5, 10, 20, 40]

    class Flat(retry.RetryPolicy):  # the defect the local host once had: the first interval repeated
        def delay_after(self, failed_attempt: int) -> float:
            return float(self.first_retry_interval_in_milliseconds / 1000)

    flat = Flat("flat", first_retry_seconds=5, attempts=6, max_seconds=120)
    assert _mine(flat) != _host_delays(flat)


@dataclass
class FakeContext:
    """Just enough of ``DurableOrchestrationContext`` to drive a generator: calls and timers are recorded."""

    now: datetime = T0
    calls: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def current_utc_datetime(self) -> datetime:
        return self.now

    def call_activity(self, activity: Any, payload: Any) -> tuple[str, Any]:
        self.calls.append(("activity", payload))
        return ("activity", payload)

    def create_timer(self, fire_at: datetime) -> tuple[str, Any]:
        self.calls.append(("timer", (fire_at - self.now).total_seconds()))
        return ("timer", fire_at)


def _drive(flow: Generator[Any, Any, Any], context: FakeContext, answers: list[Any]) -> Any:
    """Run ``flow``: activities get the next answer, timers fire (the clock moves to them)."""
    pending = list(answers)
    try:
        task = next(flow)
        while True:
            kind, value = task
            if kind == "timer":
                context.now = value
                task = flow.send(None)
            else:
                task = flow.send(pending.pop(0))
    except StopIteration as done:
        assert pending == [], "answers left over"
        return done.value


def _transient(message: str = "Rate exceeded") -> dict[str, Any]:
    return {"transient": TransientError(message, code="ThrottlingException").to_dict()}


def test_a_transient_answer_is_retried_after_the_policy_gap_and_each_retry_is_reported() -> None:
    context = FakeContext()
    seen: list[tuple[int, str, float]] = []
    flow = call_with_retry(
        context, "prepare_network", retry.AWS_CALL, {"input": {}}, lambda n, c, d: seen.append((n, c["code"], d))
    )
    answer = _drive(flow, context, [_transient(), _transient(), {"value": 1}])
    assert answer == {"value": 1}
    assert [kind for kind, _ in context.calls] == ["activity", "timer", "activity", "timer", "activity"]
    assert [gap for kind, gap in context.calls if kind == "timer"] == [5, 10]
    assert seen == [(1, "ThrottlingException", 5), (2, "ThrottlingException", 10)]


def test_a_permanent_answer_is_not_retried_and_exhaustion_names_the_last_cause() -> None:
    context = FakeContext()
    bug = {"error": PermanentError("Ask: KeyError: 'x'", code="KeyError").to_dict()}
    assert _drive(call_with_retry(context, "a", retry.AWS_CALL, {}, None), context, [bug]) == bug
    assert len(context.calls) == 1

    context = FakeContext()
    answer = _drive(call_with_retry(context, "a", retry.AWS_CALL, {}, None), context, [_transient("storm")] * 6)
    assert answer["error"]["code"] == "RetriesExhausted"
    assert "gave up after 6 attempts" in answer["error"]["message"] and "storm" in answer["error"]["message"]
    assert [gap for kind, gap in context.calls if kind == "timer"] == [5, 10, 20, 40, 80]  # no timer after the last


def _event(seq: int) -> MigrationEvent:
    return MigrationEvent(
        event_id=f"vm-1:{seq}", type=EventType.VM_STATE_CHANGED, request_id="r", orchestration_id="vm-1", at=T0
    )


def test_a_failed_publish_keeps_the_batch_and_delivery_waits_out_the_outage() -> None:
    context = FakeContext()
    outbox = Outbox(context, [_event(1), _event(2)])
    outage = _transient("cannot reach the Service Bus namespace")

    assert _drive(outbox.publish(), context, [outage]) is False
    assert [e.event_id for e in outbox.pending] == ["vm-1:1", "vm-1:2"]
    assert _drive(outbox.publish(), context, []) is False  # not tried again at the same moment
    outbox.add(_event(3))

    context.calls.clear()
    assert _drive(outbox.deliver(), context, [outage, outage, {"value": {"published": 3}}]) is True
    assert outbox.pending == []
    # It failed a moment ago: the first try waits 30 s, then two more outages (60 s, 120 s), then it goes out.
    assert [gap for kind, gap in context.calls if kind == "timer"] == [30, 60, 120]
    sent = [payload["input"]["events"] for kind, payload in context.calls if kind == "activity"]
    assert [event["event_id"] for event in sent[-1]] == ["vm-1:1", "vm-1:2", "vm-1:3"]


def test_an_empty_outbox_costs_nothing() -> None:
    context = FakeContext()
    assert _drive(Outbox(context).publish(), context, []) is True
    assert context.calls == []


def _outbox_check(outbox_type: type[Outbox]) -> bool:
    """Does an outbox keep a batch whose publish failed? (The check the defect below must fail.)"""
    context = FakeContext()
    outbox = outbox_type(context, [_event(1)])
    _drive(outbox.publish(), context, [_transient()])
    return [e.event_id for e in outbox.pending] == ["vm-1:1"]


def test_the_outbox_check_catches_an_outbox_that_drops_a_failed_batch() -> None:
    class Forgetful(Outbox):
        def publish(self) -> Generator[Any, Any, Any]:
            batch = list(self.pending)
            emptied = yield from super().publish()
            self.pending = [e for e in self.pending if e not in batch]
            return emptied

    assert _outbox_check(Outbox)
    assert not _outbox_check(Forgetful)


def test_delivery_gives_up_after_the_policy_and_says_so() -> None:
    context = FakeContext()
    short = retry.RetryPolicy("short", first_retry_seconds=1, attempts=3)
    outbox = Outbox(context, [_event(1)])
    assert _drive(outbox.deliver(short), context, [_transient("down")] * 3) is False
    assert outbox.pending and "down" in outbox.last_error
    assert timedelta(seconds=sum(gap for kind, gap in context.calls if kind == "timer")) == timedelta(seconds=3)


def _iso_duration(text: str) -> timedelta:
    """The ``P[nD][T[nH][nM][nS]]`` durations the templates use."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text)
    assert match, f"not an ISO 8601 duration: {text}"
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def test_the_topic_remembers_message_ids_longer_than_the_outbox_retries_a_batch() -> None:
    """A batch the topic accepted but whose answer was lost is sent again by the outbox; the topic drops it only
    if its duplicate detection window still holds the message ids. Microsoft: the window defaults to 10 minutes
    and may be at most 7 days (``duplicateDetectionHistoryTimeWindow``, Service Bus topic properties)."""
    bicep = (ROOT / "infra" / "azure" / "modules" / "servicebus.bicep").read_text(encoding="utf-8")
    topic = bicep[bicep.index("resource eventsTopic") :]
    topic = topic[: topic.index("\n}\n")]
    assert "requiresDuplicateDetection: true" in topic
    window = _iso_duration(re.search(r"duplicateDetectionHistoryTimeWindow: '([^']+)'", topic)[1])  # type: ignore[index]
    delivering = timedelta(seconds=sum(_mine(retry.EVENT_PUBLISH)))
    assert delivering < window <= timedelta(days=7)
