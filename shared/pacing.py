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

The batch starts its VMs in groups (:func:`start_groups`): the VMs whose slots fall within
:data:`START_GROUP_SECONDS` of a group's first slot start together, at that slot. The average rate is the same (ten
VMs every ten seconds), a group spends at most 20 of the security-group bucket's burst of 50, and the wait before a
start is one durable timer per group in the batch's orchestration instead of one per VM in each VM's (a timer is an
orchestration episode: a billed execution and storage transactions in Azure).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

#: Seconds between two VM starts of one wave (see above).
START_INTERVAL_SECONDS = 1.0
#: The VMs whose start slots fall within this many seconds of a group's first start together (see above).
START_GROUP_SECONDS = 10.0


def start_slots(now: datetime, next_free: datetime, count: int, interval: float) -> tuple[list[datetime], datetime]:
    """The start times of ``count`` VMs launched at ``now``, one every ``interval`` seconds from the first free slot
    (``next_free``, or ``now`` if that is earlier); returns them and the next free slot."""
    slot = max(now, next_free)
    step = timedelta(seconds=max(0.0, interval))
    slots = [slot + index * step for index in range(count)]
    return slots, slot + count * step


def start_groups(slots: Sequence[datetime], span: float = START_GROUP_SECONDS) -> list[tuple[datetime, list[int]]]:
    """The starts of VMs with these ``slots``, grouped: each group starts at its earliest slot and holds every VM
    whose slot is less than ``span`` seconds later; returns (start, the VMs' indices in ``slots``), earliest first."""
    groups: list[tuple[datetime, list[int]]] = []
    for index in sorted(range(len(slots)), key=lambda i: slots[i]):
        if groups and (slots[index] - groups[-1][0]).total_seconds() < span:
            groups[-1][1].append(index)
        else:
            groups.append((slots[index], [index]))
    return groups
