"""EC2's API request rate limits, enforced by the emulated AWS (moto's server) on the pipeline's clock.

AWS, "Request throttling for the Amazon EC2 API" (https://docs.aws.amazon.com/ec2/latest/devguide/
ec2-api-throttling.html): EC2 throttles each account per Region with token buckets; each API is evaluated on its
own; a request takes one token from its API's bucket; a bucket refills at a set rate up to its maximum capacity
(refill tokens arriving at a full bucket are discarded); a request finding no token fails with
``RequestLimitExceeded``. The figures used here are that page's ("Request token bucket sizes and refill rates"):

* ``AuthorizeSecurityGroupIngress``, ``RevokeSecurityGroupIngress``: *resource-intensive actions*, 50 / 5 per s;
* ``AuthorizeSecurityGroupEgress``, ``RevokeSecurityGroupEgress``: *mutating actions* (not listed elsewhere),
  50 / 5 per s;
* ``DescribeInstances`` requested with neither a filter nor pagination: *unfiltered and unpaginated non-mutating
  actions*, 50 / 10 per s (its own, smaller bucket); with a ``Filter`` or pagination (``MaxResults`` /
  ``NextToken``) it is a plain *non-mutating action*, 100 / 20 per s. The page names no other parameter, so a
  lookup by ``InstanceId`` alone counts as unfiltered (the smaller bucket: the stricter reading). The pipeline's
  gateway reads instances with an ``instance-id`` filter, so it draws from the 100 / 20 bucket (our issue gave
  50 / 10 for DescribeInstances, the unfiltered figure);
* ``CreateTags``: an *uncategorized action* with its own bucket, 100 / 10 per s.

The throttled answer is EC2's error response (API reference, "Error codes for the Amazon EC2 API": the
``<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`` shape, and that page's
message for ``RequestLimitExceeded``, which it lists among the server errors, "accompanied by a 500-series HTTP
response code") with HTTP 503, the status botocore's own retry model pairs with it for EC2
(botocore/data/_retry.json, ``ec2.__default__.policies.request_limit_exceeded``); botocore's standard retry mode
lists the code among its throttling errors (botocore/retries/standard.py, ``ThrottledRetryableChecker``).

The buckets and figures here import nothing of moto; :func:`install` (called in moto's server process by
local/aws/server.py) wraps moto's EC2 responses with them and serves the counts on :data:`COUNTS_PATH`. The time
is the parent's clock, read over the guest bridge (``RemoteGuest.now``), or the wall clock without a bridge.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Bucket names (one per API, as EC2 evaluates them) → (maximum capacity, refill tokens per second).
DEFAULT_EC2_RATE_LIMITS: dict[str, tuple[float, float]] = {
    "AuthorizeSecurityGroupIngress": (50, 5),
    "RevokeSecurityGroupIngress": (50, 5),
    "AuthorizeSecurityGroupEgress": (50, 5),
    "RevokeSecurityGroupEgress": (50, 5),
    "DescribeInstances": (100, 20),
    "DescribeInstances.Unfiltered": (50, 10),
    "CreateTags": (100, 10),
}
LIMITED_ACTIONS = frozenset(name.partition(".")[0] for name in DEFAULT_EC2_RATE_LIMITS)
UNFILTERED_SUFFIX = ".Unfiltered"

THROTTLED_STATUS = 503
THROTTLED_CODE = "RequestLimitExceeded"
THROTTLED_MESSAGE = (
    "The maximum request rate permitted by the Amazon EC2 APIs has been exceeded for your account. For best "
    "results, use an increasing or variable sleep interval between requests. For more information, see Query API "
    "request rate."
)
#: Seconds the caller's SDK has slept between retries within the current Lambda invocation (the local runtime
#: sends it; see local/aws/virtual_backoff.py): the caller's time is the clock's plus these.
BACKOFF_HEADER = "x-ec2az-local-backoff-seconds"
#: moto's server answers the limiter's counts here (GET, JSON).
COUNTS_PATH = "/_local/ec2-throttle"


@dataclass
class TokenBucket:
    """AWS's token bucket: starts full; every whole second, ``refill`` tokens are added back, up to ``capacity``
    ("a set number of tokens is added back to it every second until it reaches its maximum capacity": tokens
    arrive once a second, not continuously, so a request a fraction of a second after the bucket emptied finds
    none)."""

    capacity: float
    refill: float
    tokens: float = -1.0
    #: The time of the bucket's last refill tick (seconds); its ticks fall every whole second after it.
    ticked: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float) -> bool:
        """One token at time ``now`` (seconds), if there is one. Time never runs backwards for a bucket: a request
        stamped before its last tick refills nothing."""
        if self.ticked is None:
            self.ticked = now
        ticks = math.floor(now - self.ticked + _EPSILON)
        if ticks > 0:
            self.tokens = min(self.capacity, self.tokens + ticks * self.refill)
            self.ticked += ticks
        if self.tokens >= 1 - _EPSILON:
            self.tokens = max(0.0, self.tokens - 1)
            return True
        return False


#: Timestamps are floats: a clock moved by exactly one second must make one tick.
_EPSILON = 1e-6


@dataclass
class Ec2Throttle:
    """The account's buckets per Region, and what they answered per bucket."""

    limits: Mapping[str, tuple[float, float]]
    now: Callable[[], float]
    exempt_access_keys: frozenset[str] = frozenset()
    _buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    _counts: dict[str, dict[str, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, region: str, bucket: str, backoff_seconds: float = 0.0) -> bool:
        """Whether a request for ``bucket`` in ``region`` gets a token; counted either way."""
        if bucket not in self.limits:
            return True
        at = self.now() + max(0.0, backoff_seconds)
        with self._lock:
            key = (region, bucket)
            if key not in self._buckets:
                capacity, refill = self.limits[bucket]
                self._buckets[key] = TokenBucket(capacity, refill)
            admitted = self._buckets[key].take(at)
            counts = self._counts.setdefault(bucket, {"requests": 0, "throttled": 0})
            counts["requests"] += 1
            counts["throttled"] += 0 if admitted else 1
        return admitted

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(values) for name, values in self._counts.items()}


def bucket_for(action: str, params: Mapping[str, Any]) -> str | None:
    """The bucket a request for ``action`` (with its query parameters) draws from, or None when not limited."""
    if action not in LIMITED_ACTIONS:
        return None
    if action == "DescribeInstances":
        filtered = any(key.startswith("Filter.") for key in params)
        paginated = "MaxResults" in params or "NextToken" in params
        return action if filtered or paginated else action + UNFILTERED_SUFFIX
    return action


def throttled_body(request_id: str | None = None) -> str:
    """EC2's error response for a throttled request."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{THROTTLED_CODE}</Code><Message>{THROTTLED_MESSAGE}</Message></Error>"
        f"</Errors><RequestID>{request_id or uuid.uuid4()}</RequestID></Response>"
    )


def parse_limits(text: str) -> dict[str, tuple[float, float]]:
    """Limits from the server's command line (JSON ``{bucket: [capacity, refill]}``), over the defaults."""
    limits = dict(DEFAULT_EC2_RATE_LIMITS)
    for name, (capacity, refill) in (json.loads(text) if text else {}).items():
        if name not in DEFAULT_EC2_RATE_LIMITS:
            raise ValueError(f"no EC2 rate limit named {name!r}; have {', '.join(DEFAULT_EC2_RATE_LIMITS)}")
        limits[name] = (float(capacity), float(refill))
    return limits


def install(throttle: Ec2Throttle) -> None:
    """Make this process's moto EC2 answer as :data:`throttle` says, and serve its counts on :data:`COUNTS_PATH`."""
    from moto.ec2.responses import EC2Response  # noqa: PLC0415 - moto only in the emulated AWS's process
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: PLC0415

    call_action = EC2Response.call_action

    def throttled_call_action(self: Any) -> Any:
        bucket = bucket_for(str(self._get_action() or ""), self.querystring)
        if bucket is not None and _caller_key(self.headers) not in throttle.exempt_access_keys:
            backoff = _seconds(self.headers.get(BACKOFF_HEADER))
            if not throttle.admit(str(self.region), bucket, backoff):
                headers = {"Content-Type": "text/xml;charset=UTF-8"}
                return THROTTLED_STATUS, headers, throttled_body()
        return call_action(self)

    EC2Response.call_action = throttled_call_action  # type: ignore[method-assign]

    dispatch = DomainDispatcherApplication.__call__

    def serve_counts(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == COUNTS_PATH and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps(throttle.counts()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return dispatch(app, environ, start_response)

    DomainDispatcherApplication.__call__ = serve_counts  # type: ignore[method-assign,assignment]


def _caller_key(headers: Any) -> str:
    authorization = str(headers.get("Authorization") or "")
    return authorization.partition("Credential=")[2].partition("/")[0]


def _seconds(raw: Any) -> float:
    try:
        return max(0.0, float(raw)) if raw else 0.0
    except ValueError:
        return 0.0


def throttle_counts(endpoint_url: str) -> dict[str, dict[str, int]]:
    """What the emulated EC2's limiter answered, per bucket: ``{"CreateTags": {"requests": n, "throttled": m}}``."""
    import urllib.request  # noqa: PLC0415

    if not endpoint_url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"the emulated AWS is reached on the loopback interface only, not {endpoint_url}")
    with urllib.request.urlopen(endpoint_url + COUNTS_PATH, timeout=10) as response:  # noqa: S310 - loopback
        counts: dict[str, dict[str, int]] = json.loads(response.read())
    return counts
