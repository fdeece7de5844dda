"""Lambda ``inventory``: preflight facts (InstanceFacts) for many instances in one call.

Batched EC2 describe calls (instances, volumes, images) and one SSM managed-instance lookup per 50 instances.
OS name/version come from SSM when the instance is managed, else from the AMI's name.
"""

from __future__ import annotations

import re

from aws_lambda_powertools.metrics import MetricUnit

from aws_lambdas.gateways.ports import ImageDescription, InstanceDescription, ManagedInstance
from aws_lambdas.runtime import Invocation, lambda_function, metrics, tracer
from shared.aws_contracts import InventoryEvent, InventoryResult
from shared.facts import InstanceFacts, Volume

# AMI name patterns → (OS name, version). Only a fallback for instances SSM does not manage.
_AMI_OS_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ubuntu[-/a-z]*?(\d{2}\.\d{2})", re.I), "Ubuntu"),
    (re.compile(r"^RHEL-(\d+(?:\.\d+)?)", re.I), "Red Hat Enterprise Linux"),
    (re.compile(r"^amzn2-ami", re.I), "Amazon Linux"),
    (re.compile(r"^al2023-ami", re.I), "Amazon Linux"),
    (re.compile(r"^amzn-ami-[a-z]+-(\d{4}\.\d{2})", re.I), "Amazon Linux AMI"),
    (re.compile(r"suse-sles-(\d+(?:-sp\d+)?)", re.I), "SUSE Linux Enterprise Server"),
    (re.compile(r"debian-(\d+)", re.I), "Debian"),
    (re.compile(r"^CentOS[ -]?(?:Linux )?(\d+(?:\.\d+)?)", re.I), "CentOS Linux"),
    (re.compile(r"^Rocky-\d+-EC2-[A-Za-z]+-(\d+(?:\.\d+)?)", re.I), "Rocky Linux"),
    (re.compile(r"^AlmaLinux OS (\d+(?:\.\d+)?)", re.I), "AlmaLinux"),
    (re.compile(r"^OL(\d+(?:\.\d+)?)-", re.I), "Oracle Linux"),
    (re.compile(r"^Windows_Server-(\d{4}(?:-R2)?)", re.I), "Microsoft Windows Server"),
)


def os_from_image(image: ImageDescription | None) -> tuple[str, str]:
    if image is None:
        return "", ""
    for text in (image.name, image.description):
        for pattern, os_name in _AMI_OS_PATTERNS:
            match = pattern.search(text)
            if match:
                version = match.group(1) if match.groups() else ""
                if os_name == "Amazon Linux" and not version:
                    version = "2023" if text.lower().startswith("al2023") else "2"
                version = version.replace("-sp", " SP").replace("-R2", " R2")
                if os_name == "Microsoft Windows Server":  # the release is part of the name, as SSM reports it
                    return f"{os_name} {version}", version
                return os_name, version
    return "", ""


def instance_facts(
    desc: InstanceDescription,
    *,
    region: str,
    volumes: list[Volume],
    image: ImageDescription | None,
    managed: ManagedInstance | None,
) -> InstanceFacts:
    if managed is not None and managed.platform_name:
        os_name, os_version = managed.platform_name, managed.platform_version
    else:
        os_name, os_version = os_from_image(image)
    return InstanceFacts(
        instance_id=desc.instance_id,
        region=region,
        name=desc.name,
        instance_type=desc.instance_type,
        platform=desc.platform,
        os_name=os_name,
        os_version=os_version,
        virtualization_type=desc.virtualization_type,
        architecture=desc.architecture,
        state=desc.state,
        ssm_managed=managed is not None,
        ssm_ping_status=managed.ping_status if managed else "",
        root_device_name=desc.root_device_name,
        root_device_type=desc.root_device_type,
        volumes=tuple(volumes),
        private_ip=desc.private_ip,
        vpc_id=desc.vpc_id,
        subnet_id=desc.subnet_id,
        security_group_ids=desc.security_group_ids,
        tags=dict(desc.tags),
    )


@lambda_function("inventory", InventoryEvent)
def inventory(event: InventoryEvent, invocation: Invocation) -> InventoryResult:
    ec2, ssm = invocation.gateways.ec2, invocation.gateways.ssm
    described = ec2.describe_instances(event.instance_ids)
    found = [described[i] for i in event.instance_ids if i in described]
    volumes = ec2.describe_volumes(found) if found else {}
    images = ec2.describe_images([d.image_id for d in found])
    managed = ssm.describe_managed_instances([d.instance_id for d in found]) if found else {}
    facts = [
        instance_facts(
            d,
            region=invocation.region,
            volumes=volumes.get(d.instance_id, []),
            image=images.get(d.image_id),
            managed=managed.get(d.instance_id),
        )
        for d in found
    ]
    not_found = [i for i in event.instance_ids if i not in described]
    metrics.add_metric(name="InstancesInventoried", unit=MetricUnit.Count, value=len(facts))
    tracer.put_metadata(key="not_found", value=not_found)
    return InventoryResult(facts=facts, not_found=not_found)


lambda_handler = inventory
