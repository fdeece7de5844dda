"""Preflight rules and the OS support table, with the strings SSM inventory really reports."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.facts import InstanceFacts, Platform, Volume
from shared.os_support import (
    MAX_DATA_DISK_GIB,
    MAX_DATA_DISKS,
    MAX_OS_DISK_GIB_GEN1,
    MAX_OS_DISK_GIB_GEN2,
    SUPPORT_TABLE,
    Distro,
    OsSupportStatus,
    assess_os_support,
    identify_os,
)
from shared.preflight import (
    RULES,
    Decision,
    Finding,
    FindingCode,
    PreflightVerdict,
    Severity,
    evaluate,
    evaluate_many,
)

ROOT = Volume(device_name="/dev/xvda", volume_id="vol-root", size_gib=30, is_root=True)
DATA = Volume(device_name="/dev/xvdb", volume_id="vol-data", size_gib=100)


def linux(**changes: object) -> InstanceFacts:
    """A clean, migratable Ubuntu 22.04 instance, with ``changes`` applied."""
    base: dict[str, object] = {
        "instance_id": "i-0abc1234def567890",
        "region": "eu-west-1",
        "instance_type": "m5.large",
        "platform": Platform.LINUX,
        "os_name": "Ubuntu",
        "os_version": "22.04",
        "kernel": "6.5.0-1022-aws",
        "ssm_managed": True,
        "ssm_ping_status": "Online",
        "root_device_name": "/dev/xvda",
        "volumes": (ROOT, DATA),
    }
    base.update(changes)
    return InstanceFacts.model_validate(base)


def windows(name: str = "Microsoft Windows Server 2019 Datacenter", version: str = "10.0.17763") -> InstanceFacts:
    return linux(platform=Platform.WINDOWS, os_name=name, os_version=version, root_device_name="/dev/sda1")


def codes(verdict: PreflightVerdict, severity: Severity | None = None) -> set[FindingCode]:
    return {finding.code for finding in verdict.reasons if severity is None or finding.severity is severity}


def only_finding(verdict: PreflightVerdict) -> Finding:
    assert len(verdict.reasons) == 1, verdict.reasons
    return verdict.reasons[0]


# --- a clean instance -------------------------------------------------------------------------------------------


def test_clean_linux_instance_is_accepted_with_no_reasons() -> None:
    verdict = evaluate(linux())
    assert verdict.decision is Decision.ACCEPT
    assert verdict.accepted
    assert verdict.reasons == []
    assert verdict.fixes == []
    assert verdict.instance_id == "i-0abc1234def567890"


def test_clean_windows_server_is_accepted() -> None:
    verdict = evaluate(windows())
    assert verdict.decision is Decision.ACCEPT, verdict.reasons


# --- OS support table with real SSM strings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version", "distro", "major", "minor"),
    [
        ("Ubuntu", "22.04", Distro.UBUNTU, 22, 4),
        ("Red Hat Enterprise Linux", "8.6", Distro.RHEL, 8, 6),
        ("Red Hat Enterprise Linux Server", "7.9", Distro.RHEL, 7, 9),
        ("Microsoft Windows Server 2019 Datacenter", "10.0.17763", Distro.WINDOWS_SERVER, 2019, 0),
        ("Microsoft Windows Server 2012 R2 Standard", "6.3.9600", Distro.WINDOWS_SERVER, 2012, 1),
        ("Windows", "10.0.20348", Distro.WINDOWS_SERVER, 2022, 0),
        ("Amazon Linux", "2023", Distro.AMAZON_LINUX, 2023, None),
        ("Amazon Linux AMI", "2018.03", Distro.AMAZON_LINUX, 2018, 3),
        ("CentOS Linux", "7", Distro.CENTOS, 7, None),
        ("CentOS Linux", "7.9.2009", Distro.CENTOS, 7, 9),
        ("CentOS Stream", "9", Distro.CENTOS_STREAM, 9, None),
        ("SLES", "15.4", Distro.SLES, 15, 4),
        ("SUSE Linux Enterprise Server", "12 SP5", Distro.SLES, 12, 5),
        ("SLES", "15", Distro.SLES, 15, 0),
        ("Debian GNU/Linux", "12", Distro.DEBIAN, 12, None),
        ("Rocky Linux", "9.3", Distro.ROCKY, 9, 3),
        ("AlmaLinux", "8.9", Distro.ALMA, 8, 9),
        ("Oracle Linux Server", "8.7", Distro.ORACLE, 8, 7),
        ("Canonical, Ubuntu, 22.04 LTS, amd64 jammy image build on 2023-05-16", "", Distro.UBUNTU, 22, 4),
        ("Microsoft Windows 10 Pro", "10.0.19045", Distro.WINDOWS_CLIENT, None, None),
        ("Fedora Linux", "39", Distro.OTHER, 39, None),
    ],
)
def test_identify_os_reads_real_inventory_strings(
    name: str, version: str, distro: Distro, major: int | None, minor: int | None
) -> None:
    identity = identify_os(name, version)
    assert (identity.distro, identity.major, identity.minor) == (distro, major, minor)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("Microsoft Windows Server 2012 R2 Datacenter", "6.3.9600"),
        ("Microsoft Windows Server 2016 Datacenter", "10.0.14393"),
        ("Microsoft Windows Server 2019 Datacenter", "10.0.17763"),
        ("Microsoft Windows Server 2022 Datacenter", "10.0.20348"),
        ("Microsoft Windows Server 2025 Datacenter", "10.0.26100"),
        ("Red Hat Enterprise Linux Server", "7.0"),
        ("Red Hat Enterprise Linux", "8.10"),
        ("Red Hat Enterprise Linux", "9.0"),
        ("CentOS Linux", "7"),
        ("Rocky Linux", "8.10"),
        ("Rocky Linux", "9.6"),
        ("AlmaLinux", "9.6"),
        ("Oracle Linux Server", "7.9"),
        ("Oracle Linux Server", "9.2"),
        ("Ubuntu", "16.04"),
        ("Ubuntu", "18.04"),
        ("Ubuntu", "20.04"),
        ("Ubuntu", "24.04"),
        ("Debian GNU/Linux", "9"),
        ("Debian GNU/Linux", "11"),
        ("SLES", "12.1"),
        ("SLES", "12.5"),
        ("SLES", "15"),
        ("SLES", "15.6"),
    ],
)
def test_supported_releases_are_accepted(name: str, version: str) -> None:
    verdict = evaluate(linux(os_name=name, os_version=version))
    assert verdict.decision is Decision.ACCEPT, verdict.reasons
    assert codes(verdict) <= {FindingCode.OS_END_OF_LIFE}


@pytest.mark.parametrize(
    ("name", "version", "needle"),
    [
        ("Microsoft Windows Server 2012 Standard", "6.2.9200", "2023-10-10"),
        ("Microsoft Windows Server 2008 R2 Datacenter", "6.1.7601", "2020-01-14"),
        ("Windows", "6.1.7601", "2020-01-14"),
        ("Microsoft Windows Server Datacenter", "10.0.19041", "could not be recognised"),
        ("Red Hat Enterprise Linux", "6.10", "2020-11-30"),
        ("Red Hat Enterprise Linux", "10.0", "not in the support table"),
        ("Red Hat Enterprise Linux Server", "7.10", "not in the support table"),
        ("CentOS Linux", "8", "2021-12-31"),
        ("CentOS Linux", "6.10", "2020-11-30"),
        ("CentOS Stream", "9", "CentOS Stream"),
        ("Ubuntu", "14.04", "not in the support table"),
        ("Ubuntu", "23.10", "not in the support table"),
        ("Ubuntu", "22.10", "not in the support table"),
        ("Debian GNU/Linux", "8", "not in the support table"),
        ("Debian GNU/Linux", "13", "not in the support table"),
        ("SLES", "12", "only 12 SP1 to SP5"),
        ("SLES", "11.4", "not in the support table"),
        ("openSUSE Leap", "15.5", "not in the Site Recovery support matrix"),
        ("Fedora Linux", "39", "not in the Site Recovery support matrix"),
        ("Rocky Linux", "10.0", "not in the support table"),
    ],
)
def test_unsupported_releases_are_rejected_naming_what_was_found(name: str, version: str, needle: str) -> None:
    verdict = evaluate(linux(os_name=name, os_version=version))
    assert verdict.decision is Decision.REJECT
    finding = only_finding(verdict)
    assert finding.code is FindingCode.OS_UNSUPPORTED
    assert finding.severity is Severity.ERROR
    assert name in finding.message
    assert version in finding.message
    assert needle in finding.message
    assert finding.remedy


def test_unsupported_ubuntu_remedy_lists_the_lts_releases() -> None:
    finding = only_finding(evaluate(linux(os_version="23.10")))
    assert finding.remedy == "Supported releases: Ubuntu 16.04 LTS, 18.04 LTS, 20.04 LTS, 22.04 LTS, 24.04 LTS."


@pytest.mark.parametrize(
    ("name", "version", "when"),
    [
        ("CentOS Linux", "7.9.2009", "2024-06-30"),
        ("Red Hat Enterprise Linux Server", "7.9", "2024-06-30"),
        ("Microsoft Windows Server 2012 R2 Standard", "6.3.9600", "2023-10-10"),
        ("Ubuntu", "18.04", "2023-05"),
        ("Debian GNU/Linux", "10", "2024-06-30"),
        ("SLES", "12.5", "2024-10-31"),
    ],
)
def test_end_of_life_releases_are_accepted_with_a_warning(name: str, version: str, when: str) -> None:
    verdict = evaluate(linux(os_name=name, os_version=version))
    assert verdict.decision is Decision.ACCEPT
    finding = only_finding(verdict)
    assert (finding.code, finding.severity) == (FindingCode.OS_END_OF_LIFE, Severity.WARNING)
    assert when in finding.message
    assert name in finding.message


@pytest.mark.parametrize(("name", "version"), [("Red Hat Enterprise Linux", "9.7"), ("SLES", "15.7")])
def test_minor_release_newer_than_the_table_is_accepted_with_a_warning(name: str, version: str) -> None:
    verdict = evaluate(linux(os_name=name, os_version=version))
    assert verdict.decision is Decision.ACCEPT
    finding = only_finding(verdict)
    assert (finding.code, finding.severity) == (FindingCode.OS_VERSION_UNVERIFIED, Severity.WARNING)
    assert "as known on 2026-11" in finding.message


def test_every_table_entry_is_accepted_by_its_own_label_version() -> None:
    for release in SUPPORT_TABLE:
        name, version = _sample_strings(release.distro, release.major, release.min_minor)
        support = assess_os_support(name, version)
        assert support.status in {OsSupportStatus.SUPPORTED, OsSupportStatus.END_OF_LIFE}, (release, support)
        assert support.release == release


def _sample_strings(distro: Distro, major: int, minor: int) -> tuple[str, str]:
    if distro is Distro.WINDOWS_SERVER:
        return (f"Microsoft Windows Server {major}{' R2' if minor else ''} Datacenter", "")
    names = {
        Distro.RHEL: "Red Hat Enterprise Linux",
        Distro.CENTOS: "CentOS Linux",
        Distro.ROCKY: "Rocky Linux",
        Distro.ALMA: "AlmaLinux",
        Distro.ORACLE: "Oracle Linux Server",
        Distro.UBUNTU: "Ubuntu",
        Distro.DEBIAN: "Debian GNU/Linux",
        Distro.SLES: "SLES",
    }
    version = f"{major}.{minor:02d}" if distro is Distro.UBUNTU else f"{major}.{minor}"
    return names[distro], version


# --- Amazon Linux, Windows client, unknown OS -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version"), [("Amazon Linux", "2"), ("Amazon Linux", "2023"), ("Amazon Linux AMI", "2018.03")]
)
def test_amazon_linux_is_rejected_with_a_workload_migration_remedy(name: str, version: str) -> None:
    verdict = evaluate(linux(os_name=name, os_version=version))
    assert verdict.decision is Decision.REJECT
    finding = only_finding(verdict)  # not also reported as an unsupported OS version
    assert finding.code is FindingCode.AMAZON_LINUX
    assert f"{name} {version}" in finding.message
    assert "runs only on AWS" in finding.message
    assert "workload migration" in finding.remedy


@pytest.mark.parametrize(
    ("name", "version"),
    [("Microsoft Windows 10 Pro", "10.0.19045"), ("Microsoft Windows 11 Enterprise", "10.0.22631")],
)
def test_windows_client_editions_are_rejected(name: str, version: str) -> None:
    verdict = evaluate(windows(name, version))
    assert verdict.decision is Decision.REJECT
    finding = only_finding(verdict)
    assert finding.code is FindingCode.WINDOWS_CLIENT
    assert name in finding.message
    assert "Windows Server only" in finding.message


def test_unknown_os_on_a_managed_instance_is_rejected() -> None:
    verdict = evaluate(linux(os_name="", os_version=""))
    assert verdict.decision is Decision.REJECT
    finding = only_finding(verdict)
    assert finding.code is FindingCode.OS_UNKNOWN
    assert finding.message.startswith("OS unknown: instance not reporting to SSM inventory")


def test_unknown_os_on_an_unmanaged_instance_gives_only_the_ssm_reason() -> None:
    verdict = evaluate(linux(os_name="", os_version="", ssm_managed=False, ssm_ping_status=""))
    assert codes(verdict) == {FindingCode.SSM_NOT_MANAGED}


def test_unmanaged_instance_with_os_from_the_ami_still_gets_os_rules() -> None:
    verdict = evaluate(linux(os_name="Amazon Linux", os_version="2", ssm_managed=False, ssm_ping_status=""))
    assert codes(verdict) == {FindingCode.SSM_NOT_MANAGED, FindingCode.AMAZON_LINUX}


# --- SSM ----------------------------------------------------------------------------------------------------------


def test_instance_not_managed_by_ssm_is_rejected_with_the_instance_profile_remedy() -> None:
    verdict = evaluate(linux(ssm_managed=False, ssm_ping_status=""))
    finding = only_finding(verdict)
    assert finding.code is FindingCode.SSM_NOT_MANAGED
    assert "SSM Run Command" in finding.message
    assert "AmazonSSMManagedInstanceCore" in finding.remedy


@pytest.mark.parametrize("ping", ["ConnectionLost", "Inactive"])
def test_ssm_agent_not_online_is_rejected(ping: str) -> None:
    finding = only_finding(evaluate(linux(ssm_ping_status=ping)))
    assert finding.code is FindingCode.SSM_AGENT_OFFLINE
    assert ping in finding.message


def test_managed_instance_with_no_ping_status_is_fine() -> None:
    assert evaluate(linux(ssm_ping_status="")).reasons == []


# --- architecture, virtualization, root device -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("architecture", "why"), [("arm64", "x86-64 only"), ("i386", "32-bit"), ("x86_64_mac", "x86-64")]
)
def test_non_x86_64_architectures_are_rejected(architecture: str, why: str) -> None:
    finding = only_finding(evaluate(linux(architecture=architecture)))
    assert finding.code is FindingCode.ARCHITECTURE_UNSUPPORTED
    assert architecture in finding.message
    assert why in finding.message
    assert "Replicated machines" in finding.message


def test_paravirtual_instance_is_rejected() -> None:
    finding = only_finding(evaluate(linux(virtualization_type="paravirtual")))
    assert (finding.code, finding.severity) == (FindingCode.PARAVIRTUAL, Severity.ERROR)
    assert "HVM" in finding.message
    assert "AWS PV drivers must be removed" in finding.remedy


def test_paravirtual_instance_with_drivers_removed_is_accepted_with_a_warning() -> None:
    verdict = evaluate(linux(virtualization_type="paravirtual", pv_drivers_removed=True))
    assert verdict.decision is Decision.ACCEPT
    finding = only_finding(verdict)
    assert (finding.code, finding.severity) == (FindingCode.PARAVIRTUAL_DRIVERS_REMOVED, Severity.WARNING)


def test_unknown_virtualization_type_is_rejected() -> None:
    finding = only_finding(evaluate(linux(virtualization_type="")))
    assert finding.code is FindingCode.VIRTUALIZATION_UNKNOWN


def test_instance_store_root_is_rejected() -> None:
    finding = only_finding(evaluate(linux(root_device_type="instance-store")))
    assert finding.code is FindingCode.ROOT_INSTANCE_STORE
    assert "cannot be stopped" in finding.message
    assert "EBS-backed AMI" in finding.remedy


# --- instance state --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "code"), [("terminated", FindingCode.INSTANCE_GONE), ("shutting-down", FindingCode.INSTANCE_GONE)]
)
def test_terminated_instances_are_rejected(state: str, code: FindingCode) -> None:
    finding = only_finding(evaluate(linux(state=state)))
    assert finding.code is code
    assert state in finding.message


@pytest.mark.parametrize("state", ["stopped", "stopping"])
def test_stopped_instance_is_rejected_with_a_start_remedy(state: str) -> None:
    finding = only_finding(evaluate(linux(state=state)))
    assert (finding.code, finding.severity) == (FindingCode.INSTANCE_NOT_RUNNING, Severity.ERROR)
    assert "Start the instance" in finding.remedy


def test_pending_instance_is_accepted_with_a_warning() -> None:
    verdict = evaluate(linux(state="pending"))
    assert verdict.decision is Decision.ACCEPT
    assert codes(verdict) == {FindingCode.INSTANCE_STARTING}


def test_unexpected_state_is_rejected_naming_it() -> None:
    finding = only_finding(evaluate(linux(state="hibernating")))
    assert finding.code is FindingCode.INSTANCE_NOT_RUNNING
    assert "'hibernating'" in finding.message


# --- disks ---------------------------------------------------------------------------------------------------------


def data_disks(count: int, size_gib: int = 10) -> tuple[Volume, ...]:
    return tuple(
        Volume(device_name=f"/dev/sd{index}", volume_id=f"vol-{index}", size_gib=size_gib) for index in range(count)
    )


def test_data_disk_count_boundary() -> None:
    assert evaluate(linux(volumes=(ROOT, *data_disks(MAX_DATA_DISKS)))).reasons == []
    finding = only_finding(evaluate(linux(volumes=(ROOT, *data_disks(MAX_DATA_DISKS + 1)))))
    assert finding.code is FindingCode.TOO_MANY_DATA_DISKS
    assert "65 data disks" in finding.message


def test_data_disk_size_boundary() -> None:
    at_limit = Volume(device_name="/dev/xvdf", volume_id="vol-big", size_gib=MAX_DATA_DISK_GIB)
    over = Volume(device_name="/dev/xvdg", volume_id="vol-huge", size_gib=MAX_DATA_DISK_GIB + 1)
    assert evaluate(linux(volumes=(ROOT, at_limit))).reasons == []
    finding = only_finding(evaluate(linux(volumes=(ROOT, at_limit, over))))
    assert finding.code is FindingCode.DATA_DISK_TOO_LARGE
    assert "/dev/xvdg (vol-huge)" in finding.message
    assert "32768 GiB" in finding.message


def test_os_disk_over_2_tib_is_a_warning_and_over_4095_gib_an_error() -> None:
    def with_root(size: int) -> PreflightVerdict:
        return evaluate(linux(volumes=(Volume(device_name="/dev/xvda", size_gib=size), DATA)))

    assert with_root(MAX_OS_DISK_GIB_GEN1).reasons == []
    gen2 = only_finding(with_root(MAX_OS_DISK_GIB_GEN1 + 1))
    assert (gen2.code, gen2.severity) == (FindingCode.OS_DISK_NEEDS_GEN2, Severity.WARNING)
    assert "Generation 2" in gen2.message
    assert only_finding(with_root(MAX_OS_DISK_GIB_GEN2)).code is FindingCode.OS_DISK_NEEDS_GEN2
    too_large = only_finding(with_root(MAX_OS_DISK_GIB_GEN2 + 1))
    assert (too_large.code, too_large.severity) == (FindingCode.OS_DISK_TOO_LARGE, Severity.ERROR)


def test_root_volume_is_found_by_device_name_when_not_flagged() -> None:
    big_root = Volume(device_name="/dev/xvda", size_gib=MAX_DATA_DISK_GIB + 1)  # is_root not set
    finding = only_finding(evaluate(linux(volumes=(big_root,))))
    assert finding.code is FindingCode.OS_DISK_TOO_LARGE  # judged as the OS disk, not a data disk


def test_no_volumes_is_a_warning() -> None:
    verdict = evaluate(linux(volumes=()))
    assert verdict.decision is Decision.ACCEPT
    assert codes(verdict) == {FindingCode.NO_VOLUMES}


# --- cloud-init and fixes ---------------------------------------------------------------------------------------


def test_cloud_init_is_a_warning_with_a_fix_the_pipeline_applies() -> None:
    verdict = evaluate(linux(cloud_init=True))
    assert verdict.decision is Decision.ACCEPT
    finding = only_finding(verdict)
    assert (finding.code, finding.severity) == (FindingCode.CLOUD_INIT, Severity.WARNING)
    assert [fix.code for fix in verdict.fixes] == ["disable_cloud_init"]
    assert verdict.fixes[0].step == "prepare_guest"


def test_cloud_init_flag_is_ignored_on_windows() -> None:
    verdict = evaluate(windows().model_copy(update={"cloud_init": True}))
    assert verdict.reasons == []
    assert verdict.fixes == []


# --- every reason at once ---------------------------------------------------------------------------------------


def test_every_reason_is_reported_not_just_the_first() -> None:
    facts = linux(
        os_name="Amazon Linux",
        os_version="2",
        architecture="arm64",
        virtualization_type="paravirtual",
        state="stopped",
        ssm_managed=False,
        ssm_ping_status="",
        root_device_type="instance-store",
        cloud_init=True,
        volumes=(ROOT, Volume(device_name="/dev/xvdz", size_gib=40_000)),
    )
    verdict = evaluate(facts)
    assert verdict.decision is Decision.REJECT
    assert codes(verdict, Severity.ERROR) == {
        FindingCode.INSTANCE_NOT_RUNNING,
        FindingCode.SSM_NOT_MANAGED,
        FindingCode.AMAZON_LINUX,
        FindingCode.ARCHITECTURE_UNSUPPORTED,
        FindingCode.PARAVIRTUAL,
        FindingCode.ROOT_INSTANCE_STORE,
        FindingCode.DATA_DISK_TOO_LARGE,
    }
    assert codes(verdict, Severity.WARNING) == {FindingCode.CLOUD_INIT}
    severities = [finding.severity for finding in verdict.reasons]
    assert severities == sorted(severities, key=lambda severity: severity is not Severity.ERROR)  # errors first
    assert [fix.code for fix in verdict.fixes] == ["disable_cloud_init"]
    assert len(verdict.errors) == 7 and len(verdict.warnings) == 1


def test_evaluate_many_keeps_input_order() -> None:
    facts = [linux(instance_id="i-1"), linux(instance_id="i-2", architecture="arm64"), windows()]
    verdicts = evaluate_many(facts)
    assert [verdict.instance_id for verdict in verdicts] == ["i-1", "i-2", "i-0abc1234def567890"]
    assert [verdict.decision for verdict in verdicts] == [Decision.ACCEPT, Decision.REJECT, Decision.ACCEPT]


def test_evaluate_runs_the_rules_it_is_given() -> None:
    verdict = evaluate(linux(architecture="arm64", state="stopped"), rules=RULES[:1])
    assert codes(verdict) == {FindingCode.INSTANCE_NOT_RUNNING}


def test_a_verdict_that_contradicts_its_reasons_cannot_be_built() -> None:
    error = Finding(code=FindingCode.PARAVIRTUAL, severity=Severity.ERROR, message="PV")
    with pytest.raises(ValidationError, match="contradicts the reasons"):
        PreflightVerdict(instance_id="i-1", decision=Decision.ACCEPT, reasons=[error])
    with pytest.raises(ValidationError, match="contradicts the reasons"):
        PreflightVerdict(instance_id="i-1", decision=Decision.REJECT, reasons=[])


def test_verdict_round_trips_through_json() -> None:
    verdict = evaluate(linux(cloud_init=True, architecture="arm64"))
    assert PreflightVerdict.model_validate_json(verdict.model_dump_json()) == verdict


# --- properties ------------------------------------------------------------------------------------------------

_os_names = st.sampled_from(
    [
        "",
        "Ubuntu",
        "Red Hat Enterprise Linux",
        "Microsoft Windows Server 2019 Datacenter",
        "Amazon Linux",
        "SLES",
        "CentOS Linux",
        "Debian GNU/Linux",
        "Microsoft Windows 10 Pro",
        "Windows",
        "Rocky Linux",
    ]
) | st.text(max_size=40)
_versions = st.sampled_from(
    ["", "22.04", "8.6", "10.0.17763", "2023", "7", "15.4", "12", "6.3.9600", "15 SP4"]
) | st.text(max_size=20)
_volumes = st.builds(
    Volume,
    device_name=st.sampled_from(["/dev/xvda", "/dev/sda1", "/dev/xvdb", ""]),
    size_gib=st.integers(min_value=0, max_value=70_000),
    is_root=st.booleans(),
)
_facts = st.builds(
    InstanceFacts,
    instance_id=st.text(min_size=1, max_size=20),
    platform=st.sampled_from(list(Platform)),
    os_name=_os_names,
    os_version=_versions,
    virtualization_type=st.sampled_from(["hvm", "paravirtual", ""]) | st.text(max_size=10),
    architecture=st.sampled_from(["x86_64", "arm64", "i386"]) | st.text(max_size=10),
    state=st.sampled_from(["running", "stopped", "pending", "terminated"]) | st.text(max_size=10),
    ssm_managed=st.booleans(),
    ssm_ping_status=st.sampled_from(["", "Online", "ConnectionLost"]),
    cloud_init=st.booleans(),
    pv_drivers_removed=st.booleans(),
    root_device_name=st.sampled_from(["", "/dev/xvda", "/dev/sda1"]),
    root_device_type=st.sampled_from(["ebs", "instance-store"]),
    volumes=st.lists(_volumes, max_size=70).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(_facts)
def test_evaluate_never_raises_and_rejects_exactly_when_some_finding_is_an_error(facts: InstanceFacts) -> None:
    verdict = evaluate(facts)
    has_error = any(finding.severity is Severity.ERROR for finding in verdict.reasons)
    assert (verdict.decision is Decision.REJECT) == has_error
    assert all(finding.message for finding in verdict.reasons)
    assert all(finding.remedy for finding in verdict.errors)
    assert verdict.instance_id == facts.instance_id


@settings(max_examples=200, deadline=None)
@given(_facts)
def test_each_rule_is_independent_of_the_others(facts: InstanceFacts) -> None:
    verdict = evaluate(facts)
    per_rule = [finding for rule in RULES for finding in rule(facts)]
    assert sorted(verdict.reasons, key=repr) == sorted(per_rule, key=repr)
