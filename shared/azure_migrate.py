"""What Azure Migrate discovered, and how a source EC2 instance is found in it. Pure: no SDK.

The modernized (InMageRcm) flow enables replication of the machine **Azure Migrate discovered**, not of a Site
Recovery protectable item (Microsoft Learn, "Automate VMware to Azure agent-based migration using Azure Site
Recovery REST API", Dec 2025):

- the InMageRcm fabric lists the appliances as ``processServers[]`` (``id``, ``name``, ``biosId``, ``fqdn``,
  ``ipAddresses``, ``health``, ``healthErrors``) and names the discovery site, ``physicalSiteId``;
- ``GET {physicalSiteId}/machines?api-version=2023-06-06`` lists the discovered machines (Microsoft.OffAzure
  ``Server``: ``displayName``, ``fqdn``, ``biosGuid``, ``networkAdapters[].ipAddressList``, ``disks[]``,
  ``runAsAccountId``, ``applianceNames``, ``isDeleted``);
- the fabric's ``agentDetails[]`` (``agentId``, ``machineId``, ``biosId``, ``fqdn``, ``disks``) lists the
  Mobility agents registered with it: a discovered machine whose agent is there can be enabled.

Matching rules (:func:`match_machine`): BIOS id first (case-insensitive: Azure Migrate may report it in upper case),
then private IP, then OS hostname; never the EC2 Name tag. A machine whose BIOS id differs from the guest's is never
taken by IP or hostname (an address may be reused). Two candidates are refused, both named.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ApplianceIdentity",
    "DiscoveredDisk",
    "DiscoveredMachine",
    "HealthIssue",
    "MachineMatch",
    "MachineQuery",
    "ProcessServer",
    "ProcessServerChoice",
    "ProcessServerProblem",
    "ProtectionHealth",
    "choose_process_server",
    "match_machine",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProtectionHealth(StrEnum):
    """``ProtectionHealth`` of the SDK's models (process servers, protected items): every documented value."""

    NONE = "None"
    NORMAL = "Normal"
    WARNING = "Warning"
    CRITICAL = "Critical"


class HealthIssue(_Model):
    """One ``healthErrors`` entry (``HealthError``), as Site Recovery spells it."""

    code: str
    message: str
    level: str = ""
    possible_causes: str = ""
    recommended_action: str = ""


class ApplianceIdentity(_Model):
    """How the request names its replication appliance: any of name, IP address or BIOS id."""

    name: str | None = None
    ip_address: str | None = None
    bios_id: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.name or self.ip_address or self.bios_id):
            raise ValueError("name the appliance by at least one of name, ip_address or bios_id")
        return self

    def describe(self) -> str:
        return " / ".join(v for v in (self.name, self.ip_address, self.bios_id) if v)


class ProcessServer(_Model):
    """One ``processServers[]`` entry of the InMageRcm fabric: a registered replication appliance."""

    id: str
    name: str = ""
    bios_id: str = ""
    fqdn: str = ""
    ip_addresses: tuple[str, ...] = ()
    health: str = ""
    health_errors: tuple[HealthIssue, ...] = ()
    last_heartbeat: str = ""
    #: ``ProcessServerDetails.protectedItemCount``: the machines it protects now (None: not reported).
    protected_item_count: int | None = None

    def matches(self, appliance: ApplianceIdentity) -> bool:
        if appliance.bios_id and self.bios_id and self.bios_id.lower() == appliance.bios_id.lower():
            return True
        if appliance.ip_address and appliance.ip_address in self.ip_addresses:
            return True
        if appliance.name:
            wanted = appliance.name.lower()
            return wanted in {self.name.lower(), self.fqdn.lower(), self.fqdn.split(".", 1)[0].lower()}
        return False

    @property
    def health_known(self) -> bool:
        return self.health in {h.value for h in ProtectionHealth}

    @property
    def healthy(self) -> bool:
        """Normal or Warning replicates; Critical, None (no report) and any value not documented do not."""
        return self.health in {ProtectionHealth.NORMAL, ProtectionHealth.WARNING}

    def health_summary(self) -> str:
        errors = "; ".join(f"{e.code}: {e.message}" for e in self.health_errors if e.code or e.message)
        label = self.health or "not reported"
        if not self.health_known and self.health:
            label = f"unknown ({self.health})"
        return f"health {label}" + (f" ({errors})" if errors else "")


class ProcessServerProblem(StrEnum):
    """Why the appliance has no process server to use."""

    NOT_REGISTERED = "not_registered"
    AMBIGUOUS = "ambiguous"
    UNHEALTHY = "unhealthy"


class ProcessServerChoice(_Model):
    """The appliance's process server, or why there is none to use (``reason`` for rules, ``problem`` for people)."""

    server: ProcessServer | None = None
    reason: ProcessServerProblem | None = None
    problem: str = ""


def choose_process_server(servers: Sequence[ProcessServer], appliance: ApplianceIdentity) -> ProcessServerChoice:
    """The process server of ``appliance``; absent, ambiguous or unhealthy → no server and the reason."""
    found = [s for s in servers if s.matches(appliance)]
    registered = ", ".join(s.name or s.id for s in servers) or "none"
    if not found:
        return ProcessServerChoice(
            reason=ProcessServerProblem.NOT_REGISTERED,
            problem=f"the appliance {appliance.describe()} is not registered as a process server "
            f"(registered: {registered})",
        )
    if len(found) > 1:
        names = " and ".join(s.name or s.id for s in found)
        return ProcessServerChoice(
            reason=ProcessServerProblem.AMBIGUOUS,
            problem=f"the appliance {appliance.describe()} matches two process servers: {names}",
        )
    server = found[0]
    if not server.healthy:
        return ProcessServerChoice(
            reason=ProcessServerProblem.UNHEALTHY,
            problem=f"the appliance's process server {server.name or server.id} is not healthy: "
            f"{server.health_summary()}",
        )
    return ProcessServerChoice(server=server)


class DiscoveredDisk(_Model):
    """One ``disks[]`` entry of a discovered machine. ``id`` is the disk's UUID: InMageRcm's ``diskId``."""

    id: str
    name: str = ""
    path: str = ""
    size_bytes: int | None = None
    is_os_disk: bool | None = Field(default=None, description="from the registered agent's disk details")


class DiscoveredMachine(_Model):
    """One machine Azure Migrate discovered on the appliance's site, with its agent's registration."""

    id: Annotated[str, Field(min_length=1, description="the machine's ARM id: fabricDiscoveryMachineId")]
    name: str
    display_name: str = ""
    bios_id: str = ""
    fqdn: str = ""
    ip_addresses: tuple[str, ...] = ()
    os_type: str = ""
    os_name: str = ""
    run_as_account_id: str | None = None
    disks: tuple[DiscoveredDisk, ...] = ()
    appliance_names: tuple[str, ...] = ()
    is_deleted: bool = False
    agent_registered: bool = False
    agent_id: str | None = None

    def label(self) -> str:
        return f"{self.display_name or self.name} ({self.id.rsplit('/', 1)[-1]})"


class MachineQuery(_Model):
    """What the pipeline knows of the source: the guest's BIOS id and hostname, the instance's private IP."""

    instance_id: str = ""
    bios_id: str | None = None
    ip_address: str | None = None
    hostname: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.bios_id or self.ip_address or self.hostname):
            raise ValueError("give at least one of bios_id, ip_address or hostname")
        return self

    def describe(self) -> str:
        return " / ".join(v for v in (self.bios_id, self.ip_address, self.hostname) if v)


class MachineMatch(_Model):
    """The machine of a query: one match, none, or two (or more) candidates, named."""

    machine: DiscoveredMachine | None = None
    matched_by: str = ""
    candidates: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1

    def problem(self, query: MachineQuery) -> str:
        if self.ambiguous:
            return (
                f"two discovered machines match {query.instance_id or query.describe()} by {self.matched_by}: "
                f"{' and '.join(self.candidates)}; remove the stale one in Azure Migrate"
            )
        if self.machine is None:
            return f"no machine discovered by Azure Migrate matches {query.describe()}"
        return ""


def _short(host: str) -> str:
    return host.split(".", 1)[0].lower()


def match_machine(machines: Sequence[DiscoveredMachine], query: MachineQuery) -> MachineMatch:
    """Find the query's machine: BIOS id, then IP, then hostname (see the module's rules)."""
    live = [m for m in machines if not m.is_deleted]
    if query.bios_id:
        wanted = query.bios_id.lower()
        by_bios = [m for m in live if m.bios_id and m.bios_id.lower() == wanted]
        if by_bios:
            return _decide(by_bios, "BIOS id")
        # a machine reporting another BIOS id is another machine, whatever its address or name
        live = [m for m in live if not m.bios_id]
    if query.ip_address:
        by_ip = [m for m in live if query.ip_address in m.ip_addresses]
        if len(by_ip) > 1 and query.hostname:
            named = [m for m in by_ip if _short(query.hostname) in {_short(m.fqdn), _short(m.display_name)}]
            by_ip = named or by_ip
        if by_ip:
            return _decide(by_ip, "IP address")
    if query.hostname:
        wanted = _short(query.hostname)
        by_name = [m for m in live if wanted in {_short(m.fqdn), _short(m.display_name)} - {""}]
        if by_name:
            return _decide(by_name, "hostname")
    return MachineMatch()


def _decide(found: list[DiscoveredMachine], how: str) -> MachineMatch:
    if len(found) == 1:
        return MachineMatch(machine=found[0], matched_by=how)
    return MachineMatch(matched_by=how, candidates=tuple(m.label() for m in found))
