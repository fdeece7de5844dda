"""Scenario files: an emulated estate, a migration request, how the estate behaves, and what the operator does.

A scenario is YAML (or JSON) validated by :class:`Scenario`. The request refers to estate instances by name
(``instance: web-01``) because their EC2 ids only exist once moto has launched them; the appliance's id, IP and
security group are filled in from the seeded estate too. ``behaviour`` injects outcomes per instance and step;
``operator`` schedules approvals and cancellations on the virtual clock; ``expect`` states the outcome per VM,
which ``cli simulate`` checks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from local.aws.estate import Estate
from local.azure_resources.estate import AzureEstate
from local.events import TopicOutage
from local.site_recovery.estate import ApplianceHealth, MachineBehaviour, RequestFault
from local.site_recovery.estate import Timings as SiteRecoveryTimings
from shared.errors import InvalidRequestError
from shared.fields import did_you_mean
from shared.lifecycle import TERMINAL, VmState
from shared.pipeline import Timings


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VmBehaviour(_Model):
    """How one instance behaves: its guest's script outcomes, its replication, and faults on its calls."""

    guest: dict[str, Any] = Field(default_factory=dict, description="GuestBehaviour fields, e.g. scripts outcomes")
    replication: MachineBehaviour | None = None
    site_recovery_faults: list[RequestFault] = Field(default_factory=list)
    aws_throttles: dict[str, int] = Field(
        default_factory=dict, description="Lambda name -> how many invocations are throttled first (transient)"
    )


class TopicOutageSpec(_Model):
    """The event topic cannot be reached for ``minutes``, starting ``after_hours`` after the stack opened."""

    after_hours: float = Field(ge=0)
    minutes: float = Field(gt=0)


class EventTopicBehaviour(_Model):
    """How the event topic (Service Bus ``migration-events``; the local event log) behaves."""

    outages: list[TopicOutageSpec] = Field(default_factory=list)

    def outages_from(self, opened: datetime) -> list[TopicOutage]:
        """The outages on the stack's clock, counted from ``opened``."""
        return [
            TopicOutage(
                start=opened + timedelta(hours=spec.after_hours),
                end=opened + timedelta(hours=spec.after_hours, minutes=spec.minutes),
            )
            for spec in self.outages
        ]


class OperatorAction(_Model):
    """Something the operator does at a point of virtual time after submission."""

    at_hours: float = Field(ge=0)
    action: Literal["approve", "cancel"]
    by: str = Field(default="operator", description="display name; the principal is the local operator")
    vm: str | None = Field(default=None, description="estate instance name; None: the whole wave")
    rollback: bool = Field(default=False, description="cancel: also cancel a failover Site Recovery accepted")


class Scenario(_Model):
    name: str
    description: str = ""
    estate: Estate
    site_recovery: SiteRecoveryTimings = Field(default_factory=SiteRecoveryTimings)
    appliance_health: ApplianceHealth = Field(
        default_factory=ApplianceHealth,
        description="what the InMageRcm fabric reports of the appliance's process server (health, healthErrors)",
    )
    azure: AzureEstate = Field(
        default_factory=AzureEstate, description="the emulated ARM (seeded from the request) and faults planted in it"
    )
    timings: Timings = Field(default_factory=Timings)
    health_schedule: str = "0 */15 * * * *"
    watch_schedule: str = Field(
        default="*/10 * * * * *", description="the replication watch: job completions and final syncs VMs wait for"
    )
    discovery_watch_schedule: str = Field(
        default="0 * * * * *", description="the discovery watch: machines discovered with their agents registered"
    )
    request: dict[str, Any]
    behaviour: dict[str, VmBehaviour] = Field(default_factory=dict)
    event_topic: EventTopicBehaviour = Field(default_factory=EventTopicBehaviour)
    operator: list[OperatorAction] = Field(default_factory=list)
    expect: dict[str, VmState] = Field(default_factory=dict)
    max_virtual_hours: float = Field(default=14 * 24, gt=0)

    @model_validator(mode="after")
    def _names_exist(self) -> Scenario:
        names = {instance.name for instance in self.estate.instances}
        problems = [f"behaviour.{name}: no such estate instance" for name in self.behaviour if name not in names]
        problems += [f"expect.{name}: no such estate instance" for name in self.expect if name not in names]
        problems += [
            f"expect.{name}: {state.value} is not a final state"
            for name, state in self.expect.items()
            if state not in TERMINAL
        ]
        problems += [
            f"operator[{i}].vm: no such estate instance {a.vm!r}"
            for i, a in enumerate(self.operator)
            if a.vm and a.vm not in names
        ]
        for index, vm in enumerate(self.request.get("vms") or []):
            if isinstance(vm, dict) and "instance" in vm and vm["instance"] not in names:
                problems.append(f"request.vms[{index}].instance: no such estate instance {vm['instance']!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; errors name the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidRequestError(f"{path}: cannot read the scenario: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InvalidRequestError(f"{path}: not a UTF-8 text file (byte {error.start}: {error.reason})") from None
    except yaml.YAMLError as error:
        raise InvalidRequestError(f"{path}: not valid YAML:\n{error}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        issues = tuple(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            + (did_you_mean(Scenario, e["loc"]) if e["type"] == "extra_forbidden" else "")
            for e in error.errors(include_url=False)
        )
        raise InvalidRequestError(f"{path}: invalid scenario: " + "; ".join(issues), issues=issues) from None


def resolve_request(raw: dict[str, Any], region: str, ids: dict[str, str], appliance: dict[str, str]) -> dict[str, Any]:
    """A request with estate names (``instance: web-01``) replaced by the seeded EC2 ids and the appliance filled in."""
    request = dict(raw)
    request.setdefault("region", region)
    request["appliance"] = {**appliance, **(request.get("appliance") or {})}
    if not isinstance(request.get("vms"), list):
        return request  # not a list of VMs: parse_request names the problem
    vms = []
    for entry in request["vms"]:
        if not isinstance(entry, dict):
            vms.append(entry)
            continue
        vm = dict(entry)
        name = vm.pop("instance", None)
        if name is not None:
            if name not in ids:
                raise InvalidRequestError(f"vms: no estate instance named {name!r}; have {', '.join(sorted(ids))}")
            vm["instance_id"] = ids[name]
        vms.append(vm)
    request["vms"] = vms
    return request
