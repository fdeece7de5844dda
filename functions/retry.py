"""Named retry policies, declared once and used where activities are called.

A policy retries what an activity raises. Activities raise only transient errors (throttling, 429/503,
timeouts, an operation in progress); permanent ones come back as a failed result and are never retried.
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

#: The wave's Azure readiness check (ARM and Site Recovery reads; throttling clears within a minute or two).
READINESS = RetryPolicy("readiness", first_retry_seconds=10, attempts=4, max_seconds=120)

#: The wave's batched preflight (inventory of many instances in one call).
PREFLIGHT = RetryPolicy("preflight", first_retry_seconds=10, attempts=4, max_seconds=120)

#: Publishing events: cheap and idempotent, retried briefly.
EVENT_PUBLISH = RetryPolicy("event-publish", first_retry_seconds=2, attempts=4, max_seconds=30)
