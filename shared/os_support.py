"""Which source operating systems and disk layouts the pipeline accepts, as data.

Source documents (Microsoft Learn), as known on 2026-11 — a snapshot written from knowledge of the documents,
not fetched, so review it when Microsoft publishes a new Mobility service release:

- Azure Site Recovery, "Support matrix for disaster recovery of VMware VMs and physical servers to Azure"
  (``site-recovery/vmware-physical-azure-support-matrix``), section "Replicated machines": the Windows and
  Linux operating system tables (64-bit only; the Mobility service has no Arm build), and section "Azure VM
  requirements" (disk count and sizes). The tutorial links this section for AWS VMs, which are migrated as
  physical servers.
- Azure Migrate, "Support matrix for physical server migration" (``migrate/migrate-support-matrix-physical-
  migration``), sections "Physical server requirements" (defers to the Site Recovery OS list) and "Azure VM
  requirements" (OS disk up to 2,048 GB for Generation 1, 4,095 GB for Generation 2; data disks up to 32,767 GB,
  64 or fewer).

Project policy on top of the matrix: Windows client editions are out of scope (EC2 offers no licence-included
Windows client; Azure needs multi-tenant hosting rights for them), Windows Server 2008 / 2008 R2 / 2012 are
refused as out of support, and releases past their vendor's support end are accepted with a warning. In the
cloud, preflight can compare this table with the vault's ``replicationSupportedOperatingSystems``.

:func:`assess_os_support` maps the strings SSM inventory reports (``PlatformName`` / ``PlatformVersion``, e.g.
``"Red Hat Enterprise Linux" "8.6"``, ``"Microsoft Windows Server 2019 Datacenter" "10.0.17763"``, ``"SLES"
"15.4"``) or an AMI description onto this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

SNAPSHOT = "as known on 2026-11"

# Azure VM requirements (both matrices above, "Azure VM requirements").
MAX_DATA_DISKS = 64
MAX_DATA_DISK_GIB = 32_767
MAX_OS_DISK_GIB_GEN1 = 2_048
MAX_OS_DISK_GIB_GEN2 = 4_095


class Distro(StrEnum):
    """Operating system families the table knows; ``OTHER`` is anything else (never supported)."""

    WINDOWS_SERVER = "windows_server"
    WINDOWS_CLIENT = "windows_client"
    RHEL = "rhel"
    CENTOS = "centos"
    CENTOS_STREAM = "centos_stream"
    ROCKY = "rocky"
    ALMA = "alma"
    ORACLE = "oracle"
    UBUNTU = "ubuntu"
    DEBIAN = "debian"
    SLES = "sles"
    AMAZON_LINUX = "amazon_linux"
    OTHER = "other"


DISTRO_NAMES: dict[Distro, str] = {
    Distro.WINDOWS_SERVER: "Windows Server",
    Distro.WINDOWS_CLIENT: "Windows (client)",
    Distro.RHEL: "Red Hat Enterprise Linux",
    Distro.CENTOS: "CentOS Linux",
    Distro.CENTOS_STREAM: "CentOS Stream",
    Distro.ROCKY: "Rocky Linux",
    Distro.ALMA: "AlmaLinux",
    Distro.ORACLE: "Oracle Linux",
    Distro.UBUNTU: "Ubuntu",
    Distro.DEBIAN: "Debian",
    Distro.SLES: "SUSE Linux Enterprise Server",
    Distro.AMAZON_LINUX: "Amazon Linux",
    Distro.OTHER: "unrecognised OS",
}


@dataclass(frozen=True)
class SupportedRelease:
    """One supported major release and the minor versions the matrix lists for it.

    Windows Server uses the release year as ``major`` and ``minor`` 1 for R2; SLES uses the service pack as
    ``minor``. ``max_minor`` None accepts any minor. A minor above ``max_minor`` is refused when the release line
    is closed (``later_minors_unverified`` False) and accepted with a warning when later minors may simply not
    be in this snapshot yet. ``end_of_support`` set means accepted with a warning.
    """

    distro: Distro
    major: int
    min_minor: int = 0
    max_minor: int | None = None
    later_minors_unverified: bool = False
    end_of_support: str = ""

    @property
    def label(self) -> str:
        return _release_label(self.distro, self.major, self.min_minor, self.max_minor)


def _release_label(distro: Distro, major: int, min_minor: int, max_minor: int | None) -> str:
    if distro is Distro.WINDOWS_SERVER:
        return f"{major} R2" if min_minor == 1 else str(major)
    if distro is Distro.UBUNTU:
        return f"{major}.{min_minor:02d} LTS"
    if distro is Distro.SLES:
        first = "GA" if min_minor == 0 else f"SP{min_minor}"
        return f"{major} {first} to SP{max_minor}" if max_minor is not None else f"{major} {first} and later"
    if max_minor is None:
        return str(major)
    return f"{major}.{min_minor} to {major}.{max_minor}"


def _windows(year: int, r2: bool = False, end_of_support: str = "") -> SupportedRelease:
    minor = 1 if r2 else 0
    return SupportedRelease(Distro.WINDOWS_SERVER, year, minor, minor, end_of_support=end_of_support)


def _ubuntu_lts(year: int, end_of_support: str = "") -> SupportedRelease:
    return SupportedRelease(Distro.UBUNTU, year, 4, 4, end_of_support=end_of_support)


SUPPORT_TABLE: tuple[SupportedRelease, ...] = (
    _windows(
        2012, r2=True, end_of_support="extended support ended 2023-10-10 and Extended Security Updates on 2026-10-13"
    ),
    _windows(2016),
    _windows(2019),
    _windows(2022),
    _windows(2025),
    SupportedRelease(Distro.RHEL, 7, 0, 9, end_of_support="maintenance support ended 2024-06-30 (ELS only)"),
    SupportedRelease(Distro.RHEL, 8, 0, 10),
    SupportedRelease(Distro.RHEL, 9, 0, 6, later_minors_unverified=True),
    SupportedRelease(Distro.CENTOS, 7, 0, 9, end_of_support="end of life 2024-06-30, no more updates"),
    SupportedRelease(Distro.ROCKY, 8, 0, 10),
    SupportedRelease(Distro.ROCKY, 9, 0, 6, later_minors_unverified=True),
    SupportedRelease(Distro.ALMA, 8, 0, 10),
    SupportedRelease(Distro.ALMA, 9, 0, 6, later_minors_unverified=True),
    SupportedRelease(Distro.ORACLE, 7, 0, 9, end_of_support="premier support ended 2024-12 (extended support only)"),
    SupportedRelease(Distro.ORACLE, 8, 0, 10),
    SupportedRelease(Distro.ORACLE, 9, 0, 6, later_minors_unverified=True),
    _ubuntu_lts(16, end_of_support="standard support ended 2021-04 (ESM only)"),
    _ubuntu_lts(18, end_of_support="standard support ended 2023-05 (ESM only)"),
    _ubuntu_lts(20, end_of_support="standard support ended 2025-05 (ESM only)"),
    _ubuntu_lts(22),
    _ubuntu_lts(24),
    SupportedRelease(Distro.DEBIAN, 9, end_of_support="LTS ended 2022-06-30"),
    SupportedRelease(Distro.DEBIAN, 10, end_of_support="LTS ended 2024-06-30"),
    SupportedRelease(Distro.DEBIAN, 11, end_of_support="LTS ended 2026-08-31"),
    SupportedRelease(Distro.DEBIAN, 12),
    SupportedRelease(Distro.SLES, 12, 1, 5, end_of_support="general support for 12 SP5 ended 2024-10-31 (LTSS only)"),
    SupportedRelease(Distro.SLES, 15, 0, 6, later_minors_unverified=True),
)

# Why some well-known releases are refused, for a message more useful than "not in the table".
REFUSED_RELEASES: dict[tuple[Distro, int, int], str] = {
    (Distro.WINDOWS_SERVER, 2008, 0): "out of support: extended support ended 2020-01-14",
    (Distro.WINDOWS_SERVER, 2008, 1): "out of support: extended support ended 2020-01-14",
    (Distro.WINDOWS_SERVER, 2012, 0): "out of support: extended support ended 2023-10-10",
    (Distro.CENTOS, 8, -1): "end of life 2021-12-31; move to RHEL, Rocky Linux or AlmaLinux first",
    (Distro.CENTOS, 6, -1): "end of life 2020-11-30",
    (Distro.RHEL, 6, -1): "out of maintenance since 2020-11-30",
}
REFUSED_FAMILIES: dict[Distro, str] = {
    Distro.CENTOS_STREAM: "CentOS Stream is not in the Site Recovery support matrix",
    Distro.AMAZON_LINUX: "Amazon Linux runs only on AWS; the Mobility service does not support it",
    Distro.WINDOWS_CLIENT: "Windows client editions are out of scope; only Windows Server is migrated",
    Distro.OTHER: "not in the Site Recovery support matrix",
}


class OsSupportStatus(StrEnum):
    SUPPORTED = "supported"
    END_OF_LIFE = "end_of_life"  # in the matrix, past the vendor's support: accepted with a warning
    UNVERIFIED_MINOR = "unverified_minor"  # newer minor than this snapshot lists: accepted with a warning
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"  # nothing reported


@dataclass(frozen=True)
class OsIdentity:
    """What the reported strings say: family, parsed version (None when absent) and the text as reported."""

    distro: Distro
    major: int | None
    minor: int | None
    reported: str


@dataclass(frozen=True)
class OsSupport:
    """The table's answer for one instance; ``detail`` is a human sentence fragment explaining ``status``."""

    identity: OsIdentity
    status: OsSupportStatus
    release: SupportedRelease | None
    detail: str


_LINUX_FAMILIES: tuple[tuple[re.Pattern[str], Distro], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), distro)
    for pattern, distro in (
        (r"amazon\s*linux|amzn", Distro.AMAZON_LINUX),
        (r"red\s*hat|\brhel\b", Distro.RHEL),
        (r"centos\s*stream", Distro.CENTOS_STREAM),
        (r"centos", Distro.CENTOS),
        (r"rocky", Distro.ROCKY),
        (r"alma\s*linux", Distro.ALMA),
        (r"oracle\s*linux|\bol\s*server\b", Distro.ORACLE),
        (r"ubuntu", Distro.UBUNTU),
        (r"debian", Distro.DEBIAN),
        (r"\bsles|suse\s*linux\s*enterprise\s*server", Distro.SLES),
    )
)
_WINDOWS_SERVER_YEAR = re.compile(r"server[\s_-]*(2008|2012|2016|2019|2022|2025)(?:[\s_-]*(r2))?", re.IGNORECASE)
_WINDOWS_CLIENT = re.compile(r"windows[\s_-]*(xp|vista|7|8\.1|8|10|11)\b", re.IGNORECASE)
_WINDOWS_BUILDS: dict[tuple[int, ...], tuple[int, int]] = {
    (6, 0): (2008, 0),
    (6, 1): (2008, 1),
    (6, 2): (2012, 0),
    (6, 3): (2012, 1),
    (10, 0, 14393): (2016, 0),
    (10, 0, 17763): (2019, 0),
    (10, 0, 20348): (2022, 0),
    (10, 0, 26100): (2025, 0),
}
_NUMBERS = re.compile(r"\d+(?:\.\d+)*")
_SERVICE_PACK = re.compile(r"(\d+)[\s_-]*sp(\d+)", re.IGNORECASE)


def identify_os(os_name: str, os_version: str) -> OsIdentity:
    """Recognise the OS family and version from SSM ``PlatformName`` / ``PlatformVersion`` (or an AMI text)."""
    name, version = os_name.strip(), os_version.strip()
    reported = f"{name} ({version})" if name and version and "windows" in name.lower() else f"{name} {version}"
    reported = reported.strip()
    lowered = name.lower()
    if "windows" in lowered:
        return _identify_windows(name, version, reported)
    for pattern, distro in _LINUX_FAMILIES:
        if pattern.search(name):
            major, minor = _parse_linux_version(distro, version or name)
            return OsIdentity(distro, major, minor, reported)
    if not name:
        return OsIdentity(Distro.OTHER, None, None, "")
    major, minor = _parse_linux_version(Distro.OTHER, version)
    return OsIdentity(Distro.OTHER, major, minor, reported)


def _identify_windows(name: str, version: str, reported: str) -> OsIdentity:
    year = _WINDOWS_SERVER_YEAR.search(name)
    if year:
        return OsIdentity(Distro.WINDOWS_SERVER, int(year.group(1)), 1 if year.group(2) else 0, reported)
    if "server" not in name.lower():
        client = _WINDOWS_CLIENT.search(name)
        if client:
            return OsIdentity(Distro.WINDOWS_CLIENT, None, None, reported)
    build = _numbers(version)
    for prefix, (release_year, r2) in _WINDOWS_BUILDS.items():
        if build[: len(prefix)] == prefix:
            return OsIdentity(Distro.WINDOWS_SERVER, release_year, r2, reported)
    return OsIdentity(Distro.WINDOWS_SERVER, None, None, reported)


def _numbers(text: str) -> tuple[int, ...]:
    found = _NUMBERS.search(text)
    return tuple(int(part) for part in found.group(0).split(".")) if found else ()


def _parse_linux_version(distro: Distro, text: str) -> tuple[int | None, int | None]:
    if distro is Distro.SLES:
        service_pack = _SERVICE_PACK.search(text)
        if service_pack:
            return int(service_pack.group(1)), int(service_pack.group(2))
    parts = _numbers(text)
    if not parts:
        return None, None
    if distro is Distro.SLES and len(parts) == 1:
        return parts[0], 0  # "15" is 15 GA
    return parts[0], parts[1] if len(parts) > 1 else None


def supported_releases(distro: Distro) -> tuple[SupportedRelease, ...]:
    return tuple(release for release in SUPPORT_TABLE if release.distro is distro)


def supported_releases_text(distro: Distro) -> str:
    """``"Ubuntu 16.04 LTS, 18.04 LTS, …"``, or empty when the family has no supported release."""
    releases = supported_releases(distro)
    if not releases:
        return ""
    return f"{DISTRO_NAMES[distro]} " + ", ".join(release.label for release in releases)


def assess_os_support(os_name: str, os_version: str) -> OsSupport:
    """Look the reported OS up in :data:`SUPPORT_TABLE`."""
    identity = identify_os(os_name, os_version)
    if not identity.reported:
        return OsSupport(identity, OsSupportStatus.UNKNOWN, None, "no operating system reported")
    if identity.distro in REFUSED_FAMILIES:
        return OsSupport(identity, OsSupportStatus.UNSUPPORTED, None, REFUSED_FAMILIES[identity.distro])
    if identity.major is None:
        return OsSupport(identity, OsSupportStatus.UNSUPPORTED, None, "the release could not be recognised")
    refused = REFUSED_RELEASES.get((identity.distro, identity.major, identity.minor or 0)) or REFUSED_RELEASES.get(
        (identity.distro, identity.major, -1)
    )
    if refused:
        return OsSupport(identity, OsSupportStatus.UNSUPPORTED, None, refused)
    for release in supported_releases(identity.distro):
        if release.major != identity.major:
            continue
        return _assess_minor(identity, release)
    return OsSupport(identity, OsSupportStatus.UNSUPPORTED, None, "this release is not in the support table")


def _assess_minor(identity: OsIdentity, release: SupportedRelease) -> OsSupport:
    minor = identity.minor
    if minor is not None and minor < release.min_minor:
        return OsSupport(identity, OsSupportStatus.UNSUPPORTED, release, f"only {release.label} is supported")
    if minor is not None and release.max_minor is not None and minor > release.max_minor:
        if not release.later_minors_unverified:
            return OsSupport(identity, OsSupportStatus.UNSUPPORTED, release, "this release is not in the support table")
        return OsSupport(
            identity,
            OsSupportStatus.UNVERIFIED_MINOR,
            release,
            f"newer than the highest minor release this table lists ({release.label}, {SNAPSHOT})",
        )
    if release.end_of_support:
        return OsSupport(identity, OsSupportStatus.END_OF_LIFE, release, release.end_of_support)
    return OsSupport(identity, OsSupportStatus.SUPPORTED, release, "supported")
