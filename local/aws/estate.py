"""The emulated estate: what exists in AWS before a migration starts. Scenario files (YAML) load into it."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from local.aws.ec2_throttle import DEFAULT_EC2_RATE_LIMITS
from shared.facts import Platform

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiskSpec(_Model):
    """One EBS volume; the first disk of an instance is its root disk."""

    size_gib: int = Field(ge=1, le=65536)
    volume_type: Literal["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"] = "gp3"
    device_name: str = ""


class ApplianceSpec(_Model):
    name: str = Field(default="migrate-appliance", pattern=_NAME)
    os: Literal["windows", "linux"] = "windows"
    private_ip: str = "10.0.1.4"


class InstanceSpec(_Model):
    name: str = Field(pattern=_NAME)
    os_name: str = "Ubuntu"
    os_version: str = "22.04"
    platform: Platform = Platform.LINUX
    virtualization_type: Literal["hvm", "paravirtual"] = "hvm"
    architecture: Literal["x86_64", "arm64", "i386"] = "x86_64"
    instance_type: str = "t3.medium"
    ssm_managed: bool = True
    cloud_init: bool = True
    tags: dict[str, str] = Field(default_factory=dict)
    disks: list[DiskSpec] = Field(default_factory=lambda: [DiskSpec(size_gib=8)])
    private_ip: str | None = None
    state: Literal["running", "stopped"] = "running"
    security_group: str | None = Field(
        default=None,
        pattern=_NAME,
        description="a source security group shared by name with the other instances naming it (default: its own)",
    )


class Ec2RateLimit(_Model):
    """One of EC2's request token buckets (local/aws/ec2_throttle.py has AWS's figures and their source)."""

    capacity: float = Field(ge=1, le=100_000, description="the bucket's maximum capacity (tokens)")
    refill_per_second: float = Field(gt=0, le=100_000, description="tokens added back per second")


class Estate(_Model):
    region: str = Field(default="eu-west-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    vpc_cidr: str = "10.0.0.0/16"
    subnet_cidr: str = "10.0.1.0/24"
    appliance: ApplianceSpec = Field(default_factory=ApplianceSpec)
    instances: list[InstanceSpec] = Field(default_factory=list)
    inbound_rules_per_security_group: int = Field(
        default=60, ge=1, le=1000, description="the account's quota (AWS's default 60; at most 1,000 once raised)"
    )
    ec2_rate_limits: dict[str, Ec2RateLimit] = Field(
        default_factory=dict,
        description="EC2 request buckets replacing AWS's documented ones, by name (e.g. CreateTags); "
        "the others keep AWS's figures: the limits are never off",
    )

    @field_validator("ec2_rate_limits")
    @classmethod
    def _known_buckets(cls, value: dict[str, Ec2RateLimit]) -> dict[str, Ec2RateLimit]:
        unknown = sorted(set(value) - set(DEFAULT_EC2_RATE_LIMITS))
        if unknown:
            raise ValueError(f"no EC2 rate limit named {', '.join(unknown)}; have {', '.join(DEFAULT_EC2_RATE_LIMITS)}")
        return value

    @field_validator("vpc_cidr", "subnet_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(ipaddress.IPv4Network(value, strict=True))

    @model_validator(mode="after")
    def _consistent(self) -> Estate:
        names = [i.name for i in self.instances] + [self.appliance.name]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate instance names: {', '.join(duplicates)}")
        subnet = ipaddress.IPv4Network(self.subnet_cidr)
        if not subnet.subnet_of(ipaddress.IPv4Network(self.vpc_cidr)):
            raise ValueError(f"subnet {self.subnet_cidr} is not inside the VPC {self.vpc_cidr}")
        ips = [self.appliance.private_ip] + [i.private_ip for i in self.instances if i.private_ip]
        for ip in ips:
            if ipaddress.IPv4Address(ip) not in subnet:
                raise ValueError(f"private IP {ip} is not in the subnet {self.subnet_cidr}")
        if len(set(ips)) != len(ips):
            raise ValueError("two instances share a private IP")
        own = {f"{i.name}-sg" for i in self.instances if i.security_group is None} | {f"{self.appliance.name}-sg"}
        clashes = sorted(own & {i.security_group for i in self.instances if i.security_group})
        if clashes:
            raise ValueError(f"shared security group names clash with an instance's own group: {', '.join(clashes)}")
        return self
