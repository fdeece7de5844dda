"""Named retry policies, declared once and used where activities are called.

A policy says how often a step activity is tried and how long to wait between tries. Only a
:class:`~shared.errors.TransientError` (throttling, 429/503, timeouts, an operation in progress) is retried; a
permanent error, a contract breach or a bug comes back as a failed result and fails the step at once. The
orchestrator itself retries (:mod:`functions.workflows.retrying`: ``call_activity`` and a durable timer per retry,
so each retry can publish ``step.retried``) with the numbers Durable's ``call_activity_with_retry`` would use
(:meth:`RetryPolicy.delay_after`, the same formula as ``local/host/retry.py``).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df


class RetryPolicy(df.RetryOptions):  # type: ignore[misc]
    """``RetryOptions`` with exponential backoff.

    The Python SDK serialises only the first interval and the attempt count; the Durable extension also reads
    ``backoffCoefficient`` and ``maxRetryIntervalInMilliseconds`` (as the JavaScript SDK sends them), and the
    local host honours them too.
    """

    def __init__(
        self, name: str, first_retry_seconds: float, attempts: int, backoff: float = 2.0, max_seconds: float = 300
    ):
        super().__init__(int(first_retry_seconds * 1000), attempts)
        self.name = name
        self.backoff_coefficient = backoff
        self.max_retry_interval_in_milliseconds = int(max_seconds * 1000)

    @property
    def attempts(self) -> int:
        return int(self.max_number_of_attempts)

    def delay_after(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt ``failed_attempt`` (1-based) failed, as the Durable Task Framework computes
        them: ``firstRetryInterval * backoffCoefficient ** (n - 1)``, capped at ``maxRetryInterval``."""
        first = self.first_retry_interval_in_milliseconds / 1000
        longest = self.max_retry_interval_in_milliseconds / 1000
        return float(min(first * self.backoff_coefficient ** (failed_attempt - 1), longest))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(super().to_json())
        data["backoffCoefficient"] = self.backoff_coefficient
        data["maxRetryIntervalInMilliseconds"] = self.max_retry_interval_in_milliseconds
        return data


#: Calls to the AWS Lambdas: throttling storms on EC2 and SSM are common in large waves.
AWS_CALL = RetryPolicy("aws-call", first_retry_seconds=5, attempts=6, max_seconds=120)

#: Site Recovery actions and reads: 409 "operation in progress" and 429/503 clear within minutes.
SITE_RECOVERY_CALL = RetryPolicy("site-recovery-call", first_retry_seconds=15, attempts=6, max_seconds=300)

#: Reads of the test VM and Run Command on it (Compute throttling and 409 "another operation" clear in minutes).
COMPUTE_CALL = RetryPolicy("compute-call", first_retry_seconds=15, attempts=5, max_seconds=300)

#: The wave's Azure readiness check: Site Recovery and ARM reads, as patient as the VMs' own Site Recovery calls
#: (a wave must not give up on an outage its VMs would ride out).
READINESS = RetryPolicy("readiness", first_retry_seconds=15, attempts=6, max_seconds=300)

#: The wave's batched preflight (inventory of many instances in one call).
PREFLIGHT = RetryPolicy("preflight", first_retry_seconds=10, attempts=4, max_seconds=120)

#: Delivering a finished VM's (or wave's) outbox of events while the topic is down: 30 s, 1, 2, 4, 8 min, then
#: every 10 min, for about a day (150 tries). Before that, pending events ride along with the next wait.
EVENT_PUBLISH = RetryPolicy("event-publish", first_retry_seconds=30, attempts=150, max_seconds=600)
