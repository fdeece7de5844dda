"""A Site Recovery emulator that answers the ARM routes the gateway uses, like the service does.

The emulator is transport-agnostic: :meth:`SiteRecoveryEmulator.handle` takes a method, URL, headers and body and
returns a status, headers and body. :mod:`local.site_recovery.transport` plugs it into azure-core so the real
``SiteRecoveryManagementClient`` talks to it without sockets. It serves the Site Recovery vault's routes and the
Azure Migrate discovery site's machines (``Microsoft.OffAzure/ServerSites/{site}/machines``).

One resource family per module: :mod:`.fabrics` (fabric, process servers, agents, container, mapping, policy),
:mod:`.migrate_machines`, :mod:`.protected_items`, :mod:`.replication`, :mod:`.jobs`; this module routes.

Time comes from one clock (a :class:`local.clock.VirtualClock` in tests and the demo). Nothing runs in the
background: jobs and replication are functions of the time, settled lazily whenever a request or a method looks
at them. Every public method is thread-safe. Recorded request bodies are read-only deep copies.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from local.arm_limits import Admission
from local.site_recovery.compute import ComputeMixin, compute_route
from local.site_recovery.estate import FaultKind, HealthLevel, MachineBehaviour, Operation
from local.site_recovery.fabrics import FabricsMixin
from local.site_recovery.migrate_machines import SITE_PATH, MigrateMachinesMixin
from local.site_recovery.model import (
    EmulatorHttpError,
    EmulatorResponse,
    EmulatorTimeoutError,
    RecordedRequest,
    _Item,
    _Machine,
    frozen_copy,
)
from local.site_recovery.protected_items import ProtectedItemsMixin

__all__ = ["EmulatorHttpError", "EmulatorResponse", "EmulatorTimeoutError", "RecordedRequest", "SiteRecoveryEmulator"]


def _throttled(admission: Admission) -> tuple[str, str, dict[str, str]]:
    error = (admission.body or {}).get("error") or {}
    assert isinstance(error, dict)
    return str(error.get("code")), str(error.get("message")), admission.headers


class SiteRecoveryEmulator(MigrateMachinesMixin, FabricsMixin, ComputeMixin, ProtectedItemsMixin):
    """The emulated vault and discovery site: routes, jobs, replication state machine, faults and a request log."""

    # ------------------------------------------------------- the AWS side's hooks

    def source_stopped(self, machine: str, at: datetime | None = None) -> None:
        """The source was shut down at ``at``: a final recovery point newer than ``at`` appears after the
        configured final-sync delay, then replication has nothing more to send. Seeing it stopped again (a poll of
        the shutdown) does not move the stop: the guest stopped writing once."""
        with self._lock:
            found = self._machine(machine)
            if found.source_stopped_at is None:
                found.source_stopped_at = at or self.clock.now()

    def source_started(self, machine: str) -> None:
        with self._lock:
            self._machine(machine).source_stopped_at = None

    def failed_over_vm(self, machine: str) -> str | None:
        """The Azure VM a failover of ``machine`` created and no failoverCancel removed (None: there is none)."""
        with self._lock:
            self._settle()
            return self._failed_over_vms.get(self._machine(machine).name)

    def set_health(self, machine: str, level: HealthLevel | str, *, code: str = "", message: str = "") -> None:
        """Degrade (or restore) a machine's replication health; critical comes with health errors."""
        with self._lock:
            target = self._machine(machine)
            update: dict[str, Any] = {"health": HealthLevel(level)}
            if code:
                update["health_error_code"] = code
            if message:
                update["health_error_message"] = message
            target.behaviour = target.behaviour.model_copy(update=update)

    def stall_replication(self, machine: str, at: datetime | None = None) -> None:
        """No new recovery points from ``at``: the RPO grows until :meth:`resume_replication`."""
        with self._lock:
            target = self._machine(machine)
            if not target.stalls or target.stalls[-1][1] is not None:
                target.stalls.append((at or self.clock.now(), None))

    def resume_replication(self, machine: str) -> None:
        with self._lock:
            target = self._machine(machine)
            if target.stalls and target.stalls[-1][1] is None:
                target.stalls[-1] = (target.stalls[-1][0], self.clock.now())

    def set_behaviour(self, machine: str, behaviour: MachineBehaviour | dict[str, Any]) -> None:
        with self._lock:
            if isinstance(behaviour, dict):
                behaviour = MachineBehaviour.model_validate(behaviour)
            self._machine(machine).behaviour = behaviour

    def seed_protected_item(self, machine: str, *, enabled_at: datetime | None = None) -> str:
        """Put an already-replicating item in place for ``machine`` (as if enable succeeded at ``enabled_at``),
        for sweeps and benchmarks over many items. Returns the protected item's name."""
        with self._lock:
            target = self._machine(machine)
            fabric = target.fabric
            item = _Item(
                name=target.item_name,
                fabric=fabric,
                machine=target,
                policy_id=self.policy_id(fabric),
                protectable_item_id="",
                details={"instanceType": "InMageRcm", "fabricDiscoveryMachineId": self.machine_id(target)},
                created=enabled_at or self.clock.now(),
                enabled_at=enabled_at or self.clock.now(),
            )
            self._items[item.key] = item
            return item.name

    # ------------------------------------------------------- HTTP

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> EmulatorResponse:
        """Answer one HTTP request like the service would."""
        parts = urlsplit(url)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = body.decode("utf-8", "replace")
        recorded = frozen_copy(payload)  # the body as sent: nothing the emulator does later may change it
        admission = self.arm_limits.admit(method, path, headers)  # ARM's front door, before any provider
        with self._lock:
            self._settle()
            operation = Operation.UNKNOWN
            try:
                if admission.throttled:
                    raise EmulatorHttpError(admission.status, *_throttled(admission))
                site = SITE_PATH.fullmatch(path)
                compute = compute_route(method.upper(), path) if site is None else None
                if compute is not None:
                    operation = compute[0]
                    status, extra, result = self._handle_compute(*compute, query, headers, payload)
                elif site is not None:
                    operation = Operation.GET_MACHINE if site["machine"] else Operation.LIST_MACHINES
                    self._check_request(operation, {}, query, headers, payload, api_version=False)
                    status, extra, result = self._handle_site(method.upper(), path, query)
                else:
                    operation, route = self._route(method.upper(), path)
                    status, extra, result = self._dispatch(operation, route, query, headers, payload)
            except EmulatorHttpError as error:
                status, extra = error.status, dict(error.headers)
                result = {"error": {"code": error.code, "message": error.message}}
            except EmulatorTimeoutError:
                self._record(method, path, query, recorded, operation, status=0)
                raise
            self._record(method, path, query, recorded, operation, status=status)
        out_headers = {"x-ms-request-id": str(uuid.uuid4()), **extra}
        if not admission.throttled:
            out_headers.update(admission.headers)
        data = b""
        if result is not None:
            data = json.dumps(result).encode()
            out_headers["Content-Type"] = "application/json; charset=utf-8"
        out_headers["Content-Length"] = str(len(data))
        return EmulatorResponse(status, out_headers, data)

    def _record(
        self, method: str, path: str, query: dict[str, str], payload: Any, operation: Operation, *, status: int
    ) -> None:
        self._requests.append(
            RecordedRequest(
                method=method.upper(),
                path=path,
                query=query,
                api_version=query.get("api-version"),
                body=payload,
                operation=operation,
                status=status,
                at=self.clock.now(),
            )
        )

    _VAULT = re.compile(
        r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.RecoveryServices"
        r"/vaults/(?P<vault>[^/]+)(?P<rest>/.*)?",
        re.IGNORECASE,
    )
    _ROUTES: list[tuple[str, re.Pattern[str], Operation]] = [
        (m, re.compile(p, re.IGNORECASE), o)
        for m, p, o in [
            ("GET", r"/replicationFabrics", Operation.LIST_FABRICS),
            ("GET", r"/replicationFabrics/(?P<fabric>[^/]+)", Operation.GET_FABRIC),
            (
                "GET",
                r"/replicationFabrics/(?P<fabric>[^/]+)/replicationProtectionContainers",
                Operation.LIST_CONTAINERS,
            ),
            ("GET", r"/replicationPolicies", Operation.LIST_POLICIES),
            ("GET", r"/replicationPolicies/(?P<policy>[^/]+)", Operation.GET_POLICY),
            ("GET", r"/replicationProtectedItems", Operation.LIST_VAULT_ITEMS),
            ("GET", r"/replicationJobs", Operation.LIST_JOBS),
            ("GET", r"/replicationJobs/(?P<job>[^/]+)", Operation.GET_JOB),
            ("GET", r"/replicationOperationStatus/(?P<operation>[^/]+)", Operation.GET_OPERATION_STATUS),
        ]
    ]
    _CONTAINER = re.compile(
        r"/replicationFabrics/(?P<fabric>[^/]+)/replicationProtectionContainers/(?P<container>[^/]+)(?P<rest>/.*)?",
        re.IGNORECASE,
    )
    _CONTAINER_ROUTES: list[tuple[str, re.Pattern[str], Operation]] = [
        (m, re.compile(p, re.IGNORECASE), o)
        for m, p, o in [
            ("GET", r"", Operation.GET_CONTAINER),
            ("GET", r"/replicationProtectionContainerMappings", Operation.LIST_MAPPINGS),
            ("GET", r"/replicationProtectedItems", Operation.LIST_ITEMS),
            ("GET", r"/replicationProtectedItems/(?P<item>[^/]+)", Operation.GET_ITEM),
            ("PUT", r"/replicationProtectedItems/(?P<item>[^/]+)", Operation.ENABLE),
            ("PATCH", r"/replicationProtectedItems/(?P<item>[^/]+)", Operation.UPDATE),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/testFailover", Operation.TEST_FAILOVER),
            (
                "POST",
                r"/replicationProtectedItems/(?P<item>[^/]+)/testFailoverCleanup",
                Operation.TEST_FAILOVER_CLEANUP,
            ),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/unplannedFailover", Operation.FAILOVER),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/failoverCommit", Operation.COMMIT),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/failoverCancel", Operation.CANCEL_FAILOVER),
            ("POST", r"/replicationProtectedItems/(?P<item>[^/]+)/remove", Operation.REMOVE),
            ("GET", r"/replicationProtectedItems/(?P<item>[^/]+)/recoveryPoints", Operation.RECOVERY_POINTS),
            (
                "GET",
                r"/replicationProtectedItems/(?P<item>[^/]+)/operationresults/(?P<job>[^/]+)",
                Operation.OPERATION_RESULT,
            ),
        ]
    ]

    def _route(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        match = self._VAULT.fullmatch(path)
        if match is None:
            raise EmulatorHttpError(404, "NotFound", f"No route for {method} {path}")
        e = self.estate
        for key, expected, label in (
            ("sub", e.subscription_id, "subscription"),
            ("rg", e.resource_group, "resource group"),
            ("vault", e.vault_name, "vault"),
        ):
            if match[key].lower() != expected.lower():
                raise EmulatorHttpError(
                    404, "ResourceNotFound", f"The {label} '{match[key]}' was not found (Recovery Services vault)."
                )
        rest = match["rest"] or ""
        container = self._CONTAINER.fullmatch(rest)
        if container is not None:
            inner = container["rest"] or ""
            for route_method, pattern, operation in self._CONTAINER_ROUTES:
                found = pattern.fullmatch(inner)
                if found and route_method == method:
                    return operation, {
                        "fabric": container["fabric"],
                        "container": container["container"],
                        **found.groupdict(),
                    }
        else:
            for route_method, pattern, operation in self._ROUTES:
                found = pattern.fullmatch(rest)
                if found and route_method == method:
                    return operation, found.groupdict()
        raise EmulatorHttpError(404, "NotFound", f"No route for {method} {path}")

    def _machine_of_request(self, route: dict[str, str], payload: Any) -> _Machine | None:
        """The machine a request is about, so faults can target one VM: the protected item named in the route (or
        its job's), or the discovered machine an enable body names (``fabricDiscoveryMachineId``)."""
        names = {route["item"].lower()} if "item" in route else set()
        job = self._jobs.get(route.get("job", ""))
        if job is not None:
            names.add(job.item_key[2])
        for item in self._items.values():
            if item.name.lower() in names:
                return item.machine
        if isinstance(payload, dict):
            details = (payload.get("properties") or {}).get("providerSpecificDetails") or {}
            wanted = str(details.get("fabricDiscoveryMachineId") or "").lower() if isinstance(details, dict) else ""
            return next((m for m in self._machines.values() if self.machine_id(m).lower() == wanted), None)
        return None

    def _check_request(
        self,
        operation: Operation,
        route: dict[str, str],
        query: dict[str, str],
        headers: dict[str, str],
        payload: Any = None,
        *,
        api_version: bool = True,
    ) -> None:
        if self.estate.require_authorization:
            auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
            if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
                raise EmulatorHttpError(401, "AuthenticationFailed", "Authentication failed: no bearer token.")
        version = query.get("api-version")
        if api_version and version != self.estate.api_version:
            raise EmulatorHttpError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported version is '{self.estate.api_version}'.",
            )
        machine = self._machine_of_request(route, payload)
        fault = self._take_fault(
            operation,
            machine,
            {
                FaultKind.THROTTLE,
                FaultKind.THROTTLE_NO_RETRY_AFTER,
                FaultKind.UNAVAILABLE,
                FaultKind.CONFLICT,
                FaultKind.TIMEOUT,
            },
        )
        if fault is None:
            return
        if fault.kind is FaultKind.TIMEOUT:
            raise EmulatorTimeoutError(f"injected timeout on {operation.value}")
        if fault.kind is FaultKind.THROTTLE:
            raise EmulatorHttpError(
                429,
                fault.error_code or "TooManyRequests",
                fault.error_message or "The request was throttled.",
                {"Retry-After": str(fault.retry_after_seconds)},
            )
        if fault.kind is FaultKind.THROTTLE_NO_RETRY_AFTER:
            raise EmulatorHttpError(
                429, fault.error_code or "TooManyRequests", fault.error_message or "The request was throttled."
            )
        if fault.kind is FaultKind.UNAVAILABLE:
            raise EmulatorHttpError(
                503, fault.error_code or "ServiceUnavailable", fault.error_message or "The service is unavailable."
            )
        raise EmulatorHttpError(
            409,
            fault.error_code or "OperationInProgress",
            fault.error_message or "Another operation is in progress on the protected item.",
        )

    def _dispatch(  # noqa: PLR0911, PLR0912 - one branch per route
        self,
        operation: Operation,
        route: dict[str, str],
        query: dict[str, str],
        headers: dict[str, str],
        payload: Any,
    ) -> tuple[int, dict[str, str], Any]:
        self._check_request(operation, route, query, headers, payload)
        if operation is Operation.LIST_FABRICS:
            return 200, {}, {"value": [self._fabric_body(f) for f in self.estate.fabrics]}
        if operation is Operation.GET_OPERATION_STATUS:
            return 200, {}, self._operation_status_body(route["operation"])
        if operation is Operation.GET_FABRIC:
            return 200, {}, self._fabric_body(self._find_fabric(route["fabric"]))
        if operation is Operation.LIST_CONTAINERS:
            return 200, {}, {"value": [self._container_body(self._find_fabric(route["fabric"]))]}
        if operation is Operation.LIST_POLICIES:
            return 200, {}, {"value": self._policies()}
        if operation is Operation.GET_POLICY:
            for policy in self._policies():
                if policy["name"].lower() == route["policy"].lower():
                    return 200, {}, policy
            raise EmulatorHttpError(404, "PolicyNotFound", f"The replication policy '{route['policy']}' was not found.")
        if operation is Operation.LIST_VAULT_ITEMS:
            return 200, {}, self._page(list(self._items.values()), query, "skipToken", "/replicationProtectedItems")
        if operation is Operation.GET_JOB:
            return 200, {}, self._job_body(self._find_job(route["job"]))
        if operation is Operation.LIST_JOBS:
            jobs = self._listed_jobs(query.get("$filter", ""))
            keep = {"$filter": query["$filter"]} if query.get("$filter") else None
            return 200, {}, self._page(jobs, query, "skipToken", "/replicationJobs", keep=keep, render=self._job_body)
        fabric = self._find_container(route["fabric"], route["container"])
        container_path = self.container_id(fabric).removeprefix(self.vault_id)
        if operation is Operation.GET_CONTAINER:
            return 200, {}, self._container_body(fabric)
        if operation is Operation.LIST_MAPPINGS:
            return 200, {}, {"value": self._mappings(fabric)}
        if operation is Operation.LIST_ITEMS:
            items = [i for i in self._items.values() if i.fabric is fabric]
            return 200, {}, self._page(items, query, "skipToken", f"{container_path}/replicationProtectedItems")
        if operation is Operation.ENABLE:
            return self._enable(fabric, route["item"], payload)
        item = self._find_item(fabric, route["item"])
        if operation is Operation.GET_ITEM:
            return 200, {}, self._item_body(item)
        if operation is Operation.RECOVERY_POINTS:
            points = self._recovery_points(item, self.clock.now())
            return 200, {}, {"value": [self._recovery_point_body(item, p) for p in reversed(points)]}
        if operation is Operation.OPERATION_RESULT:
            return self._operation_result(item, route["job"])
        return self._action(item, operation, payload)

    def _page(
        self,
        entries: Sequence[Any],
        query: dict[str, str],
        token_name: str,
        path: str,
        *,
        size: int | None = None,
        keep: dict[str, str] | None = None,
        render: Callable[[Any], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        size = size or self.estate.page_size
        render = render or self._render
        token = query.get(token_name) or "0"
        if not token.isdigit():
            raise EmulatorHttpError(400, "InvalidSkipToken", f"The {token_name} '{token}' is not valid.")
        start = int(token)
        page: dict[str, Any] = {"value": [render(entry) for entry in entries[start : start + size]]}
        if start + size < len(entries):
            params = {"api-version": self.estate.api_version, **(keep or {}), token_name: str(start + size)}
            if size != self.estate.page_size:
                params["$take"] = str(size)
            page["nextLink"] = f"{self.base_url}{self.vault_id}{path}?{urlencode(params, quote_via=quote)}"
        return page

    def _render(self, entry: _Item) -> dict[str, Any]:
        """The JSON of one listed entry: only the page being returned is rendered."""
        return self._item_body(entry)
