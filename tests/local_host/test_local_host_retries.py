"""Retry delays on the local host as the Durable Task Framework computes them (see ``local/host/retry.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from functions.retry import AWS_CALL
from local.host.engine import COMPLETED, FAILED
from local.host.history import EventType, parse_timestamp
from local.host.retry import RetrySpec, RetryTimeoutExpiredError, next_retry_delay


def _gaps(history: list[dict]) -> tuple[list[float], float]:
    """Seconds between consecutive attempts, and the wait of the final timer after the last attempt."""
    scheduled = [parse_timestamp(e["Timestamp"]) for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
    completed = [e for e in history if e["EventType"] == EventType.EXECUTION_COMPLETED]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(scheduled)]
    final = (parse_timestamp(completed[0]["Timestamp"]) - scheduled[-1]).total_seconds()
    return gaps, final


def test_the_aws_policy_doubles_the_wait_between_attempts(host, app_module):
    instance_id = host.start("retry_backoff", "aws:gaps")

    host.run_until_idle()

    status = host.status(instance_id, show_history=True)
    assert status.runtime_status == COMPLETED and status.output == "gave up"
    assert len(app_module.RECORD["always_fails:aws:gaps"]) == AWS_CALL.max_number_of_attempts
    gaps, final = _gaps(status.history)
    assert gaps[:4] == [5, 10, 20, 40]
    assert gaps == [5, 10, 20, 40, 80]  # six attempts
    assert final == 120  # the timer after the last failure: 160 s capped at the policy's 120 s


def test_a_capped_policy_stops_growing_at_its_max_retry_interval(host, app_module):
    instance_id = host.start("retry_backoff", "capped:gaps")

    host.run_until_idle()

    status = host.status(instance_id, show_history=True)
    gaps, final = _gaps(status.history)
    assert gaps == [5, 10, 12, 12]
    assert final == 12


def test_past_the_retry_timeout_the_instance_fails_saying_why(host, app_module):
    """Attempts at 0, 5 and 15 s; the third failure is past 12 s, where DTFx creates no timer and gives up."""
    instance_id = host.start("retry_timeout", "t1")

    host.run_until_idle()

    status = host.status(instance_id)
    assert status.runtime_status == FAILED
    assert "retry timeout of 12s" in status.output and "would hang in Azure" in status.output
    assert len(app_module.RECORD["always_fails:t1"]) == 3


def test_the_policy_serialises_what_the_extension_reads():
    """``RetryOptionsConverter`` reads these field names; the Python SDK's own RetryOptions sends only two."""
    assert AWS_CALL.to_json() == {
        "firstRetryIntervalInMilliseconds": 5000,
        "maxNumberOfAttempts": 6,
        "backoffCoefficient": 2.0,
        "maxRetryIntervalInMilliseconds": 120_000,
    }


def test_defaults_are_the_frameworks_a_constant_interval():
    spec = RetrySpec.from_options({"firstRetryIntervalInMilliseconds": 5000, "maxNumberOfAttempts": 4})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert [next_retry_delay(spec, n, start, start).total_seconds() for n in (1, 2, 3)] == [5, 5, 5]


def test_a_retry_timeout_that_has_passed_gives_no_timer():
    spec = RetrySpec.from_options(
        {
            "firstRetryIntervalInMilliseconds": 1000,
            "maxNumberOfAttempts": 10,
            "backoffCoefficient": 2,
            "retryTimeoutInMilliseconds": 10_000,
        }
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_retry_delay(spec, 3, start, start + timedelta(seconds=9)) == timedelta(seconds=4)
    with pytest.raises(RetryTimeoutExpiredError):
        next_retry_delay(spec, 4, start, start + timedelta(seconds=10))
