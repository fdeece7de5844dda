"""botocore's retry backoff inside a local Lambda invocation: counted on the caller's time, not slept for real.

In AWS a Lambda's boto3 client in standard retry mode sleeps between attempts (botocore/retries/standard.py,
``ExponentialBackoff``: ``rand(0, 1) * min(2 ** attempt, 20)`` seconds after a throttling error), and while it sleeps
EC2's buckets refill. Locally the pipeline's clock is virtual and does not move while an activity runs, so a real
sleep would cost the benchmark real seconds and refill nothing: every retry would meet the same empty bucket, a
harsher EC2 than AWS's, and a slower run.

Instead, inside :func:`virtual_backoff` (the local Lambda runtime wraps each invocation in it), botocore's sleep
returns at once and adds its seconds to the invocation's backoff, and every EC2 request of the invocation carries
the backoff so far in :data:`~local.aws.ec2_throttle.BACKOFF_HEADER`. The emulated EC2 stamps the request with the
pipeline's clock plus that backoff: the caller's retry meets the bucket as it would be after the sleep, exactly
the refill AWS would have granted in that time. A bucket's time never runs backwards
(:class:`~local.aws.ec2_throttle.TokenBucket`), so the tokens that refill over any stretch of time are never more
than AWS's: a later request stamped with the bare clock finds no extra refill until the clock passes the sleeper's
time. botocore's attempt count, jitter and retry quota are its own; only the waiting is virtual.

Outside an invocation (seeding, tests, the CLI) botocore sleeps for real, as ever.
"""

from __future__ import annotations

import functools
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local.aws.ec2_throttle import BACKOFF_HEADER


@dataclass
class Backoff:
    """Seconds botocore has waited (virtually) so far in one Lambda invocation."""

    seconds: float = 0.0


_current = threading.local()


def current() -> Backoff | None:
    backoff: Backoff | None = getattr(_current, "backoff", None)
    return backoff


class _BotocoreTime(types.ModuleType):
    """The ``time`` module as botocore's endpoint sees it: ``sleep`` is virtual inside an invocation."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        backoff = current()
        if backoff is None:
            time.sleep(seconds)
        else:
            backoff.seconds += max(0.0, float(seconds))


@functools.cache
def install() -> None:
    """Route botocore's retry sleeps (``botocore.endpoint``: ``time.sleep(handler_response)``) through
    :class:`_BotocoreTime`; once per process."""
    import botocore.endpoint  # noqa: PLC0415

    botocore.endpoint.time = _BotocoreTime("time")


@contextmanager
def virtual_backoff() -> Iterator[Backoff]:
    """Within the block, this thread's botocore retries wait on :class:`Backoff` instead of the wall clock."""
    install()
    outer = current()
    backoff = Backoff()
    _current.backoff = backoff
    try:
        yield backoff
    finally:
        _current.backoff = outer


def _stamp(request: Any, **_: Any) -> None:
    backoff = current()
    if backoff is not None and backoff.seconds:
        request.headers[BACKOFF_HEADER] = f"{backoff.seconds:.6f}"


def stamp_backoff(client: Any) -> Any:
    """Make ``client``'s EC2 requests carry the invocation's backoff (the emulated EC2 refills its buckets by it)."""
    client.meta.events.register("before-send.ec2", _stamp)
    return client
