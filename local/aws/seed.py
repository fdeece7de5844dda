"""Create an :class:`~local.aws.estate.Estate` in the emulated AWS (moto) and say where everything is."""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterator
from typing import Any, Literal

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, Credentials
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from aws_lambdas import settings as lambda_settings
from aws_lambdas.guest_scripts import load_manifests
from local.aws.documents import ssm_document_json
from local.aws.estate import Estate, InstanceSpec
from local.aws.images import choose_image
from local.aws.installer import fake_linux_installer
from local.aws.moto_fidelity import behave_as_aws
from local.aws.server import FAKE_CREDENTIALS
from shared.facts import Platform, Volume
from shared.provider import Provider

DEFAULT_DOCUMENT_PREFIX = "ec2-to-azure"
DEFAULT_TABLE = "ec2-to-azure-idempotency"
AGENT_CONFIG_SECRET_NAME = "ec2-to-azure/agent-config"  # noqa: S105 (a name, not a value)


class SeededInstance(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    instance_id: str
    private_ip: str
    security_group_id: str
    platform: Platform
    image_id: str
    instance_type: str = ""
    hypervisor: Literal["nitro", "xen", ""] = Field(default="", description="DescribeInstanceTypes' Hypervisor")
    volumes: tuple[Volume, ...] = Field(default=(), description="EBS volumes in attachment order, root first")


class SeededEstate(BaseModel):
    """Ids and names of what :func:`seed_estate` created. Secret values are ``SecretStr`` (hidden in reprs)."""

    model_config = ConfigDict(frozen=True)

    region: str
    endpoint_url: str | None
    vpc_id: str
    subnet_id: str
    appliance: SeededInstance
    instances: dict[str, SeededInstance]
    document_prefix: str
    documents: list[str]
    installer_bucket: str
    idempotency_table: str
    agent_config_secret_id: str
    agent_config: SecretStr

    def instance_id(self, name: str) -> str:
        try:
            return self.instances[name].instance_id
        except KeyError:
            raise KeyError(f"no seeded instance named {name!r}; have {sorted(self.instances)}") from None

    def lambda_environment(self) -> dict[str, str]:
        """The Lambdas' settings for this estate (names from ``aws_lambdas.settings``)."""
        return {
            lambda_settings.ENV_REGION: self.region,
            lambda_settings.ENV_SSM_DOCUMENT_PREFIX: self.document_prefix,
            lambda_settings.ENV_INSTALLER_BUCKET: self.installer_bucket,
            lambda_settings.ENV_AGENT_CONFIG_SECRET_ID: self.agent_config_secret_id,
            lambda_settings.ENV_IDEMPOTENCY_TABLE: self.idempotency_table,
        }


class _FixedCredentialProvider(CredentialProvider):  # type: ignore[misc]  # botocore is untyped
    METHOD = "local-fixed"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def aws_client(
    service: str,
    region: str,
    endpoint_url: str | None,
    *,
    max_attempts: int = 3,
    credentials: Credentials | None = None,
) -> Any:
    """A client for the emulated AWS: the moto server when ``endpoint_url`` is given, else in-process moto.

    ``credentials`` (e.g. :class:`local.aws.iam.InvocationCredentials`) sign every request; by default the
    environment's (in-process) or fake ones (server).
    """
    retries = {"mode": "standard", "total_max_attempts": max_attempts}
    kwargs: dict[str, Any] = {"region_name": region, "config": Config(retries=retries)}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if credentials is None:
            kwargs["aws_access_key_id"] = FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]
            kwargs["aws_secret_access_key"] = FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    if credentials is None:
        return boto3.session.Session().client(service, **kwargs)
    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before("env", _FixedCredentialProvider(credentials))
    return boto3.session.Session(botocore_session=core).client(service, **kwargs)


def _free_ips(subnet_cidr: str, taken: set[str]) -> Iterator[str]:
    for address in list(ipaddress.IPv4Network(subnet_cidr).hosts())[9:]:
        if str(address) not in taken:
            yield str(address)


def _block_devices(spec: InstanceSpec, root_device: str) -> list[dict[str, Any]]:
    mappings = []
    data_letters = iter("fghijklmnop")
    for index, disk in enumerate(spec.disks):
        device = disk.device_name or (root_device if index == 0 else f"/dev/sd{next(data_letters)}")
        ebs: dict[str, Any] = {"VolumeSize": disk.size_gib, "VolumeType": disk.volume_type, "DeleteOnTermination": True}
        if disk.volume_type in {"io1", "io2"}:
            ebs["Iops"] = min(64000, max(100, disk.size_gib * 50))  # provisioned IOPS volumes need a figure
        mappings.append({"DeviceName": device, "Ebs": ebs})
    return mappings


def _hypervisors(ec2: Any, types: list[str]) -> dict[str, str]:
    """Instance type → ``Hypervisor`` (nitro | xen) from DescribeInstanceTypes; types EC2 does not know (moto
    launches them anyway) are left out, one at a time."""
    if not types:
        return {}
    try:
        found = ec2.describe_instance_types(InstanceTypes=types)["InstanceTypes"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "InvalidInstanceType":
            raise
        if len(types) == 1:
            return {}
        return {k: v for t in types for k, v in _hypervisors(ec2, [t]).items()}
    return {t["InstanceType"]: str(t.get("Hypervisor", "")) for t in found}


def _with_hardware(
    ec2: Any, appliance: SeededInstance, seeded: dict[str, SeededInstance]
) -> tuple[SeededInstance, dict[str, SeededInstance]]:
    """Add what the guest sees of its hardware: the EBS volumes as attached (DescribeInstances + DescribeVolumes)
    and the hypervisor of the instance type (DescribeInstanceTypes), in three reads for the whole estate (each read
    page by page)."""
    everyone = [appliance, *seeded.values()]
    # DescribeInstances pages its answer (moto: 100 instances a page) even when given the ids: read every page
    pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=[i.instance_id for i in everyone])
    raw = {i["InstanceId"]: i for page in pages for r in page["Reservations"] for i in r["Instances"]}
    volume_ids = [m["Ebs"]["VolumeId"] for i in raw.values() for m in i.get("BlockDeviceMappings", []) if "Ebs" in m]
    volumes = ec2.get_paginator("describe_volumes").paginate(VolumeIds=volume_ids)
    sizes = {v["VolumeId"]: int(v["Size"]) for page in volumes for v in page["Volumes"]}
    hypervisors = _hypervisors(ec2, sorted({i.instance_type for i in everyone if i.instance_type}))

    def complete(item: SeededInstance) -> SeededInstance:
        instance = raw[item.instance_id]
        root = str(instance.get("RootDeviceName", ""))
        mappings = [m for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
        mappings.sort(key=lambda m: (m["DeviceName"] != root, m["DeviceName"]))
        volumes = tuple(
            Volume(
                device_name=m["DeviceName"],
                volume_id=m["Ebs"]["VolumeId"],
                size_gib=sizes[m["Ebs"]["VolumeId"]],
                is_root=m["DeviceName"] == root,
            )
            for m in mappings
        )
        hypervisor = hypervisors.get(item.instance_type, "")
        return item.model_copy(
            update={"volumes": volumes, "hypervisor": hypervisor if hypervisor in {"nitro", "xen"} else ""}
        )

    return complete(appliance), {name: complete(item) for name, item in seeded.items()}


def seed_estate(
    estate: Estate,
    endpoint_url: str | None,
    *,
    document_prefix: str = DEFAULT_DOCUMENT_PREFIX,
    idempotency_table: str = DEFAULT_TABLE,
    agent_config: str | None = None,
) -> SeededEstate:
    """Create the estate. ``endpoint_url=None`` seeds in-process moto (inside ``mock_aws``)."""
    region = estate.region
    if endpoint_url is None:
        behave_as_aws()  # this process's moto answers as AWS does (a moto server patches itself)
    ec2 = aws_client("ec2", region, endpoint_url)
    vpc_id = ec2.create_vpc(CidrBlock=estate.vpc_cidr)["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=estate.subnet_cidr)["Subnet"]["SubnetId"]
    images: dict[tuple[str, ...], dict[str, Any]] = {}

    def security_group(name: str, description: str) -> str:
        return str(ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc_id)["GroupId"])

    def launch(spec: InstanceSpec, private_ip: str, group_id: str) -> SeededInstance:
        image = choose_image(ec2, spec, region, images)
        tags = {"Name": spec.name, **spec.tags}
        devices = _block_devices(spec, str(image.get("RootDeviceName", "/dev/xvda")))
        raw = ec2.run_instances(
            ImageId=image["ImageId"],
            MinCount=1,
            MaxCount=1,
            InstanceType=spec.instance_type,
            SubnetId=subnet_id,
            PrivateIpAddress=private_ip,
            SecurityGroupIds=[group_id],
            **({"BlockDeviceMappings": devices} if devices else {}),
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )["Instances"][0]
        return SeededInstance(
            name=spec.name,
            instance_id=raw["InstanceId"],
            private_ip=private_ip,
            security_group_id=group_id,
            platform=spec.platform,
            image_id=image["ImageId"],
            instance_type=spec.instance_type,
        )

    appliance_spec = InstanceSpec(
        name=estate.appliance.name,
        platform=Platform.WINDOWS if estate.appliance.os == "windows" else Platform.LINUX,
        os_name="Microsoft Windows Server 2019" if estate.appliance.os == "windows" else "Ubuntu",
        instance_type="m5.2xlarge",
        disks=[],
    )
    appliance_group = security_group(f"{estate.appliance.name}-sg", "Azure Migrate replication appliance")
    appliance = launch(appliance_spec, estate.appliance.private_ip, appliance_group)

    taken = {estate.appliance.private_ip} | {i.private_ip for i in estate.instances if i.private_ip}
    free = _free_ips(estate.subnet_cidr, taken)
    seeded: dict[str, SeededInstance] = {}
    groups: dict[str, str] = {}  # source groups by name: an instance's own, or one it shares by name
    for spec in estate.instances:
        name = spec.security_group or f"{spec.name}-sg"
        if name not in groups:
            groups[name] = security_group(name, f"source {spec.name}" if spec.security_group is None else "shared")
        seeded[spec.name] = launch(spec, spec.private_ip or next(free), groups[name])
    appliance, seeded = _with_hardware(ec2, appliance, seeded)
    stopped = [seeded[s.name].instance_id for s in estate.instances if s.state == "stopped"]
    if stopped:
        ec2.stop_instances(InstanceIds=stopped)

    ssm = aws_client("ssm", region, endpoint_url)
    documents = []
    for manifest in load_manifests().values():
        name = f"{document_prefix}-{manifest.name}"
        ssm.create_document(
            Name=name, Content=ssm_document_json(manifest), DocumentType="Command", DocumentFormat="JSON"
        )
        documents.append(name)

    bucket = f"{document_prefix}-installers-{secrets.token_hex(4)}"
    s3 = aws_client("s3", region, endpoint_url)
    create: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**create)
    layout = lambda_settings.Settings(region=region, installer_bucket=bucket)
    for provider in Provider:
        s3.put_object(Bucket=bucket, Key=layout.installer_key(provider, Platform.LINUX), Body=fake_linux_installer())
        s3.put_object(
            Bucket=bucket, Key=layout.installer_key(provider, Platform.WINDOWS), Body=b"MZ stand-in Windows installer"
        )

    config_value = agent_config or json.dumps({"ApplianceFqdn": "appliance.local", "Key": secrets.token_urlsafe(24)})
    sm = aws_client("secretsmanager", region, endpoint_url)
    config_arn = sm.create_secret(Name=AGENT_CONFIG_SECRET_NAME, SecretString=config_value)["ARN"]

    dynamodb = aws_client("dynamodb", region, endpoint_url)
    dynamodb.create_table(
        TableName=idempotency_table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    return SeededEstate(
        region=region,
        endpoint_url=endpoint_url,
        vpc_id=vpc_id,
        subnet_id=subnet_id,
        appliance=appliance,
        instances=seeded,
        document_prefix=document_prefix,
        documents=documents,
        installer_bucket=bucket,
        idempotency_table=idempotency_table,
        agent_config_secret_id=config_arn,
        agent_config=SecretStr(config_value),
    )
