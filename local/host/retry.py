"""Retry delays as the Durable Task Framework computes them for ``call_*_with_retry``.

Source (read, not copied): ``Azure/durabletask`` ``src/DurableTask.Core/RetryInterceptor.cs`` (``Invoke`` and
``ComputeNextDelay``) with the defaults of ``src/DurableTask.Core/RetryOptions.cs``, and the Functions extension's
``src/WebJobs.Extensions.DurableTask/RetryOptions.cs`` (default ``MaxRetryInterval`` of 6 days) and
``RetryOptionsConverter.cs`` (the JSON fields an out-of-process worker sends). The algorithm:

* the first attempt's time is the orchestration's current time when the task was first issued;
* after the failure of attempt ``n`` (1-based) the delay is ``firstRetryInterval * backoffCoefficient ** (n - 1)``,
  or ``maxRetryInterval`` when that product is not below it;
* the delay is zero (no timer, the task fails now) once the orchestration's current time is not before
  ``first attempt + retryTimeout``; otherwise a timer fires at ``now + delay`` — after the last attempt too, and
  only when that timer fires does the task fail ("the extra timer" the Python SDK waits for).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

#: ``Microsoft.Azure.WebJobs.RetryOptions``: MaxRetryInterval defaults to 6 days (DurableTask.Core: TimeSpan.MaxValue).
DEFAULT_MAX_RETRY_INTERVAL_MS = 6 * 24 * 3600 * 1000


class RetryTimeoutExpiredError(Exception):
    """A retry whose ``retryTimeout`` has passed: the framework creates no timer and fails the task at once."""


@dataclass(frozen=True)
class RetrySpec:
    """The ``retryOptions`` of one retried action, with the framework's defaults for absent fields."""

    first_interval_ms: float
    max_attempts: int
    backoff_coefficient: float = 1.0
    max_interval_ms: float = DEFAULT_MAX_RETRY_INTERVAL_MS
    timeout_ms: float | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> RetrySpec:
        timeout = options.get("retryTimeoutInMilliseconds")
        return cls(
            first_interval_ms=float(options.get("firstRetryIntervalInMilliseconds", 1000)),
            max_attempts=int(options.get("maxNumberOfAttempts", 1)),
            backoff_coefficient=float(options.get("backoffCoefficient", 1.0)),
            max_interval_ms=float(options.get("maxRetryIntervalInMilliseconds", DEFAULT_MAX_RETRY_INTERVAL_MS)),
            timeout_ms=float(timeout) if timeout is not None else None,
        )


def next_retry_delay(spec: RetrySpec, failed_attempt: int, first_attempt: datetime, now: datetime) -> timedelta:
    """The wait after attempt ``failed_attempt`` (1-based) failed at ``now``.

    Raises :class:`RetryTimeoutExpiredError` when the retry timeout has passed (the framework's zero delay).
    """
    if spec.timeout_ms is not None and now >= first_attempt + timedelta(milliseconds=spec.timeout_ms):
        raise RetryTimeoutExpiredError(
            f"the retry timeout of {spec.timeout_ms / 1000:g}s (from the first attempt at {first_attempt.isoformat()}) "
            "has passed"
        )
    delay_ms = spec.first_interval_ms * spec.backoff_coefficient ** (failed_attempt - 1)
    delay_ms = min(spec.max_interval_ms, delay_ms)
    return timedelta(milliseconds=delay_ms)
