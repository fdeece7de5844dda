"""Licences a migrated VM can bring to Azure, per OS, as the InMageRcm enable-replication input names them.

Sources (values checked, not guessed):

- Microsoft Learn, "Automate VMware to Azure agent-based migration using Azure Site Recovery REST API"
  (MicrosoftDocs/azure-docs ``articles/migrate/how-to-automate-vmware-to-azure-migration-rest-api.md``, table
  "InMageRcm enable protection input parameters"): ``licenseType`` NoLicenseType | WindowsServer;
  ``sqlServerLicenseType`` NotSpecified | NoLicenseType | PAYG | AHUB; ``linuxLicenseType`` NotSpecified |
  NoLicenseType | RHEL_BYOS | SLES_BYOS.
- azure-mgmt-recoveryservicessiterecovery 2.0.0, ``models.InMageRcmEnableProtectionInput``: the same three
  fields, typed ``str`` or the enums ``LicenseType`` / ``SqlServerLicenseType`` / ``LinuxLicenseType``. Its
  ``LinuxLicenseType`` lists "NotSpecified", "NoLicenseType", "LinuxServer" as *known* values and accepts any
  string; the guide's RHEL_BYOS / SLES_BYOS are what Azure's own VM ``licenseType`` uses for Linux Azure Hybrid
  Benefit, so the request offers those (tests/unit/test_licensing.py compares both sources with this module).

Windows Azure Hybrid Benefit stays the request's ``hybrid_benefit`` flag (→ ``licenseType: WindowsServer``).
"""

from __future__ import annotations

from enum import StrEnum

from shared.os_support import DISTRO_NAMES, Distro, identify_os


class LinuxLicense(StrEnum):
    """``linuxLicenseType``: bring your own RHEL or SUSE subscription (Azure Hybrid Benefit for Linux), or not."""

    NO_LICENSE_TYPE = "NoLicenseType"  # pay as you go
    RHEL_BYOS = "RHEL_BYOS"
    SLES_BYOS = "SLES_BYOS"


class SqlServerLicense(StrEnum):
    """``sqlServerLicenseType``: SQL Server pay as you go, Azure Hybrid Benefit (AHUB), or no licence."""

    NO_LICENSE_TYPE = "NoLicenseType"
    PAYG = "PAYG"
    AHUB = "AHUB"


#: The OS family each Linux subscription belongs to.
LINUX_LICENSE_DISTRO: dict[LinuxLicense, Distro] = {
    LinuxLicense.RHEL_BYOS: Distro.RHEL,
    LinuxLicense.SLES_BYOS: Distro.SLES,
}


def linux_license_problem(license_: LinuxLicense | None, os_name: str, os_version: str = "") -> str | None:
    """Why ``license_`` cannot apply to an instance running ``os_name`` (as SSM or the AMI reports it), or None.

    An OS nobody could identify (empty name) is no reason to refuse: the check applies where the OS is known.
    """
    if license_ is None:
        return None
    distro = LINUX_LICENSE_DISTRO.get(license_)
    if distro is None or not os_name.strip():
        return None
    identity = identify_os(os_name, os_version)
    if identity.distro is distro:
        return None
    return (
        f"linux_license {license_.value} is a {DISTRO_NAMES[distro]} subscription, "
        f"but the instance runs {identity.reported or os_name}"
    )
