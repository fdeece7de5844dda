"""Licence values on the request, checked against sources we did not write, and against the instance's OS."""

from __future__ import annotations

import pytest
from azure.mgmt.recoveryservicessiterecovery import models

from shared.facts import InstanceFacts, Platform
from shared.licensing import LinuxLicense, SqlServerLicense, linux_license_problem
from shared.preflight import Decision, PreflightVerdict, check_against_request
from shared.request import VmSpec

# Microsoft Learn, "Automate VMware to Azure agent-based migration using Azure Site Recovery REST API"
# (MicrosoftDocs/azure-docs articles/migrate/how-to-automate-vmware-to-azure-migration-rest-api.md), table
# "InMageRcm enable protection input parameters", rows licenseType / sqlServerLicenseType / linuxLicenseType.
GUIDE_LICENSE_TYPE = {"NoLicenseType", "WindowsServer"}
GUIDE_SQL_SERVER_LICENSE_TYPE = {"NotSpecified", "NoLicenseType", "PAYG", "AHUB"}
GUIDE_LINUX_LICENSE_TYPE = {"NotSpecified", "NoLicenseType", "RHEL_BYOS", "SLES_BYOS"}


def test_sql_server_values_are_the_sdk_and_guide_values_minus_not_specified() -> None:
    sdk = {value.value for value in models.SqlServerLicenseType}
    assert sdk == GUIDE_SQL_SERVER_LICENSE_TYPE
    assert {value.value for value in SqlServerLicense} == sdk - {"NotSpecified"}  # absent = not specified


def test_linux_values_are_the_guide_values_and_the_sdk_field_takes_them() -> None:
    assert {value.value for value in LinuxLicense} == GUIDE_LINUX_LICENSE_TYPE - {"NotSpecified"}
    # The SDK types the field as str or its extensible enum (known values NotSpecified, NoLicenseType,
    # LinuxServer): the guide's values serialise unchanged under the documented wire name.
    for value in LinuxLicense:
        body = models.InMageRcmEnableProtectionInput(linux_license_type=value.value).as_dict()
        assert body["linuxLicenseType"] == value.value


def test_windows_hybrid_benefit_maps_to_a_documented_sdk_value() -> None:
    assert "WindowsServer" in {value.value for value in models.LicenseType} & GUIDE_LICENSE_TYPE


@pytest.mark.parametrize(
    ("licence", "os_name", "os_version", "problem"),
    [
        (LinuxLicense.RHEL_BYOS, "Red Hat Enterprise Linux", "8.6", None),
        (LinuxLicense.SLES_BYOS, "SLES", "15.4", None),
        (LinuxLicense.SLES_BYOS, "SUSE Linux Enterprise Server", "12 SP5", None),
        (LinuxLicense.NO_LICENSE_TYPE, "Ubuntu", "22.04", None),
        (LinuxLicense.RHEL_BYOS, "", "", None),  # OS unknown: nothing to hold against the request
        (None, "Ubuntu", "22.04", None),
        (LinuxLicense.RHEL_BYOS, "Ubuntu", "22.04", "a Red Hat Enterprise Linux subscription, but the instance runs"),
        (LinuxLicense.SLES_BYOS, "Rocky Linux", "9.2", "a SUSE Linux Enterprise Server subscription"),
        (LinuxLicense.RHEL_BYOS, "Microsoft Windows Server 2019 Datacenter", "10.0.17763", "Red Hat"),
    ],
)
def test_a_byos_licence_must_match_the_distribution(
    licence: LinuxLicense | None, os_name: str, os_version: str, problem: str | None
) -> None:
    found = linux_license_problem(licence, os_name, os_version)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_preflight_rejects_a_licence_the_instance_contradicts() -> None:
    facts = InstanceFacts(
        instance_id="i-0abc1234def567890", platform=Platform.LINUX, os_name="Ubuntu", os_version="22.04"
    )
    accepted = PreflightVerdict(instance_id=facts.instance_id, decision=Decision.ACCEPT, reasons=[])
    vm = VmSpec(instance_id=facts.instance_id, linux_license=LinuxLicense.RHEL_BYOS)
    verdict = check_against_request(accepted, facts, vm)
    assert verdict.decision is Decision.REJECT
    assert [f.message for f in verdict.errors] == [
        "linux_license RHEL_BYOS is a Red Hat Enterprise Linux subscription, but the instance runs Ubuntu 22.04"
    ]
    matching = VmSpec(instance_id=facts.instance_id, linux_license=LinuxLicense.NO_LICENSE_TYPE)
    assert check_against_request(accepted, facts, matching) is accepted


@pytest.mark.parametrize("os_name", ["Microsoft Windows Server 2019 Datacenter", ""])
def test_preflight_rejects_any_linux_licence_on_a_windows_instance(os_name: str) -> None:
    """Even NoLicenseType, and even when the OS name is unknown: linuxLicenseType is for Linux machines, and the
    enable body would otherwise be refused at the last step (TargetVmSettings)."""
    facts = InstanceFacts(instance_id="i-0abc1234def567890", platform=Platform.WINDOWS, os_name=os_name)
    accepted = PreflightVerdict(instance_id=facts.instance_id, decision=Decision.ACCEPT, reasons=[])
    vm = VmSpec(instance_id=facts.instance_id, linux_license=LinuxLicense.NO_LICENSE_TYPE)
    verdict = check_against_request(accepted, facts, vm)
    assert verdict.decision is Decision.REJECT
    assert [f.message for f in verdict.errors] == [
        "linux_license NoLicenseType applies to Linux VMs, but i-0abc1234def567890 runs windows "
        "(Windows Server licences: target.hybrid_benefit)"
    ]
