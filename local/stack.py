"""The embedded default, assembled: moto server, seeded estate, guest emulator, Site Recovery emulator, event log
and the local Durable host running the unchanged ``function_app.py`` — all on one clock.

>>> with LocalStack.open(load_scenario(path), Path(".state/demo")) as stack:
...     stack.submit()
...     outcome = stack.run()
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from functions import runtime
from functions.gateways.azure_resources import ArmResourceReader
from functions.gateways.compute import AzureComputeGateway
from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from functions.settings import (
    DISCOVERY_WATCH_SCHEDULE_SETTING,
    ENV_AWS_REGION,
    HEALTH_SCHEDULE_SETTING,
    REQUESTS_QUEUE,
    WATCH_SCHEDULE_SETTING,
    FunctionAppSettings,
)
from local.app import APP_PATH, DEFAULT_APP_SETTINGS, REQUEST_QUEUE_OPTIONS, app_settings
from local.arm_limits import ArmRateLimiter
from local.aws import LocalLambdaRuntime, SeededEstate, emulator_for_estate, seed_estate
from local.aws.ec2_throttle import throttle_counts
from local.aws.guest import GuestEmulator
from local.aws.guest_bridge import GuestAgentServer
from local.aws.iam import lambda_role_credentials
from local.aws.seed import aws_client
from local.aws.server import MotoServer
from local.azure_resources import AzureResourcesEmulator, build_emulated_arm_client, seed_from_request
from local.clock import VirtualClock, WallClock
from local.env.identity import local_principal_headers
from local.events import EventLog
from local.host import LocalHost
from local.host.loop import run_on_loop
from local.persistence import (
    EMULATOR_EXCLUDED,
    GUEST_EXCLUDED,
    INVOKER_EXCLUDED,
    CloudState,
    capture,
    load_state,
    restore,
    write_state,
)
from local.scenario import OperatorAction, Scenario, resolve_request
from local.site_recovery import SiteRecoveryEmulator, build_emulated_client, build_emulated_compute_client
from local.wiring import (
    _deployment_app_settings,
    _discover_estate,
    _emulator_estate,
    _guest_aws_environment,
    _lambda_logs_to,
    _migrate_site_id,
    _moto_server,
    _registration_hook,
    estate_seed,
)
from shared.aws_contracts import ThrottlingError, error_from_lambda_payload
from shared.lifecycle import VmProgress
from shared.pipeline import WaveSummary
from shared.request import parse_request, wave_instance_id

__all__ = ["ROOT", "Elapsed", "LambdaCall", "LocalLambdaInvoker", "LocalStack", "WaveOutcome", "estate_seed"]

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
    """:class:`shared.ports.LambdaInvoker` over the local Lambda runtime, with the estate's side effects.

    Stopping or starting a source tells the Site Recovery emulator (as the real agent's last writes would), and
    a scenario may throttle the first N invocations of a Lambda for an instance (a throttling storm that outlasts
    the SDK's own retries): an invocation acts for its ``instance_ids``, or for the instances of the commands a
    ``command_watch`` call asks about.
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
            acting_for = [*(event.get("instance_ids") or ()), *(c["instance_id"] for c in event.get("commands") or ())]
            throttled = [i for i in acting_for if self.throttles.get((function, i), 0)]
            for instance_id in throttled:  # one throttled call counts for every instance it acts for
                self.throttles[(function, instance_id)] -= 1
            if throttled:
                self.history.append(LambdaCall(function, event, None, "ThrottlingException"))
                raise ThrottlingError(f"Rate exceeded ({function})", code="ThrottlingException", resource=throttled[0])
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


#: The Functions host's app setting for its language worker processes (infra sets it per plan: functionapp.bicep).
WORKER_PROCESS_COUNT_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"


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
        #: The clouds' state was restored from the state directory (set by :meth:`open`).
        self.restored = False
        self._persisted: tuple[MotoServer, dict[str, Any]] | None = None
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
    def open(  # noqa: PLR0915 - one statement per piece wired
        cls,
        scenario: Scenario,
        state_dir: Path,
        *,
        clock: VirtualClock | WallClock | None = None,
        activity_workers: int = 4,
        run_linux_scripts: bool = False,
        persist: bool = False,
        lambda_environments: int | None = None,
        worker_processes: int | None = None,
    ) -> Iterator[LocalStack]:
        """Open everything on ``state_dir``. moto's ids are seeded from the scenario's name
        (:func:`estate_seed`), so a scenario gets the same instance, VPC and group ids on every run.

        ``persist``: the emulated clouds' state is saved in ``state_dir`` (:mod:`local.persistence`) when the
        stack closes and whenever :meth:`save_state` is called, and a saved state is restored on open instead of
        seeding afresh: a wave in flight continues on the same clouds (raises
        :class:`~local.persistence.IncompatibleStateError` for a state of another version).

        ``lambda_environments``: how many Lambda execution-environment processes may run invocations side by side
        (default: the machine's CPU count); they are stopped when the stack closes.

        ``worker_processes``: the function app's worker processes, as its app setting FUNCTIONS_WORKER_PROCESS_COUNT
        (default: that setting in the environment, else 1); more than one replays orchestrators in that many
        processes (:mod:`local.host.workers`)."""
        clock = clock or VirtualClock()
        state_dir.mkdir(parents=True, exist_ok=True)
        saved = load_state(state_dir) if persist else None
        if saved is not None and isinstance(clock, VirtualClock):
            clock.advance_to(saved.saved_at)  # the emulators' jobs are timed on it: never before their save
        with ExitStack() as stack:
            guest_agent = stack.enter_context(GuestAgentServer(now=clock.now).serving())  # EC2's buckets refill on it
            moto = stack.enter_context(_moto_server(scenario, state_dir, guest_agent.url, saved))
            real, cpu = time.perf_counter(), time.process_time()
            if saved is None:
                seeded = seed_estate(scenario.estate, moto.endpoint_url)
            else:
                seeded = saved.seeded.model_copy(update={"endpoint_url": moto.endpoint_url})
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
            limits = ArmRateLimiter(clock)  # one subscription, one principal: one set of ARM buckets for both
            emulator = SiteRecoveryEmulator(_emulator_estate(scenario, seeded), clock=clock, arm_limits=limits)
            _discover_estate(scenario, seeded, emulator)
            for name, behaviour in scenario.behaviour.items():
                for fault in behaviour.site_recovery_faults:
                    emulator.inject(fault.model_copy(update={"machine": fault.machine or name}))
            guests.on_agent_registered = _registration_hook(seeded, emulator)
            # each Lambda under its role
            roles = saved.roles if saved else lambda_role_credentials(moto.endpoint_url, scenario.estate.region)
            arm = AzureResourcesEmulator(scenario.azure, clock=clock, arm_limits=limits)
            seed_from_request(arm, scenario.request, _migrate_site_id(emulator))
            lambdas = stack.enter_context(
                LocalLambdaRuntime(
                    moto.endpoint_url,
                    seeded.lambda_environment(),
                    credentials=roles,
                    environments=(os.cpu_count() or 1) if lambda_environments is None else lambda_environments,
                )
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
            if saved is not None:
                _restore_emulators(saved, guests, emulator, arm, invoker)
            guest_agent.attach(guests)  # the moto server answers SSM's calls about the guests from it
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
                DISCOVERY_WATCH_SCHEDULE_SETTING: scenario.discovery_watch_schedule,
                "POWERTOOLS_METRICS_DISABLED": "true",  # no CloudWatch here; the EMF lines would flood the terminal
            }
            stack.enter_context(app_settings(settings))
            stack.enter_context(_lambda_logs_to(state_dir / "lambdas.log"))
            host_options: dict[str, Any] = {
                "clock": clock,
                "activity_workers": activity_workers,
                "queues": {REQUESTS_QUEUE: REQUEST_QUEUE_OPTIONS},
                "worker_processes": worker_processes or int(os.environ.get(WORKER_PROCESS_COUNT_SETTING) or 1),
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
            local.restored = saved is not None
            if persist:
                local._persisted = (moto, roles)
                stack.callback(local._save_on_close)  # after the host is closed (callbacks run last first)
            stack.callback(local._close_host)
            local.host.start_server()
            yield local

    @property
    def arm_limits(self) -> ArmRateLimiter:
        """ARM's throttling in front of both Azure emulators: ``stack.arm_limits.counts()`` per bucket."""
        return self.site_recovery.arm_limits

    def throttle_counts(self) -> dict[str, dict[str, int]]:
        """Requests and throttled answers per EC2 rate-limit bucket (local/aws/ec2_throttle.py) so far."""
        return throttle_counts(self.aws_endpoint_url)

    # --- the clouds' state ------------------------------------------------------------------------------------

    def save_state(self) -> Path | None:
        """Save the emulated clouds' state in the state directory (when opened with ``persist``); take it while
        the host is idle (no activity running), so that no call is half in it."""
        if self._persisted is None:
            return None
        moto, roles = self._persisted
        state = CloudState(
            saved_at=self.clock.now(),
            moto=moto.snapshot(self.state_dir / ".moto-snapshot.pickle"),
            seeded=self.seeded,
            roles=roles,
            guests=capture(self.guests, GUEST_EXCLUDED),
            site_recovery=capture(self.site_recovery, EMULATOR_EXCLUDED),
            azure_resources=capture(self.azure_resources, EMULATOR_EXCLUDED),
            invoker=capture(self.invoker, INVOKER_EXCLUDED),
        )
        return write_state(self.state_dir, state)

    def _save_on_close(self) -> None:
        try:
            self.save_state()
        except Exception as error:  # closing goes on: the rest of the stack still has to stop
            print(f"the emulated clouds' state was not saved: {type(error).__name__}: {error}", file=sys.stderr)

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


def _restore_emulators(
    saved: CloudState,
    guests: GuestEmulator,
    site_recovery: SiteRecoveryEmulator,
    arm: AzureResourcesEmulator,
    invoker: LocalLambdaInvoker,
) -> None:
    restore(guests, saved.guests, GUEST_EXCLUDED, what="guest emulator")
    restore(site_recovery, saved.site_recovery, EMULATOR_EXCLUDED, what="Site Recovery emulator")
    restore(arm, saved.azure_resources, EMULATOR_EXCLUDED, what="Azure resources emulator")
    restore(invoker, saved.invoker, INVOKER_EXCLUDED, what="Lambda invoker")
