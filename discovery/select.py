"""Requests that select their VMs by tag: ``select: {region, filters: {"tag:K": V, ...}}`` instead of ``vms``.

:func:`resolve_selection` turns the selection into instance ids when the request is submitted, so the queue
message always lists its VMs (the wave is fixed at submission; re-tagging later changes nothing in flight).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discovery.inventory import list_instance_ids
from shared.errors import InvalidRequestError
from shared.request import MAX_VMS_PER_REQUEST

_ALLOWED_FILTERS = ("instance-type", "vpc-id", "subnet-id")


def _filters(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidRequestError('select.filters: expected a non-empty mapping like {"tag:Wave": "1"}')
    filters: dict[str, list[str]] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not ((name.startswith("tag:") and len(name) > 4) or name in _ALLOWED_FILTERS):
            raise InvalidRequestError(
                f"select.filters.{name}: expected tag:KEY (or one of {', '.join(_ALLOWED_FILTERS)})"
            )
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
            raise InvalidRequestError(f"select.filters.{name}: expected a string or a list of strings")
        filters[name] = [str(v) for v in values]
    return filters


def resolve_selection(data: dict[str, Any], ec2_client: Any) -> dict[str, Any]:
    """Return a copy of the raw request with ``vms`` listing the matching instances and ``select`` removed.

    Raises :class:`InvalidRequestError` when both or neither of ``vms`` and ``select`` are given, when the
    selection is malformed, when nothing matches, or when more instances match than a request may hold.
    The replication appliance (``appliance.instance_id``) is never selected.
    """
    if "select" not in data:
        return dict(data)
    if "vms" in data:
        raise InvalidRequestError("select: give either vms or select, not both")
    select = data["select"]
    if not isinstance(select, Mapping):
        raise InvalidRequestError("select: expected a mapping with region and filters")
    unknown = sorted(set(select) - {"region", "filters"})
    if unknown:
        raise InvalidRequestError(f"select.{unknown[0]}: unknown field (expected region and filters)")
    region = select.get("region") or data.get("region")
    if not isinstance(region, str) or not region:
        raise InvalidRequestError("select.region: required (or the request's region)")
    filters = _filters(select.get("filters"))
    appliance = data.get("appliance")
    appliance_id = appliance.get("instance_id") if isinstance(appliance, Mapping) else None
    ids = [i for i in list_instance_ids(ec2_client, filters) if i != appliance_id]
    described = ", ".join(f"{k}={','.join(v)}" for k, v in filters.items())
    if not ids:
        raise InvalidRequestError(f"select: no EC2 instance in {region} matches {described}")
    if len(ids) > MAX_VMS_PER_REQUEST:
        raise InvalidRequestError(
            f"select: {len(ids)} instances match {described}; a request takes at most {MAX_VMS_PER_REQUEST}: "
            "narrow the filters or split the wave"
        )
    resolved = {k: v for k, v in data.items() if k != "select"}
    vm_region = None if region == data.get("region") else region
    resolved.setdefault("region", region)
    resolved["vms"] = [{"instance_id": i, **({"region": vm_region} if vm_region else {})} for i in sorted(ids)]
    return resolved
