"""How :class:`~local.stack.LocalStack` wires the emulators to the seeded estate and to each other: moto's id
seed, the vault and its fabric, Azure Migrate's discovery, agent registration, the Lambdas' log and environment."""

from __future__ import annotations

import logging
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from aws_lambdas.runtime import logger as powertools_logger
from functions.settings import ENV_ENVIRONMENT, ENV_VAULT_NAME, ENV_VAULT_RESOURCE_GROUP, ENV_VAULT_SUBSCRIPTION_ID
from local.aws import SeededEstate
from local.aws.identity import bios_id_for, guest_disks_for, hostname_for
from local.aws.seed import SeededInstance
from local.aws.server import GUEST_CREDENTIALS, start_moto_server
from local.persistence import CloudState
from local.scenario import Scenario
from local.site_recovery import EmulatorEstate, FabricConfig, ProcessServerConfig, SiteRecoveryEmulator
from shared.request import Environment


def estate_seed(scenario: Scenario) -> int:
    """The seed of moto's ids for a scenario: stable across runs and processes (unlike ``hash()``)."""
    return zlib.crc32(scenario.name.encode("utf-8"))


@contextmanager
def _moto_server(scenario: Scenario, state_dir: Path, guest_agent_url: str, saved: CloudState | None) -> Iterator[Any]:
    """moto's server for the scenario (ids seeded by :func:`estate_seed`), from the saved snapshot if any."""
    moto_restore = state_dir / ".moto-restore.pickle"
    if saved is not None:
        moto_restore.write_bytes(saved.moto)
    try:
        with start_moto_server(
            inbound_rules_per_security_group=scenario.estate.inbound_rules_per_security_group,
            guest_agent_url=guest_agent_url,
            enforce_iam=True,
            seed=estate_seed(scenario),
            restore=moto_restore if saved is not None else None,
            ec2_rate_limits={
                name: (limit.capacity, limit.refill_per_second)
                for name, limit in scenario.estate.ec2_rate_limits.items()
            },
        ) as moto:
            moto_restore.unlink(missing_ok=True)  # read before the server listens
            yield moto
    finally:
        moto_restore.unlink(missing_ok=True)


def _deployment_app_settings(scenario: Scenario, vault: EmulatorEstate) -> dict[str, str]:
    """The app settings infra gives a deployment (functionapp.bicep), for the local one: the environment of the
    scenario's request and the vault the Site Recovery emulator serves, the only one this deployment may use."""
    return {
        ENV_ENVIRONMENT: str(scenario.request.get("environment") or Environment.DEV.value),
        ENV_VAULT_SUBSCRIPTION_ID: vault.subscription_id,
        ENV_VAULT_RESOURCE_GROUP: vault.resource_group,
        ENV_VAULT_NAME: vault.vault_name,
    }


def _emulator_estate(scenario: Scenario, seeded: SeededEstate) -> EmulatorEstate:
    """The vault of the scenario's request, with the estate's appliance as the InMageRcm fabric's process server
    (its health as the scenario's ``appliance_health`` says)."""
    target = scenario.request.get("target") or {}
    vault = target.get("vault") or {}
    appliance = seeded.appliance
    defaults = EmulatorEstate.model_fields
    fabric = EmulatorEstate().fabrics[0]
    return EmulatorEstate(
        subscription_id=target.get("subscription_id", defaults["subscription_id"].default),
        resource_group=vault.get("resource_group", defaults["resource_group"].default),
        vault_name=vault.get("name", defaults["vault_name"].default),
        timings=scenario.site_recovery,
        fabrics=[
            FabricConfig(
                **{
                    **fabric.model_dump(exclude={"process_server"}),
                    "process_server": ProcessServerConfig(
                        **scenario.appliance_health.model_dump(),
                        name=scenario.estate.appliance.name,
                        ip_address=appliance.private_ip,
                        bios_id=bios_id_for(appliance.instance_id).upper(),
                    ),
                }
            )
        ],
    )


def _migrate_site_id(emulator: SiteRecoveryEmulator) -> str | None:
    """The Azure Migrate discovery site of the emulated InMageRcm fabric (the readiness check reads its machines)."""
    fabrics = emulator.estate.fabrics
    return emulator.physical_site_id(fabrics[0]) if fabrics else None


def _discover_estate(scenario: Scenario, seeded: SeededEstate, emulator: SiteRecoveryEmulator) -> None:
    """Azure Migrate's discovery of the estate: every instance appears on the appliance's site as the guest
    describes itself (:mod:`local.aws.identity`: the same SMBIOS UUID, reported in upper case as Azure Migrate may;
    the same OS host name, ``ip-…`` on Linux and ``EC2AMAZ-…`` on Windows; the same disks at the same devices)."""
    for spec in scenario.estate.instances:
        seeded_instance = seeded.instances[spec.name]
        behaviour = scenario.behaviour.get(spec.name)
        emulator.discover_machine(
            spec.name,
            seeded_instance.private_ip,
            bios_id_for(seeded_instance.instance_id).upper(),
            spec.platform.value,
            hostname=hostname_for(seeded_instance.instance_id, seeded_instance.private_ip, spec.platform),
            os_name=f"{spec.os_name} {spec.os_version}".strip(),
            disks=_discovered_disks(seeded_instance),
            behaviour=behaviour.replication if behaviour and behaviour.replication else None,
        )


def _registration_hook(seeded: SeededEstate, emulator: SiteRecoveryEmulator) -> Any:
    """When an agent registers on a guest, the appliance's fabric lists it (after the discovery delay)."""
    names = {item.instance_id: name for name, item in seeded.instances.items()}

    def registered(instance_id: str, at: datetime) -> None:
        emulator.register_agent(names[instance_id], at=at)

    return registered


def _discovered_disks(item: SeededInstance) -> list[dict[str, Any]]:
    """The disks Azure Migrate reports: the ones the guest OS shows, root first, at the same device paths
    (:func:`local.aws.identity.guest_disks_for`: NVMe or PHYSICALDRIVE on Nitro, ``/dev/xvd…`` on Xen)."""
    return [
        {"path": disk.device, "size_gb": disk.size_bytes // 1024**3, "is_os": disk.is_os_disk}
        for disk in guest_disks_for(item.volumes, item.platform, item.hypervisor)
    ]


@contextmanager
def _lambda_logs_to(path: Path) -> Iterator[None]:
    """Send the Lambdas' structured logs (Powertools, stdout in AWS) and moto's request log to a file."""
    lambda_logger = logging.getLogger(powertools_logger.name)  # named after the service Powertools was given
    moto_logger = logging.getLogger("werkzeug")
    saved = (list(lambda_logger.handlers), moto_logger.level)
    with path.open("a", encoding="utf-8") as stream:
        for handler in lambda_logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)
        moto_logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for handler in saved[0]:
                if isinstance(handler, logging.StreamHandler):
                    handler.setStream(sys.stdout)
            moto_logger.setLevel(saved[1])


def _guest_aws_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """What a guest's instance profile gives its scripts in AWS: credentials and the (emulated) endpoint."""
    return {"AWS_ENDPOINT_URL": endpoint_url, **GUEST_CREDENTIALS, "AWS_DEFAULT_REGION": region}
