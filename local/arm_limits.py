"""Azure Resource Manager's subscription throttling, shared by every emulator reached through ARM.

Microsoft, "Understand how Azure Resource Manager throttles requests"
(https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling, section
"Regional throttling and token bucket algorithm"): since 2024 ARM throttles with token buckets, "applied per
subscription, per service principal, and per operation type":

=============  ==========  ===========  =======================
scope          operations  bucket size  refill rate per second
=============  ==========  ===========  =======================
Subscription   reads       250          25
Subscription   deletes     200          10
Subscription   writes      200          10
=============  ==========  ===========  =======================

(The same article adds a global per-subscription limit of 15 times the per-principal one across all principals; the
emulated estate has one principal, whose own bucket always empties first, so it is not modelled.)

"When you reach the limit, you receive the HTTP status code 429 Too many requests. The response includes a
Retry-After value [...] If you send a request before the retry value has elapsed, your request isn't processed and a
new retry value is returned": a refused request takes no token. Answers that pass carry the remaining count of their
bucket in ``x-ms-ratelimit-remaining-subscription-reads`` / ``-writes`` / ``-deletes`` (the article's "Remaining
requests" table). The refusal's body is ARM's, as a client sees it (velero-io/velero#9171, a 429 from
management.azure.com): ``{"error": {"code": "SubscriptionRequestsThrottled", "message": "Number of 'read' requests
for subscription '…' actor '…' exceeded. Please try again after '1' seconds after additional tokens are available.
Refer to https://aka.ms/arm-throttling for additional information."}}``.

Reads are GET and HEAD, deletes DELETE, writes everything else (PUT, PATCH, POST actions). Requests without a
subscription in their path (tenant level) are not served by the emulators and are let through uncounted.

The buckets run on the emulators' clock (virtual in tests and the demo): time passes only when the host jumps or a
client sleeps, so requests made "at once" in virtual time drain a bucket faster than the wall clock would let them.
That is harsher than the cloud, never kinder. The buckets are not saved with the clouds' state: a restored
environment starts with full buckets (as after a quiet spell).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from local.clock import Clock

__all__ = ["Admission", "ArmLimits", "ArmRateLimiter", "BucketCounts", "BucketLimit", "OperationKind"]

_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)


class OperationKind(StrEnum):
    READS = "reads"
    WRITES = "writes"
    DELETES = "deletes"

    @classmethod
    def of(cls, method: str) -> OperationKind:
        verb = method.upper()
        if verb in {"GET", "HEAD"}:
            return cls.READS
        if verb == "DELETE":
            return cls.DELETES
        return cls.WRITES

    @property
    def singular(self) -> str:
        return self.value[:-1]


class BucketLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(ge=1)
    refill_per_second: float = Field(gt=0)


class ArmLimits(BaseModel):
    """The buckets' figures: Microsoft's by default; tests plant small ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reads: BucketLimit = BucketLimit(size=250, refill_per_second=25)
    writes: BucketLimit = BucketLimit(size=200, refill_per_second=10)
    deletes: BucketLimit = BucketLimit(size=200, refill_per_second=10)

    def of(self, kind: OperationKind) -> BucketLimit:
        limit: BucketLimit = getattr(self, kind.value)
        return limit


@dataclass(frozen=True)
class Admission:
    """ARM's verdict on one request: the headers a passing answer carries, or the refusal to send instead."""

    headers: dict[str, str]
    throttled: bool = False
    status: int = 200
    body: dict[str, object] | None = None


@dataclass
class BucketCounts:
    """What one kind of request met: how many were sent and how many were refused with 429."""

    requests: int = 0
    throttled: int = 0

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.requests if self.requests else 0.0


@dataclass
class _Bucket:
    tokens: float
    at: datetime


@dataclass
class ArmRateLimiter:
    """ARM's token buckets per (subscription, principal, operation kind) on ``clock``. Thread-safe."""

    clock: Clock
    limits: ArmLimits = field(default_factory=ArmLimits)
    _buckets: dict[tuple[str, str, OperationKind], _Bucket] = field(default_factory=dict)
    _counts: dict[OperationKind, BucketCounts] = field(
        default_factory=lambda: {kind: BucketCounts() for kind in OperationKind}
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, method: str, path: str, headers: dict[str, str]) -> Admission:
        """Take a token for one request, or refuse it (429, Retry-After, ARM's error body)."""
        found = _SUBSCRIPTION.match(path)
        if found is None:
            return Admission(headers={})
        subscription = found.group(1).lower()
        principal = _principal(headers)
        kind = OperationKind.of(method)
        limit = self.limits.of(kind)
        with self._lock:
            now = self.clock.now()
            bucket = self._buckets.get((subscription, principal, kind))
            if bucket is None:
                bucket = self._buckets[(subscription, principal, kind)] = _Bucket(float(limit.size), now)
            elapsed = max(0.0, (now - bucket.at).total_seconds())
            bucket.tokens = min(float(limit.size), bucket.tokens + elapsed * limit.refill_per_second)
            bucket.at = now
            counts = self._counts[kind]
            counts.requests += 1
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                remaining = str(int(bucket.tokens))
                return Admission(headers={f"x-ms-ratelimit-remaining-subscription-{kind.value}": remaining})
            counts.throttled += 1
            wait = max(1, math.ceil((1.0 - bucket.tokens) / limit.refill_per_second))
        message = (
            f"Number of '{kind.singular}' requests for subscription '{found.group(1)}' actor '{principal}' exceeded. "
            f"Please try again after '{wait}' seconds after additional tokens are available. "
            "Refer to https://aka.ms/arm-throttling for additional information."
        )
        return Admission(
            headers={"Retry-After": str(wait)},
            throttled=True,
            status=429,
            body={"error": {"code": "SubscriptionRequestsThrottled", "message": message}},
        )

    def counts(self) -> dict[str, BucketCounts]:
        """Requests and throttled answers per bucket kind (``reads``, ``writes``, ``deletes``), all subscriptions
        and principals together: copies, for a benchmark to report the throttled share."""
        with self._lock:
            return {kind.value: BucketCounts(c.requests, c.throttled) for kind, c in self._counts.items()}

    def remaining(self, subscription: str, principal: str, kind: OperationKind | str) -> float:
        """Tokens left in one bucket now (a full bucket when it was never used)."""
        kind = OperationKind(kind)
        limit = self.limits.of(kind)
        with self._lock:
            bucket = self._buckets.get((subscription.lower(), principal, kind))
            if bucket is None:
                return float(limit.size)
            elapsed = max(0.0, (self.clock.now() - bucket.at).total_seconds())
            return min(float(limit.size), bucket.tokens + elapsed * limit.refill_per_second)


def _principal(headers: dict[str, str]) -> str:
    """Who is asking: the bearer token stands for its principal (the emulators' credential hands out one token)."""
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return auth.removeprefix("Bearer ").strip() or "anonymous"
