"""The AMI an emulated instance boots: the image of its declared OS and version, named the way its publisher does.

moto's AMI catalogue (copied from real AMIs) holds a few old releases only: Ubuntu 14.04 and 16.04, RHEL 7.4,
SLES 11/12, Windows Server 2003-2016, Amazon Linux. Picking "an Ubuntu image" from it gave every Ubuntu instance
the 14.04 image whatever the estate said, and the inventory — which reads the OS from the AMI when SSM reports
nothing — then told preflight the instance ran Ubuntu 14.04. So each declared OS gets its own image: a copy
(``CopyImage``, which keeps the platform, virtualization type and architecture of the source) of the closest
catalogue AMI, renamed and described in the publisher's own naming pattern, the pattern the catalogue's real
entries show (``ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-20170721``, ``RHEL-7.4_HVM_GA-20170808-
x86_64-2-Hourly2-GP2``, ``suse-sles-12-sp3-v20170907-hvm-ssd-x86_64``, ``Windows_Server-2016-English-Full-Base-
2017.10.13``, ``amzn2-ami-hvm-2.0.20180810-x86_64-gp2``). tests/aws_lambdas/test_local_aws.py proves that the
inventory reads back, from the image alone, the OS and version every bundled scenario declares.
"""

from __future__ import annotations

from typing import Any

from local.aws.estate import InstanceSpec
from shared.facts import Platform
from shared.os_support import Distro, identify_os

BUILD_DATE = "20240110"  # the images' build stamp: fixed, so seeding is deterministic

# OS name → AMI name pattern of moto's catalogue, to pick the closest source image to copy.
_CATALOGUE_HINTS = {
    "ubuntu": "*ubuntu*",
    "red hat": "RHEL*",
    "rhel": "RHEL*",
    "suse": "*suse*",
    "sles": "*suse*",
    "amazon": "amzn*",
    "windows": "Windows_Server*",
}


def image_identity(spec: InstanceSpec) -> tuple[str, str] | None:
    """(name, description) of the AMI the declared OS and version boot from, or None when it has no pattern."""
    identity = identify_os(spec.os_name, spec.os_version)
    version = spec.os_version.strip()
    major = "" if identity.major is None else str(identity.major)
    minor = identity.minor or 0
    arch = {"x86_64": "x86_64", "arm64": "arm64", "i386": "i386"}[spec.architecture]
    deb_arch = {"x86_64": "amd64", "arm64": "arm64", "i386": "i386"}[spec.architecture]
    names: dict[Distro, tuple[str, str]] = {
        Distro.UBUNTU: (
            f"ubuntu/images/hvm-ssd/ubuntu-{version}-{deb_arch}-server-{BUILD_DATE}",
            f"Canonical, Ubuntu, {version} LTS, {deb_arch} image build on {BUILD_DATE}",
        ),
        Distro.RHEL: (f"RHEL-{version}_HVM-{BUILD_DATE}-{arch}-2-Hourly2-GP2", "Provided by Red Hat, Inc."),
        Distro.SLES: (
            f"suse-sles-{major}{f'-sp{minor}' if minor else ''}-v{BUILD_DATE}-hvm-ssd-{arch}",
            f"SUSE Linux Enterprise Server {major}{f' SP{minor}' if minor else ''} (HVM, 64-bit, SSD-Backed)",
        ),
        Distro.DEBIAN: (f"debian-{major}-{deb_arch}-{BUILD_DATE}", f"Debian {major} ({BUILD_DATE})"),
        Distro.CENTOS: (f"CentOS Linux {version} {arch} HVM EBS {BUILD_DATE}", f"CentOS Linux {version} {arch}"),
        Distro.ROCKY: (f"Rocky-{major}-EC2-Base-{version}-{BUILD_DATE}.0.{arch}", f"Rocky Linux {version} {arch}"),
        Distro.ALMA: (f"AlmaLinux OS {version}.{BUILD_DATE} {arch}", f"AlmaLinux OS {version} {arch}"),
        Distro.ORACLE: (f"OL{version}-{arch}-HVM-{BUILD_DATE}", f"Oracle Linux {version} {arch}"),
    }
    if identity.distro is Distro.AMAZON_LINUX:
        if version.startswith("2023"):
            return f"al2023-ami-2023.3.{BUILD_DATE}.0-kernel-6.1-{arch}", f"Amazon Linux 2023 AMI {arch}"
        if version == "2":
            return f"amzn2-ami-hvm-2.0.{BUILD_DATE}-{arch}-gp2", f"Amazon Linux 2 AMI 2.0.{BUILD_DATE} {arch} HVM gp2"
        return None
    if identity.distro is Distro.WINDOWS_SERVER and identity.major is not None:
        release = f"{identity.major}{'-R2_RTM' if identity.minor else ''}"
        return (
            f"Windows_Server-{release}-English-Full-Base-{BUILD_DATE[:4]}.{BUILD_DATE[4:6]}.{BUILD_DATE[6:]}",
            f"Microsoft Windows Server {identity.major}{' R2' if identity.minor else ''} Locale English AMI "
            "provided by Amazon",
        )
    return names.get(identity.distro)


def _catalogue_image(ec2: Any, spec: InstanceSpec) -> dict[str, Any]:
    """A catalogue AMI with the spec's platform, virtualization type and architecture, named like its OS when one
    is (filtered server-side: listing all of moto's AMIs takes seconds)."""
    windows = spec.platform is Platform.WINDOWS
    hint = next((h for key, h in _CATALOGUE_HINTS.items() if key in spec.os_name.lower()), "")
    filters = [
        {"Name": "virtualization-type", "Values": [spec.virtualization_type]},
        {"Name": "architecture", "Values": [spec.architecture]},
        *([{"Name": "platform", "Values": ["windows"]}] if windows else []),
    ]
    for name_filter in ([{"Name": "name", "Values": [hint]}] if hint else [], []):
        found = ec2.describe_images(Filters=filters + name_filter)["Images"]
        candidates: list[dict[str, Any]] = [
            i for i in found if (i.get("Platform") == "windows") == windows and i.get("RootDeviceType", "ebs") == "ebs"
        ]
        if candidates:
            return sorted(candidates, key=lambda i: str(i["ImageId"]))[0]
    raise ValueError(
        f"instance {spec.name}: moto has no {spec.platform.value} AMI with virtualization "
        f"{spec.virtualization_type} and architecture {spec.architecture}"
    )


def choose_image(
    ec2: Any, spec: InstanceSpec, region: str, cache: dict[tuple[str, ...], dict[str, Any]]
) -> dict[str, Any]:
    """The image ``spec`` boots: its own OS and version (a renamed copy of the closest catalogue AMI)."""
    named = image_identity(spec)
    key = (spec.platform.value, spec.virtualization_type, spec.architecture, *(named or (spec.os_name,)))
    if key in cache:
        return cache[key]
    source = _catalogue_image(ec2, spec)
    if named is None or source.get("Name") == named[0]:
        cache[key] = source
        return source
    name, description = named
    image_id = ec2.copy_image(SourceImageId=source["ImageId"], SourceRegion=region, Name=name, Description=description)[
        "ImageId"
    ]
    cache[key] = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return cache[key]
