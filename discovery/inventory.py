"""Which instances, and their preflight facts: the same fact-gathering as the ``inventory`` Lambda.

Listing is paged (``describe_instances`` with filters); the facts come from the Lambda's own EC2 gateway
(batched describe of instances, volumes and images) and its ``instance_facts`` mapping, with SSM's view of the
managed instances from any :class:`ManagedInstanceLookup` (the boto3 SSM gateway in AWS; locally, the guest
emulator's gateway, since moto lacks DescribeInstanceInformation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambdas.gateways.ec2 import Boto3Ec2Gateway
from aws_lambdas.gateways.errors import aws_errors
from aws_lambdas.gateways.ports import ManagedInstance
from aws_lambdas.inventory.handler import instance_facts
from shared.errors import InvalidRequestError
from shared.facts import InstanceFacts

# Everything but terminated / shutting-down: a stopped instance is listed (and reported not ready).
LISTED_STATES = ("pending", "running", "stopping", "stopped")
MAX_FILTER_VALUES = 200


class ManagedInstanceLookup(Protocol):
    def describe_managed_instances(self, instance_ids: Sequence[str]) -> dict[str, ManagedInstance]: ...


def parse_filter(text: str) -> tuple[str, str]:
    """``tag:K=V`` (or ``K=V``, read as a tag) → (``tag:K``, ``V``); ``V`` may hold ``,`` for several values."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name or name == "tag:":
        raise InvalidRequestError(f"--filter {text!r}: expected tag:KEY=VALUE")
    if not name.startswith("tag:") and name not in {"instance-type", "vpc-id", "subnet-id", "instance-state-name"}:
        name = f"tag:{name}"
    return name, value


def ec2_filters(filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    built = [{"Name": name, "Values": values} for name, values in filters.items()]
    if "instance-state-name" not in filters:
        built.append({"Name": "instance-state-name", "Values": list(LISTED_STATES)})
    return built


def list_instance_ids(ec2_client: Any, filters: dict[str, list[str]], instance_ids: Sequence[str] = ()) -> list[str]:
    """Ids of the instances matching every filter (and among ``instance_ids`` when given), paged."""
    paginator = ec2_client.get_paginator("describe_instances")
    base = ec2_filters(filters)
    batches = (
        [list(instance_ids[i : i + MAX_FILTER_VALUES]) for i in range(0, len(instance_ids), MAX_FILTER_VALUES)]
        if instance_ids
        else [[]]
    )
    found: list[str] = []
    for batch in batches:
        query = base + ([{"Name": "instance-id", "Values": batch}] if batch else [])
        with aws_errors("DescribeInstances", ",".join(batch) or "filters"):
            for page in paginator.paginate(Filters=query, PaginationConfig={"PageSize": 500}):
                for reservation in page.get("Reservations", []):
                    found.extend(str(raw["InstanceId"]) for raw in reservation.get("Instances", []))
    return list(dict.fromkeys(found))


@dataclass
class Inventory:
    facts: list[InstanceFacts]
    not_found: list[str] = field(default_factory=list)
    image_ids: dict[str, str] = field(default_factory=dict)


def gather_facts(ec2_client: Any, ssm: ManagedInstanceLookup, region: str, instance_ids: Sequence[str]) -> Inventory:
    """Preflight facts for the instances, in the order given; ids EC2 does not know go to ``not_found``."""
    gateway = Boto3Ec2Gateway(region, client=ec2_client)
    described = gateway.describe_instances(instance_ids)
    found = [described[i] for i in instance_ids if i in described]
    volumes = gateway.describe_volumes(found) if found else {}
    images = gateway.describe_images([d.image_id for d in found]) if found else {}
    managed = ssm.describe_managed_instances([d.instance_id for d in found]) if found else {}
    facts = [
        instance_facts(
            d,
            region=region,
            volumes=volumes.get(d.instance_id, []),
            image=images.get(d.image_id),
            managed=managed.get(d.instance_id),
        )
        for d in found
    ]
    return Inventory(
        facts=facts,
        not_found=[i for i in instance_ids if i not in described],
        image_ids={d.instance_id: d.image_id for d in found},
    )
