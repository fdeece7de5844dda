"""EC2 gateway: instances, volumes, images, security group rules, power state, tags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from aws_lambdas.gateways.clients import make_client
from aws_lambdas.gateways.errors import aws_errors, error_code
from aws_lambdas.gateways.ports import ImageDescription, IngressRule, InstanceDescription, StateChange
from shared.facts import Platform, Volume

# EC2 filters accept up to 200 values; describe calls are batched by this size.
FILTER_BATCH = 200
POWER_BATCH = 100


def _chunks(values: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _tags(raw: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in raw or ()}


class Boto3Ec2Gateway:
    """EC2 over boto3. Pass ``client`` in tests; a default client is built from ``region`` when omitted."""

    def __init__(self, region: str, client: Any = None, *, max_attempts: int = 5) -> None:
        self.region = region
        self._client = client if client is not None else make_client("ec2", region, max_attempts)

    def describe_instances(self, instance_ids: Sequence[str]) -> dict[str, InstanceDescription]:
        """Instances by id; ids that do not exist are simply absent (a filter, so one bad id fails nothing)."""
        found: dict[str, InstanceDescription] = {}
        paginator = self._client.get_paginator("describe_instances")
        for batch in _chunks(list(instance_ids), FILTER_BATCH):
            with aws_errors("DescribeInstances", ",".join(batch)):
                for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": batch}]):
                    for reservation in page.get("Reservations", []):
                        for raw in reservation.get("Instances", []):
                            found[raw["InstanceId"]] = self._instance(raw)
        return found

    @staticmethod
    def _instance(raw: Mapping[str, Any]) -> InstanceDescription:
        platform = Platform.WINDOWS if str(raw.get("Platform", "")).lower() == "windows" else Platform.LINUX
        return InstanceDescription(
            instance_id=raw["InstanceId"],
            state=str(raw.get("State", {}).get("Name", "")),
            platform=platform,
            image_id=str(raw.get("ImageId", "")),
            instance_type=str(raw.get("InstanceType", "")),
            private_ip=str(raw.get("PrivateIpAddress", "")),
            vpc_id=str(raw.get("VpcId", "")),
            subnet_id=str(raw.get("SubnetId", "")),
            security_group_ids=tuple(str(g["GroupId"]) for g in raw.get("SecurityGroups", [])),
            virtualization_type=str(raw.get("VirtualizationType", "hvm")),
            architecture=str(raw.get("Architecture", "x86_64")),
            root_device_name=str(raw.get("RootDeviceName", "")),
            root_device_type=str(raw.get("RootDeviceType", "ebs")),
            tags=_tags(raw.get("Tags")),
        )

    def describe_volumes(self, instances: Sequence[InstanceDescription]) -> dict[str, list[Volume]]:
        """Attached EBS volumes per instance, in one batched call per 200 instances."""
        roots = {i.instance_id: i.root_device_name for i in instances}
        instance_ids = list(roots)
        volumes: dict[str, list[Volume]] = {i: [] for i in instance_ids}
        paginator = self._client.get_paginator("describe_volumes")
        for batch in _chunks(instance_ids, FILTER_BATCH):
            with aws_errors("DescribeVolumes", ",".join(batch)):
                for page in paginator.paginate(Filters=[{"Name": "attachment.instance-id", "Values": batch}]):
                    for raw in page.get("Volumes", []):
                        for attachment in raw.get("Attachments", []):
                            owner = attachment.get("InstanceId", "")
                            if owner not in volumes:
                                continue
                            device = str(attachment.get("Device", ""))
                            volumes[owner].append(
                                Volume(
                                    device_name=device,
                                    volume_id=str(raw.get("VolumeId", "")),
                                    size_gib=int(raw.get("Size", 0)),
                                    volume_type=str(raw.get("VolumeType", "gp3")),
                                    iops=raw.get("Iops"),
                                    is_root=bool(device) and device == roots.get(owner),
                                )
                            )
        for owned in volumes.values():
            owned.sort(key=lambda v: v.device_name)
        return volumes

    def describe_images(self, image_ids: Sequence[str]) -> dict[str, ImageDescription]:
        images: dict[str, ImageDescription] = {}
        unique = sorted({i for i in image_ids if i})
        for batch in _chunks(unique, FILTER_BATCH):
            with aws_errors("DescribeImages", ",".join(batch)):
                response = self._client.describe_images(Filters=[{"Name": "image-id", "Values": batch}])
            for raw in response.get("Images", []):
                images[raw["ImageId"]] = ImageDescription(
                    image_id=raw["ImageId"],
                    name=str(raw.get("Name", "")),
                    description=str(raw.get("Description", "")),
                    platform_details=str(raw.get("PlatformDetails", "")),
                )
        return images

    def ingress_rules(self, group_id: str, rule_ids: Sequence[str] = ()) -> list[IngressRule]:
        """The group's ingress rules; raises SecurityGroupNotFoundError when the group does not exist.

        With ``rule_ids``, only those rules that still exist (a busy appliance group holds two rules per VM in
        flight), and a missing group simply has none of them.
        """
        filters = [{"Name": "group-id", "Values": [group_id]}]
        if rule_ids:
            filters.append({"Name": "security-group-rule-id", "Values": list(rule_ids)})
        else:
            with aws_errors("DescribeSecurityGroups", group_id):
                self._client.describe_security_groups(GroupIds=[group_id])
        rules: list[IngressRule] = []
        paginator = self._client.get_paginator("describe_security_group_rules")
        with aws_errors("DescribeSecurityGroupRules", group_id):
            for page in paginator.paginate(Filters=filters):
                for raw in page.get("SecurityGroupRules", []):
                    if raw.get("IsEgress"):
                        continue
                    rules.append(
                        IngressRule(
                            rule_id=str(raw["SecurityGroupRuleId"]),
                            group_id=str(raw.get("GroupId", group_id)),
                            protocol=str(raw.get("IpProtocol", "")),
                            from_port=int(raw.get("FromPort", -1)),
                            to_port=int(raw.get("ToPort", -1)),
                            cidr=str(raw.get("CidrIpv4", "")),
                            source_group_id=str(raw.get("ReferencedGroupInfo", {}).get("GroupId", "")),
                            tags=_tags(raw.get("Tags")),
                        )
                    )
        return rules

    def authorize_ingress(
        self,
        group_id: str,
        *,
        port: int,
        cidr: str = "",
        source_group_id: str = "",
        description: str,
        tags: Mapping[str, str],
    ) -> str | None:
        """Add one TCP ingress rule with tags; returns its rule id, or None when it already exists."""
        if bool(cidr) == bool(source_group_id):
            raise ValueError("authorize_ingress needs exactly one of cidr / source_group_id")
        if cidr and not cidr.endswith("/32"):
            raise ValueError(f"ingress rules are scoped to a /32, got {cidr}")
        permission: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if cidr:
            permission["IpRanges"] = [{"CidrIp": cidr, "Description": description}]
        else:
            permission["UserIdGroupPairs"] = [{"GroupId": source_group_id, "Description": description}]
        tag_spec = [{"ResourceType": "security-group-rule", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        with aws_errors("AuthorizeSecurityGroupIngress", group_id):
            try:
                response = self._client.authorize_security_group_ingress(
                    GroupId=group_id, IpPermissions=[permission], TagSpecifications=tag_spec
                )
            except ClientError as exc:
                if error_code(exc) == "InvalidPermission.Duplicate":
                    return None
                raise
        created = response.get("SecurityGroupRules", [])
        return str(created[0]["SecurityGroupRuleId"]) if created else None

    def revoke_ingress_rule(self, group_id: str, rule_id: str) -> bool:
        """Remove one rule by id; False when it was already gone."""
        with aws_errors("RevokeSecurityGroupIngress", f"{group_id}/{rule_id}"):
            try:
                self._client.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=[rule_id])
            except ClientError as exc:
                if error_code(exc) in {"InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound"}:
                    return False
                raise
        return True

    def security_group_tags(self, group_ids: Sequence[str] = (), *, tag_key: str = "") -> dict[str, dict[str, str]]:
        """Tags per security group: of ``group_ids``, or of every group carrying ``tag_key``.

        Read with a filter, so a group that does not exist is simply absent.
        """
        filters: list[dict[str, Any]] = []
        if group_ids:
            filters.append({"Name": "group-id", "Values": list(group_ids)})
        if tag_key:
            filters.append({"Name": "tag-key", "Values": [tag_key]})
        if not filters:
            raise ValueError("security_group_tags needs group ids or a tag key")
        found: dict[str, dict[str, str]] = {}
        paginator = self._client.get_paginator("describe_security_groups")
        with aws_errors("DescribeSecurityGroups", ",".join(group_ids) or tag_key):
            for page in paginator.paginate(Filters=filters):
                for raw in page.get("SecurityGroups", []):
                    found[str(raw["GroupId"])] = _tags(raw.get("Tags"))
        return found

    def tag_security_group(self, group_id: str, tags: Mapping[str, str]) -> None:
        with aws_errors("CreateTags", group_id):
            self._client.create_tags(Resources=[group_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def untag_security_group(self, group_id: str, keys: Sequence[str]) -> None:
        """Remove tag ``keys`` (whatever their values); a key the group does not carry is fine."""
        with aws_errors("DeleteTags", group_id):
            self._client.delete_tags(Resources=[group_id], Tags=[{"Key": key} for key in keys])

    def stop_instances(self, instance_ids: Sequence[str]) -> list[StateChange]:
        return self._power("stop_instances", "StoppingInstances", instance_ids)

    def start_instances(self, instance_ids: Sequence[str]) -> list[StateChange]:
        return self._power("start_instances", "StartingInstances", instance_ids)

    def _power(self, operation: str, key: str, instance_ids: Sequence[str]) -> list[StateChange]:
        changes: list[StateChange] = []
        action = "".join(part.title() for part in operation.split("_"))
        for batch in _chunks(list(instance_ids), POWER_BATCH):
            with aws_errors(action, ",".join(batch)):
                response = getattr(self._client, operation)(InstanceIds=batch)
            for raw in response.get(key, []):
                changes.append(
                    StateChange(
                        instance_id=str(raw["InstanceId"]),
                        previous_state=str(raw.get("PreviousState", {}).get("Name", "")),
                        state=str(raw.get("CurrentState", {}).get("Name", "")),
                    )
                )
        return changes

    def tag_instances(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        for batch in _chunks(list(instance_ids), FILTER_BATCH):
            with aws_errors("CreateTags", ",".join(batch)):
                self._client.create_tags(Resources=batch, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
