"""The embedded default, assembled: moto server, seeded estate, guest emulator, Site Recovery emulator, event log
and the local Durable host running the unchanged ``function_app.py`` — all on one clock.

>>> with LocalStack.open(load_scenario(path), Path(".state/demo")) as stack:
...     stack.submit()
...     outcome = stack.run()
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aws_lambdas.runtime import logger as powertools_logger
from functions import runtime
from functions.gateways.azure_resources import ArmResourceReader
from functions.gateways.compute import AzureComputeGateway
from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from functions.settings import (
    ENV_AWS_REGION,
    ENV_ENVIRONMENT,
    ENV_VAULT_NAME,
    ENV_VAULT_RESOURCE_GROUP,
    ENV_VAULT_SUBSCRIPTION_ID,
    HEALTH_SCHEDULE_SETTING,
    REQUESTS_QUEUE,
    WATCH_SCHEDULE_SETTING,
    FunctionAppSettings,
)
from local.app import APP_PATH, DEFAULT_APP_SETTINGS, REQUEST_QUEUE_OPTIONS, app_settings
from local.aws import LocalLambdaRuntime, SeededEstate, emulator_for_estate, seed_estate, start_moto_server
from local.aws.guest import GuestEmulator
from local.aws.guest_bridge import GuestAgentServer
from local.aws.iam import lambda_role_credentials
from local.aws.identity import bios_id_for, guest_disks_for, hostname_for
from local.aws.seed import SeededInstance, aws_client
from local.aws.server import GUEST_CREDENTIALS
from local.azure_resources import AzureResourcesEmulator, build_emulated_arm_client, seed_from_request
from local.clock import VirtualClock, WallClock
from local.env.identity import local_principal_headers
from local.events import EventLog
from local.host import LocalHost
from local.host.loop import run_on_loop
from local.scenario import OperatorAction, Scenario, resolve_request
from local.site_recovery import (
    EmulatorEstate,
    FabricConfig,
    ProcessServerConfig,
    SiteRecoveryEmulator,
    build_emulated_client,
    build_emulated_compute_client,
)
from shared.aws_contracts import ThrottlingError, error_from_lambda_payload
from shared.lifecycle import VmProgress
from shared.pipeline import WaveSummary
from shared.request import Environment, parse_request, wave_instance_id

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LambdaCall:
    """One Lambda invocation as the orchestration's activity made it: the event and the answer (or error)."""

    function: str
    event: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None


@dataclass
class LocalLambdaInvoker:
    """:class:`shared.ports.LambdaInvoker` over the in-process Lambda runtime, with the estate's side effects.

    Stopping or starting a source tells the Site Recovery emulator (as the real agent's last writes would), and
    a scenario may throttle the first N invocations of a Lambda for an instance (a throttling storm that outlasts
    the SDK's own retries).
    """

    lambdas: LocalLambdaRuntime
    site_recovery: SiteRecoveryEmulator
    names: dict[str, str]
    clock: Any
    throttles: dict[tuple[str, str], int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    history: list[LambdaCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls[function] = self.calls.get(function, 0) + 1
            for instance_id in event.get("instance_ids") or ():
                left = self.throttles.get((function, instance_id), 0)
                if left:
                    self.throttles[(function, instance_id)] = left - 1
                    self.history.append(LambdaCall(function, event, None, "ThrottlingException"))
                    raise ThrottlingError(
                        f"Rate exceeded ({function})", code="ThrottlingException", resource=instance_id
                    )
        payload = self.lambdas.invoke(function, event)
        failed = "errorType" in payload
        with self._lock:
            self.history.append(
                LambdaCall(function, event, None if failed else payload, str(payload["errorType"]) if failed else None)
            )
        if failed:
            raise error_from_lambda_payload(payload)
        if function in {"stop_source", "start_source"}:
            for change in payload.get("instances", []):
                name = self.names.get(change["instance_id"], change["instance_id"])
                if function == "stop_source" and change["state"] in {"stopping", "stopped"}:
                    self.site_recovery.source_stopped(name, at=self.clock.now())
                elif function == "start_source":
                    self.site_recovery.source_started(name)
        return payload


@dataclass(frozen=True)
class Elapsed:
    """Real and CPU seconds (this process's) of one stretch of work."""

    real_seconds: float
    cpu_seconds: float


@dataclass
class WaveOutcome:
    """How a local run ended."""

    request_id: str
    runtime_status: str
    summary: WaveSummary | None
    progress: list[VmProgress]
    virtual_hours: float
    stats: dict[str, Any]


class LocalStack:
    """Everything the embedded default runs, opened together and closed together."""

    def __init__(
        self,
        scenario: Scenario,
        state_dir: Path,
        host: LocalHost,
        seeded: SeededEstate,
        guests: GuestEmulator,
        site_recovery: SiteRecoveryEmulator,
        invoker: LocalLambdaInvoker,
        events: EventLog,
        host_options: dict[str, Any] | None = None,
        seeding: Elapsed | None = None,
        *,
        azure_resources: AzureResourcesEmulator,
    ) -> None:
        self.scenario = scenario
        self.state_dir = state_dir
        self.host = host
        self.seeded = seeded
        self.guests = guests
        self.site_recovery = site_recovery
        #: The emulated ARM the readiness check reads (target resources, the identity's role assignments).
        self.azure_resources = azure_resources
        self.invoker = invoker
        self.events = events
        self.clock = host.clock
        self.names = {seeded_instance.instance_id: name for name, seeded_instance in seeded.instances.items()}
        self.host_options = dict(host_options or {})
        self.host_restarts = 0
        #: What seeding the estate in moto cost (benchmarks report it apart from the wave).
        self.seeding = seeding or Elapsed(0.0, 0.0)
        #: moto's server (what ``AWS_ENDPOINT_URL`` points a client at); set by :meth:`open`.
        self.aws_endpoint_url = ""
        self.request = self.resolve(scenario.request)
        self.request_id = str(self.request.get("request_id", ""))

    def use_request(self, request: dict[str, Any]) -> None:
        """Run ``request`` (resolved against this estate) instead of the scenario's own."""
        self.request = self.resolve(request)
        self.request_id = str(self.request.get("request_id", ""))

    def resolve(self, request: dict[str, Any]) -> dict[str, Any]:
        """A request for this estate: ``instance: <name>`` becomes the seeded EC2 id; the appliance is filled in;
        ``select:`` is resolved against the emulated EC2 as `cli submit` resolves it against AWS."""
        appliance = {
            "instance_id": self.seeded.appliance.instance_id,
            "private_ip": self.seeded.appliance.private_ip,
            "security_group_id": self.seeded.appliance.security_group_id,
        }
        if "select" in request:
            from discovery.select import resolve_selection  # noqa: PLC0415 - only for select: requests

            region = str(request.get("region") or self.scenario.estate.region)
            request = {**request, "region": region, "appliance": {**appliance, **(request.get("appliance") or {})}}
            request = resolve_selection(request, aws_client("ec2", region, self.seeded.endpoint_url))
        return resolve_request(
            request,
            self.scenario.estate.region,
            {name: item.instance_id for name, item in self.seeded.instances.items()},
            appliance,
        )

    @classmethod
    @contextmanager
    def open(
        cls,
        scenario: Scenario,
        state_dir: Path,
        *,
        clock: VirtualClock | WallClock | None = None,
        activity_workers: int = 4,
        run_linux_scripts: bool = False,
    ) -> Iterator[LocalStack]:
        """Open everything on ``state_dir``. moto's ids are seeded from the scenario's name
        (:func:`estate_seed`), so a scenario gets the same instance, VPC and group ids on every run."""
        clock = clock or VirtualClock()
        state_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            guest_agent = stack.enter_context(GuestAgentServer().serving())
            moto = stack.enter_context(
                start_moto_server(
                    inbound_rules_per_security_group=scenario.estate.inbound_rules_per_security_group,
                    guest_agent_url=guest_agent.url,
                    enforce_iam=True,
                    seed=estate_seed(scenario),
                )
            )
            real, cpu = time.perf_counter(), time.process_time()
            seeded = seed_estate(scenario.estate, moto.endpoint_url)
            seeding = Elapsed(time.perf_counter() - real, time.process_time() - cpu)
            ids = {name: item.instance_id for name, item in seeded.instances.items()}
            overrides = {name: dict(b.guest) for name, b in scenario.behaviour.items() if b.guest}
            if run_linux_scripts:
                for spec in scenario.estate.instances:
                    overrides.setdefault(spec.name, {})["run_linux_scripts"] = True
            guests = emulator_for_estate(
                clock,
                scenario.estate,
                ids,
                overrides=overrides,
                document_prefix=seeded.document_prefix,
                scratch_dir=state_dir / "guests",
                script_env=_guest_aws_environment(moto.endpoint_url, scenario.estate.region),
                seeded=seeded,
            )
            emulator = SiteRecoveryEmulator(_emulator_estate(scenario, seeded), clock=clock)
            _discover_estate(scenario, seeded, emulator)
            for name, behaviour in scenario.behaviour.items():
                for fault in behaviour.site_recovery_faults:
                    emulator.inject(fault.model_copy(update={"machine": fault.machine or name}))
            guests.on_agent_registered = _registration_hook(seeded, emulator)
            guest_agent.attach(guests)  # the moto server answers SSM's calls about the guests from it
            roles = lambda_role_credentials(moto.endpoint_url, scenario.estate.region)  # each Lambda under its role
            arm = AzureResourcesEmulator(scenario.azure, clock=clock)
            seed_from_request(arm, scenario.request, _migrate_site_id(emulator))
            lambdas = stack.enter_context(
                LocalLambdaRuntime(moto.endpoint_url, seeded.lambda_environment(), credentials=roles)
            )
            invoker = LocalLambdaInvoker(
                lambdas=lambdas,
                site_recovery=emulator,
                names={item.instance_id: name for name, item in seeded.instances.items()},
                clock=clock,
                throttles={
                    (function, ids[name]): count
                    for name, behaviour in scenario.behaviour.items()
                    for function, count in behaviour.aws_throttles.items()
                },
            )
            events = EventLog(
                state_dir / "events.jsonl", outages=scenario.event_topic.outages_from(clock.now()), now=clock.now
            )
            gateway = AzureSiteRecoveryGateway(client=build_emulated_client(emulator))
            deployment = _deployment_app_settings(scenario, emulator.estate)
            runtime.install(
                runtime.Runtime(
                    settings=FunctionAppSettings.from_env(
                        {**deployment, ENV_AWS_REGION: scenario.estate.region}
                    ).model_copy(update={"timings": scenario.timings}),
                    lambdas=invoker,
                    events=events,
                    site_recovery=lambda vault: gateway,
                    now=clock.now,
                    azure_resources=ArmResourceReader(build_emulated_arm_client(arm)),
                    compute=lambda sub: AzureComputeGateway(build_emulated_compute_client(emulator, sub)),
                )
            )
            stack.callback(runtime.install, None)
            settings = {
                **DEFAULT_APP_SETTINGS,
                **deployment,
                HEALTH_SCHEDULE_SETTING: scenario.health_schedule,
                WATCH_SCHEDULE_SETTING: scenario.watch_schedule,
                "POWERTOOLS_METRICS_DISABLED": "true",  # no CloudWatch here; the EMF lines would flood the terminal
            }
            stack.enter_context(app_settings(settings))
            stack.enter_context(_lambda_logs_to(state_dir / "lambdas.log"))
            host_options: dict[str, Any] = {
                "clock": clock,
                "activity_workers": activity_workers,
                "queues": {REQUESTS_QUEUE: REQUEST_QUEUE_OPTIONS},
            }
            local = cls(
                scenario,
                state_dir,
                LocalHost(APP_PATH, state_dir / "host", **host_options),
                seeded,
                guests,
                emulator,
                invoker,
                events,
                host_options,
                seeding,
                azure_resources=arm,
            )
            local.aws_endpoint_url = moto.endpoint_url
            stack.callback(local._close_host)
            local.host.start_server()
            yield local

    # --- the host process -------------------------------------------------------------------------------------

    def restart_host(self) -> LocalHost:
        """Simulate the Functions host dying and a new one starting on the same state while the clouds live on.

        The current host is abandoned without draining: activities still running in its workers finish their
        side effects, but their results are lost, as a killed process loses them. The new host opens the same
        state directory on the same clock and dispatches again every activity that was scheduled and not
        completed (at-least-once, as in Azure). Everything committed per episode survives; nothing else does.
        """
        self._abandon_host()
        self.host = LocalHost(APP_PATH, self.state_dir / "host", **self.host_options)
        self.host.start_server()
        self.host_restarts += 1
        return self.host

    def _abandon_host(self) -> None:
        host = self.host
        host._closed = True  # a crash, not a close: nothing is drained or awaited
        host._pool.shutdown(wait=False, cancel_futures=True)
        run_on_loop(host._server.stop(), timeout=30)  # frees the client API port
        host._store.close()  # its results queue is never read again

    def _close_host(self) -> None:
        self.host.close()

    # --- driving ----------------------------------------------------------------------------------------------

    def submit(self, request: dict[str, Any] | None = None, *, message_id: str | None = None) -> str:
        """Put the (scenario's) request on the embedded queue, as ``cli submit`` does; returns the message id."""
        body = self.request if request is None else self.resolve(request)
        parse_request(body)  # the operator hears about a bad request before it is queued
        message_id = message_id or str(body.get("request_id") or uuid.uuid4())
        self.host.send(
            REQUESTS_QUEUE, json.dumps(body).encode(), message_id=message_id, content_type="application/json"
        )
        return message_id

    def run(self, *, on_progress: Any = None, operator: list[OperatorAction] | None = None) -> WaveOutcome:
        """Run until the wave finishes, performing operator actions (the scenario's unless ``operator`` is given)
        at their virtual times, counted from now."""
        started = self.clock.now()
        limit = started + timedelta(hours=self.scenario.max_virtual_hours)
        actions = sorted(self.scenario.operator if operator is None else operator, key=lambda action: action.at_hours)
        if on_progress is not None:
            self.host.add_listener(on_progress)
        while True:
            due = started + timedelta(hours=actions[0].at_hours) if actions else limit
            self.host.run_until_idle(horizon=max(timedelta(0), min(due, limit) - self.clock.now()))
            if self.finished():
                break
            if actions:
                if isinstance(self.clock, VirtualClock):
                    self.clock.advance_to(due)
                self.operate(actions.pop(0))
                continue
            break  # idle with nothing left to do (or the time limit reached): the outcome says where it stopped
        return self.outcome(started)

    def finished(self) -> bool:
        """The wave's orchestration has ended (completed, failed or terminated)."""
        status = self.host.status(wave_instance_id(self.request_id))
        return status is not None and status.runtime_status in {"Completed", "Failed", "Terminated"}

    def operate(self, action: OperatorAction) -> dict[str, Any]:
        """Approve or cancel through the function app's own HTTP API, as an operator would."""
        body: dict[str, Any] = {"by": action.by}
        if action.vm:
            body["vm"] = self.seeded.instance_id(action.vm)
        if action.rollback:
            body["rollback"] = True
        response = self.host.invoke_http(
            f"waves/{self.request_id}/{action.action}", "POST", body, headers=local_principal_headers()
        )
        answer: dict[str, Any] = json.loads(response.get_body() or b"{}")
        answer["http_status"] = response.status_code
        return answer

    def outcome(self, started: datetime) -> WaveOutcome:
        wave = self.host.status(wave_instance_id(self.request_id))
        summary = WaveSummary.model_validate(wave.output) if wave and wave.runtime_status == "Completed" else None
        progress = [
            VmProgress.model_validate(status.custom_status)
            for status in self.host.instances(prefix=f"vm-{self.request_id}-")
            if isinstance(status.custom_status, dict)
        ]
        return WaveOutcome(
            request_id=self.request_id,
            runtime_status=wave.runtime_status if wave else "NotStarted",
            summary=summary,
            progress=progress,
            virtual_hours=(self.clock.now() - started).total_seconds() / 3600,
            stats=dict(vars(self.host.stats)),
        )


def estate_seed(scenario: Scenario) -> int:
    """The seed of moto's ids for a scenario: stable across runs and processes (unlike ``hash()``)."""
    return zlib.crc32(scenario.name.encode("utf-8"))


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
