"""Preflight: may this EC2 instance be migrated by the pipeline, and what will the pipeline fix on the way?

Pure rules over :class:`~shared.facts.InstanceFacts`. Each rule is a small function returning findings;
:func:`evaluate` runs every rule (it never stops at the first problem) and rejects the instance when any finding
is an error. The OS and Azure limits come from :mod:`shared.os_support`; the other rules from the tutorial
("Prerequisites" and "Troubleshooting / Tips": Amazon Linux, PV instances, cloud-init) and the pipeline's own
needs (SSM Run Command to reach the guest, a stoppable source for the cutover).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from shared.facts import InstanceFacts, Platform, Volume
from shared.licensing import linux_license_problem
from shared.os_support import (
    DISTRO_NAMES,
    MAX_DATA_DISK_GIB,
    MAX_DATA_DISKS,
    MAX_OS_DISK_GIB_GEN1,
    MAX_OS_DISK_GIB_GEN2,
    Distro,
    OsSupportStatus,
    assess_os_support,
    identify_os,
    supported_releases_text,
)
from shared.request import OsType, VmSpec, vm_name_problem

MATRIX = "Site Recovery support matrix for VMware VMs and physical servers"


class Severity(StrEnum):
    ERROR = "error"  # the instance is rejected
    WARNING = "warning"  # migrated anyway; the operator should know


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class FindingCode(StrEnum):
    INSTANCE_GONE = "instance_gone"
    INSTANCE_NOT_RUNNING = "instance_not_running"
    INSTANCE_STARTING = "instance_starting"
    SSM_NOT_MANAGED = "ssm_not_managed"
    SSM_AGENT_OFFLINE = "ssm_agent_offline"
    OS_UNKNOWN = "os_unknown"
    AMAZON_LINUX = "amazon_linux"
    WINDOWS_CLIENT = "windows_client"
    OS_UNSUPPORTED = "os_unsupported"
    OS_END_OF_LIFE = "os_end_of_life"
    OS_VERSION_UNVERIFIED = "os_version_unverified"
    ARCHITECTURE_UNSUPPORTED = "architecture_unsupported"
    PARAVIRTUAL = "paravirtual"
    PARAVIRTUAL_DRIVERS_REMOVED = "paravirtual_drivers_removed"
    VIRTUALIZATION_UNKNOWN = "virtualization_unknown"
    ROOT_INSTANCE_STORE = "root_instance_store"
    NO_VOLUMES = "no_volumes"
    TOO_MANY_DATA_DISKS = "too_many_data_disks"
    DATA_DISK_TOO_LARGE = "data_disk_too_large"
    OS_DISK_NEEDS_GEN2 = "os_disk_needs_gen2"
    OS_DISK_TOO_LARGE = "os_disk_too_large"
    CLOUD_INIT = "cloud_init"
    INSTANCE_NOT_FOUND = "instance_not_found"
    REQUEST_MISMATCH = "request_mismatch"


class Finding(BaseModel):
    """One reason for the verdict: what was found, how bad, and what the operator can do about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: FindingCode
    severity: Severity
    message: str
    remedy: str = ""


class Fix(BaseModel):
    """A change the pipeline makes itself (in ``step``), recorded in the change ledger and reverted after."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    step: str
    description: str


class PreflightVerdict(BaseModel):
    """Accept or reject one instance, with every reason (errors first) and the fixes the pipeline will apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str
    decision: Decision
    reasons: list[Finding]
    fixes: list[Fix] = []

    @model_validator(mode="after")
    def _decision_matches_reasons(self) -> Self:
        has_error = any(finding.severity is Severity.ERROR for finding in self.reasons)
        if has_error != (self.decision is Decision.REJECT):
            raise ValueError(
                f"decision {self.decision.value!r} contradicts the reasons: an instance is rejected exactly when "
                "some reason has severity 'error'"
            )
        return self

    @property
    def accepted(self) -> bool:
        return self.decision is Decision.ACCEPT

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.reasons if finding.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.reasons if finding.severity is Severity.WARNING]


PreflightRule = Callable[[InstanceFacts], list[Finding]]


def _error(code: FindingCode, message: str, remedy: str) -> Finding:
    return Finding(code=code, severity=Severity.ERROR, message=message, remedy=remedy)


def _warning(code: FindingCode, message: str, remedy: str = "") -> Finding:
    return Finding(code=code, severity=Severity.WARNING, message=message, remedy=remedy)


def check_instance_state(facts: InstanceFacts) -> list[Finding]:
    """The guest must be running: the agent is installed through SSM and replication reads the live disks."""
    state = facts.state.strip().lower()
    if state == "running":
        return []
    if state in {"terminated", "shutting-down"}:
        return [
            _error(
                FindingCode.INSTANCE_GONE,
                f"The instance is {state}: there is nothing left to migrate.",
                "Remove it from the wave; to move its workload, launch a new instance from an AMI or snapshot of it "
                "and migrate that one.",
            )
        ]
    if state in {"stopped", "stopping"}:
        return [
            _error(
                FindingCode.INSTANCE_NOT_RUNNING,
                f"The instance is {state}: installing the Mobility service and replicating need the guest running.",
                "Start the instance (and keep it running until cutover), then submit it again.",
            )
        ]
    if state == "pending":
        return [
            _warning(
                FindingCode.INSTANCE_STARTING,
                "The instance is still starting (pending); guest preparation waits for it to report to SSM.",
            )
        ]
    return [
        _error(
            FindingCode.INSTANCE_NOT_RUNNING,
            f"The instance state {facts.state!r} is not one the pipeline can work with (expected 'running').",
            "Check the instance in the EC2 console and start it.",
        )
    ]


_SSM_REMEDY = (
    "Install (or start) the SSM agent and attach an instance profile with the AmazonSSMManagedInstanceCore policy; "
    "the instance must reach the SSM endpoints (internet, NAT or VPC endpoints)."
)


def check_ssm_managed(facts: InstanceFacts) -> list[Finding]:
    """The pipeline prepares guests and installs the agent through SSM Run Command."""
    if not facts.ssm_managed:
        return [
            _error(
                FindingCode.SSM_NOT_MANAGED,
                "The instance is not managed by SSM: the pipeline prepares guests and installs the Mobility "
                "service through SSM Run Command.",
                _SSM_REMEDY,
            )
        ]
    ping = facts.ssm_ping_status.strip()
    if ping and ping.lower() != "online":
        return [
            _error(
                FindingCode.SSM_AGENT_OFFLINE,
                f"The SSM agent is not online (ping status {ping}): Run Command cannot reach the guest.",
                _SSM_REMEDY,
            )
        ]
    return []


def check_os_known(facts: InstanceFacts) -> list[Finding]:
    """An SSM-managed instance that reports no OS cannot be checked against the support matrix."""
    if facts.os_name.strip() or not facts.ssm_managed:
        return []  # an unmanaged instance is already rejected for that; one reason is enough
    return [
        _error(
            FindingCode.OS_UNKNOWN,
            "OS unknown: instance not reporting to SSM inventory (no PlatformName/PlatformVersion), so its "
            "operating system cannot be checked against the support matrix.",
            "Check that the SSM agent is current and online (aws ssm describe-instance-information), then run "
            "preflight again.",
        )
    ]


def check_amazon_linux(facts: InstanceFacts) -> list[Finding]:
    """Amazon Linux runs only on AWS; the tutorial sends these to a workload migration."""
    identity = identify_os(facts.os_name, facts.os_version)
    if identity.distro is not Distro.AMAZON_LINUX:
        return []
    return [
        _error(
            FindingCode.AMAZON_LINUX,
            f"{identity.reported}: Amazon Linux runs only on AWS; the Mobility service does not support it.",
            "Consider a workload migration: rebuild on a supported distribution (for example RHEL, Rocky Linux or "
            "Ubuntu LTS) in Azure and move the application and its data with workload tools.",
        )
    ]


def check_windows_edition(facts: InstanceFacts) -> list[Finding]:
    """Only Windows Server editions are migrated."""
    identity = identify_os(facts.os_name, facts.os_version)
    if identity.distro is not Distro.WINDOWS_CLIENT:
        return []
    return [
        _error(
            FindingCode.WINDOWS_CLIENT,
            f"{identity.reported} is a Windows client edition; the pipeline migrates Windows Server only.",
            "Rebuild the workload on Windows Server, or on Azure Virtual Desktop for desktop workloads.",
        )
    ]


def check_os_version(facts: InstanceFacts) -> list[Finding]:
    """The OS release must be in the support table (:mod:`shared.os_support`)."""
    support = assess_os_support(facts.os_name, facts.os_version)
    identity = support.identity
    if support.status in {OsSupportStatus.UNKNOWN, OsSupportStatus.SUPPORTED}:
        return []
    if identity.distro in {Distro.AMAZON_LINUX, Distro.WINDOWS_CLIENT}:
        return []  # their own rules say why
    supported = supported_releases_text(identity.distro)
    if support.status is OsSupportStatus.END_OF_LIFE:
        return [
            _warning(
                FindingCode.OS_END_OF_LIFE,
                f"{identity.reported} is supported by Site Recovery but past its vendor support: {support.detail}.",
                "Plan an OS upgrade after migration (Azure may offer extended security updates for it).",
            )
        ]
    if support.status is OsSupportStatus.UNVERIFIED_MINOR:
        return [
            _warning(
                FindingCode.OS_VERSION_UNVERIFIED,
                f"{identity.reported} is {support.detail}.",
                "Check the Mobility service release notes for this release and kernel before replicating; "
                "the test migration will show whether it boots.",
            )
        ]
    family = DISTRO_NAMES[identity.distro]
    message = f"{identity.reported} is not supported: {support.detail}."
    if identity.distro is Distro.OTHER:
        message = f"{identity.reported} is not supported: {family}, {support.detail}."
    return [
        _error(
            FindingCode.OS_UNSUPPORTED,
            message,
            f"Supported releases: {supported}." if supported else "Upgrade to a release in the support table.",
        )
    ]


def check_architecture(facts: InstanceFacts) -> list[Finding]:
    """The Mobility service is built for x86-64 only (matrix "Replicated machines": 64-bit only, no Arm)."""
    architecture = facts.architecture.strip()
    if architecture == "x86_64":
        return []
    why = {
        "arm64": "the Mobility service runs on x86-64 only (no Arm64 build)",
        "i386": "32-bit operating systems are not supported",
    }.get(architecture, "only x86-64 is supported")
    return [
        _error(
            FindingCode.ARCHITECTURE_UNSUPPORTED,
            f"Architecture {architecture or '(not reported)'} cannot be replicated: {why} ({MATRIX}, "
            "'Replicated machines').",
            "Rebuild the workload on an x86-64 instance, or on an Azure Arm64 VM (for example Dpsv5) with "
            "workload migration tools.",
        )
    ]


def check_virtualization(facts: InstanceFacts) -> list[Finding]:
    """Paravirtual instances boot through AWS's PV kernel; the tutorial supports HVM instances."""
    virtualization = facts.virtualization_type.strip().lower()
    if virtualization == "hvm":
        return []
    if virtualization == "paravirtual":
        if facts.pv_drivers_removed:
            return [
                _warning(
                    FindingCode.PARAVIRTUAL_DRIVERS_REMOVED,
                    "Paravirtual instance with the AWS PV drivers removed: it may boot in Azure, which only the "
                    "test migration proves.",
                    "Run the test migration and check the boot diagnostics before approving the cutover.",
                )
            ]
        return [
            _error(
                FindingCode.PARAVIRTUAL,
                "Paravirtual (PV) instance: it boots with AWS's PV boot sequence and would not boot in Azure; "
                "the tutorial supports HVM instances.",
                "AWS PV drivers must be removed (uninstall the Xen PV drivers, or move to an HVM instance type), "
                "then run preflight again.",
            )
        ]
    return [
        _error(
            FindingCode.VIRTUALIZATION_UNKNOWN,
            f"Virtualization type {facts.virtualization_type!r} is unknown (expected 'hvm' or 'paravirtual').",
            "Check the instance's virtualization type in EC2 (describe-instances) and run preflight again.",
        )
    ]


def check_root_device(facts: InstanceFacts) -> list[Finding]:
    """An instance-store root cannot be stopped, and the cutover stops (and may restart) the source."""
    if facts.root_device_type.strip().lower() != "instance-store":
        return []
    return [
        _error(
            FindingCode.ROOT_INSTANCE_STORE,
            "The root device is instance store (ephemeral): such an instance cannot be stopped, only terminated, "
            "so the planned migration cannot shut it down and keep it intact until commit.",
            "Create an EBS-backed AMI of the instance, launch from it, and migrate that instance.",
        )
    ]


def _is_os_disk(volume: Volume, facts: InstanceFacts) -> bool:
    return volume.is_root or (bool(facts.root_device_name) and volume.device_name == facts.root_device_name)


def check_disks(facts: InstanceFacts) -> list[Finding]:
    """Azure VM limits: at most 64 data disks of up to 32,767 GiB; the OS disk up to 2,048 GiB (Gen1) or 4,095 GiB
    (Gen2) (Azure Migrate physical server matrix and the Site Recovery matrix, 'Azure VM requirements')."""
    if not facts.volumes:
        return [
            _warning(
                FindingCode.NO_VOLUMES,
                "No EBS volumes were reported, so disk count and size limits were not checked.",
                "Check that the inventory role may call ec2:DescribeVolumes.",
            )
        ]
    findings: list[Finding] = []
    os_disks = [volume for volume in facts.volumes if _is_os_disk(volume, facts)]
    data_disks = [volume for volume in facts.volumes if not _is_os_disk(volume, facts)]
    if len(data_disks) > MAX_DATA_DISKS:
        findings.append(
            _error(
                FindingCode.TOO_MANY_DATA_DISKS,
                f"{len(data_disks)} data disks: an Azure VM takes at most {MAX_DATA_DISKS}.",
                "Consolidate volumes, or exclude disks that need not move (exclude_disks).",
            )
        )
    for volume in data_disks:
        if volume.size_gib > MAX_DATA_DISK_GIB:
            findings.append(
                _error(
                    FindingCode.DATA_DISK_TOO_LARGE,
                    f"Data disk {_disk_name(volume)} is {volume.size_gib} GiB; Azure managed disks replicated by "
                    f"Site Recovery take at most {MAX_DATA_DISK_GIB} GiB.",
                    "Split the data across smaller volumes, or exclude the disk and move its data separately.",
                )
            )
    for volume in os_disks:
        if volume.size_gib > MAX_OS_DISK_GIB_GEN2:
            findings.append(
                _error(
                    FindingCode.OS_DISK_TOO_LARGE,
                    f"OS disk {_disk_name(volume)} is {volume.size_gib} GiB; Azure OS disks take at most "
                    f"{MAX_OS_DISK_GIB_GEN2} GiB (Generation 2).",
                    "Move data off the root volume and shrink it before migration.",
                )
            )
        elif volume.size_gib > MAX_OS_DISK_GIB_GEN1:
            findings.append(
                _warning(
                    FindingCode.OS_DISK_NEEDS_GEN2,
                    f"OS disk {_disk_name(volume)} is {volume.size_gib} GiB: over {MAX_OS_DISK_GIB_GEN1} GiB the "
                    "Azure VM must be Generation 2, which needs a UEFI-booted source; a BIOS-booted source becomes "
                    "a Generation 1 VM, whose OS disk is limited to that size.",
                    "Check that the instance boots UEFI (EC2 boot mode 'uefi'), or shrink the root volume.",
                )
            )
    return findings


def _disk_name(volume: Volume) -> str:
    return f"{volume.device_name} ({volume.volume_id})" if volume.volume_id else volume.device_name


def check_cloud_init(facts: InstanceFacts) -> list[Finding]:
    """cloud-init's AWS-specific provisioning would run again in Azure; the tutorial advises disabling it (Linux)."""
    if not facts.cloud_init or facts.platform is Platform.WINDOWS:
        return []
    return [
        _warning(
            FindingCode.CLOUD_INIT,
            "cloud-init is installed: its AWS-specific provisioning would not be valid after migration.",
            "Nothing to do: the pipeline disables cloud-init before replication, as the tutorial advises.",
        )
    ]


RULES: tuple[PreflightRule, ...] = (
    check_instance_state,
    check_ssm_managed,
    check_os_known,
    check_amazon_linux,
    check_windows_edition,
    check_os_version,
    check_architecture,
    check_virtualization,
    check_root_device,
    check_disks,
    check_cloud_init,
)

# Findings the pipeline resolves itself, and how.
FIXES: dict[FindingCode, Fix] = {
    FindingCode.CLOUD_INIT: Fix(
        code="disable_cloud_init",
        step="prepare_guest",
        description="Disable cloud-init before replication (as the tutorial advises); recorded and reverted on the "
        "source after migration.",
    ),
}


def evaluate(facts: InstanceFacts, rules: Sequence[PreflightRule] = RULES) -> PreflightVerdict:
    """Run every rule; reject when any finding is an error. Reasons are listed errors first, in rule order."""
    findings = [finding for rule in rules for finding in rule(facts)]
    findings.sort(key=lambda finding: finding.severity is not Severity.ERROR)
    fixes = _unique(FIXES[finding.code] for finding in findings if finding.code in FIXES)
    rejected = any(finding.severity is Severity.ERROR for finding in findings)
    return PreflightVerdict(
        instance_id=facts.instance_id,
        decision=Decision.REJECT if rejected else Decision.ACCEPT,
        reasons=findings,
        fixes=fixes,
    )


def evaluate_many(facts: Iterable[InstanceFacts], rules: Sequence[PreflightRule] = RULES) -> list[PreflightVerdict]:
    """One verdict per instance, in input order."""
    return [evaluate(item, rules) for item in facts]


def _unique(fixes: Iterable[Fix]) -> list[Fix]:
    seen: dict[str, Fix] = {}
    for fix in fixes:
        seen.setdefault(fix.code, fix)
    return list(seen.values())


def not_found_verdict(instance_id: str, region: str) -> PreflightVerdict:
    """The verdict for an instance the inventory could not find."""
    return PreflightVerdict(
        instance_id=instance_id,
        decision=Decision.REJECT,
        reasons=[
            _error(
                FindingCode.INSTANCE_NOT_FOUND,
                f"instance {instance_id} does not exist in {region or 'the region'}",
                "check the instance id and the request's region",
            )
        ],
    )


def check_against_request(verdict: PreflightVerdict, facts: InstanceFacts, vm: VmSpec) -> PreflightVerdict:
    """Add what the request says about the VM but the instance contradicts (OS type, name rules, licence)."""
    findings: list[Finding] = []
    if vm.os_type is not None and vm.os_type.value != facts.platform.value:
        findings.append(
            _error(
                FindingCode.REQUEST_MISMATCH,
                f"the request says os_type {vm.os_type.value} but {facts.instance_id} runs {facts.platform.value}",
                "fix os_type in the request",
            )
        )
    if vm.target_vm_name and (problem := vm_name_problem(vm.target_vm_name, OsType(facts.platform.value))):
        findings.append(_error(FindingCode.REQUEST_MISMATCH, f"target_vm_name: {problem}", "choose a valid name"))
    if vm.linux_license is not None and facts.platform is Platform.WINDOWS:
        findings.append(
            _error(
                FindingCode.REQUEST_MISMATCH,
                f"linux_license {vm.linux_license.value} applies to Linux VMs, but {facts.instance_id} runs windows "
                "(Windows Server licences: target.hybrid_benefit)",
                "remove linux_license from this VM",
            )
        )
    elif problem := linux_license_problem(vm.linux_license, facts.os_name, facts.os_version):
        findings.append(_error(FindingCode.REQUEST_MISMATCH, problem, "fix linux_license in the request"))
    if not findings:
        return verdict
    reasons = [*findings, *verdict.reasons]
    reasons.sort(key=lambda finding: finding.severity is not Severity.ERROR)
    return PreflightVerdict(
        instance_id=verdict.instance_id, decision=Decision.REJECT, reasons=reasons, fixes=verdict.fixes
    )
