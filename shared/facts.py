"""Facts about one source EC2 instance, as the ``inventory`` Lambda gathers them for preflight and discovery."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Platform(StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"


class Volume(BaseModel):
    """One EBS volume attached to the instance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_name: str
    volume_id: str = ""
    size_gib: int = Field(ge=0)
    volume_type: str = "gp3"
    iops: int | None = None
    is_root: bool = False


class InstanceFacts(BaseModel):
    """What preflight and right-sizing need to know about an instance.

    ``os_name`` / ``os_version`` come from SSM inventory (``PlatformName`` / ``PlatformVersion``) when the
    instance is SSM managed, else from the AMI description; empty when unknown.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str
    region: str = ""
    name: str = ""
    instance_type: str = ""
    platform: Platform = Platform.LINUX
    os_name: str = ""
    os_version: str = ""
    kernel: str = ""
    virtualization_type: str = "hvm"  # hvm | paravirtual
    architecture: str = "x86_64"  # x86_64 | arm64 | i386
    state: str = "running"  # EC2 instance state name
    ssm_managed: bool = False
    ssm_ping_status: str = ""
    cloud_init: bool = False
    pv_drivers_removed: bool = False
    root_device_name: str = ""
    root_device_type: str = "ebs"
    volumes: tuple[Volume, ...] = ()
    private_ip: str = ""
    vpc_id: str = ""
    subnet_id: str = ""
    security_group_ids: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
