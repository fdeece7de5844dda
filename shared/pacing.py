"""How fast a wave starts its VMs, so that its calls stay inside the clouds' request rate limits (pure).

The clouds meter calls with token buckets: a burst, then a steady refill. A wave that starts every VM at once spends
the bursts on its first step and is throttled for the rest of it. The tightest buckets a VM's start meets:

- EC2's security-group rule mutations (AuthorizeSecurityGroupIngress / Revoke…), 50 burst then 5 per second per
  account and Region ("Request throttling for the Amazon EC2 API"): ``prepare_network`` authorizes the VM's
  replication rules (one call per purpose: replication, and discovery when asked) and the revert at the end revokes
  them, so a VM costs up to 2 calls of that bucket when it starts and 2 when it ends;
- Azure Resource Manager's writes, 200 burst then 10 per second per subscription and principal ("Understand how Azure
  Resource Manager throttles requests"): a VM's enable, test failover, clean-up, failover, commit and removal are
  six writes spread over its lifecycle.

Starting one VM every :data:`START_INTERVAL_SECONDS` keeps a wave's steady demand at ≤ 2 security-group calls per
second at its start and as many at its end (against a refill of 5), and its Site Recovery writes well under 10 per
second, leaving headroom for the Lambdas' own retries and for another wave in the same account. The VMs' later steps
keep the spacing they started with (their durations differ, which only spreads them more).
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: Seconds between two VM starts of one wave (see above).
START_INTERVAL_SECONDS = 1.0


def start_slots(now: datetime, next_free: datetime, count: int, interval: float) -> tuple[list[datetime], datetime]:
    """The start times of ``count`` VMs launched at ``now``, one every ``interval`` seconds from the first free slot
    (``next_free``, or ``now`` if that is earlier); returns them and the next free slot."""
    slot = max(now, next_free)
    step = timedelta(seconds=max(0.0, interval))
    slots = [slot + index * step for index in range(count)]
    return slots, slot + count * step
