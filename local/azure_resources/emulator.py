"""An in-process Azure Resource Manager for the readiness check: resource groups, VNets with subnets, storage
accounts, and the caller's permissions computed from role assignments of built-in roles.

It answers reads only, the way ARM does (shapes from the Resources, Network, Storage and Authorization REST
references): every GET needs a bearer token and an ``api-version``; a GET the caller's roles do not allow answers
403 ``AuthorizationFailed`` naming the action and scope; a missing resource answers 404 (``ResourceGroupNotFound``,
``ResourceNotFound``, ``NotFound`` for a subnet); ``{scope}/providers/Microsoft.Authorization/permissions`` lists
one entry per role assignment at the scope or above it, paged with ``nextLink``. Any other method answers 405 and
is recorded, so tests can assert the check wrote nothing.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from local.arm_limits import ArmRateLimiter
from local.azure_resources.estate import AzureEstate
from local.azure_resources.roles import BUILT_IN_ROLES, BuiltInRole
from local.clock import Clock, VirtualClock
from local.site_recovery import EmulatorResponse
from shared.rbac import PermissionEntry, is_allowed

_RG = r"/subscriptions/[^/]+/resourcegroups/[^/]+"
_ROUTES = (
    ("subnet", re.compile(rf"({_RG}/providers/microsoft\.network/virtualnetworks/[^/]+)/subnets/([^/]+)", re.I)),
    ("vnet", re.compile(rf"{_RG}/providers/microsoft\.network/virtualnetworks/[^/]+", re.I)),
    ("storage", re.compile(rf"{_RG}/providers/microsoft\.storage/storageaccounts/[^/]+", re.I)),
    ("group", re.compile(_RG, re.I)),
)
_READ_ACTION = {
    "group": "Microsoft.Resources/subscriptions/resourceGroups/read",
    "vnet": "Microsoft.Network/virtualNetworks/read",
    "subnet": "Microsoft.Network/virtualNetworks/subnets/read",
    "storage": "Microsoft.Storage/storageAccounts/read",
}
_PERMISSIONS = "/providers/microsoft.authorization/permissions"


@dataclass(frozen=True)
class ArmRequest:
    method: str
    path: str
    api_version: str | None
    status: int
    at: datetime


@dataclass
class _Network:
    id: str
    location: str
    subnets: dict[str, str] = field(default_factory=dict)  # lower name -> name as created


def _group_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    return "/".join(parts[:5])


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> EmulatorResponse:
    return EmulatorResponse(
        status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(body).encode()
    )


def _error(status: int, code: str, message: str) -> EmulatorResponse:
    return _json(status, {"error": {"code": code, "message": message}})


class AzureResourcesEmulator:
    """The ARM state of the target side and who may read it. Thread-safe."""

    def __init__(
        self, estate: AzureEstate | None = None, *, clock: Clock | None = None, arm_limits: ArmRateLimiter | None = None
    ) -> None:
        self.estate = estate or AzureEstate()
        self.clock: Clock = clock or VirtualClock()
        #: ARM's subscription throttling (:mod:`local.arm_limits`), shared with the other emulators behind ARM.
        self.arm_limits = arm_limits or ArmRateLimiter(self.clock)
        self.base_url = self.estate.base_url.rstrip("/")
        self.groups: dict[str, str] = {}  # lower id -> id
        self.networks: dict[str, _Network] = {}
        self.storage: dict[str, dict[str, Any]] = {}
        self.assignments: list[tuple[str, BuiltInRole]] = []
        self.requests: list[ArmRequest] = []
        self._throttle_left = self.estate.faults.throttled_requests
        self._lock = threading.RLock()

    # --- seeding ------------------------------------------------------------------------------------------------

    def add_resource_group(self, group_id: str) -> None:
        with self._lock:
            self.groups.setdefault(group_id.lower(), group_id)

    def add_virtual_network(self, network_id: str, subnets: list[str]) -> None:
        with self._lock:
            self.add_resource_group(_group_of(network_id))
            network = self.networks.setdefault(network_id.lower(), _Network(network_id, self.estate.location))
            for subnet in subnets:
                network.subnets.setdefault(subnet.lower(), subnet)

    def remove_subnet(self, network_id: str, subnet: str) -> None:
        with self._lock:
            self.networks[network_id.lower()].subnets.pop(subnet.lower(), None)

    def add_storage_account(self, account_id: str, *, reachable: bool = True) -> None:
        with self._lock:
            self.add_resource_group(_group_of(account_id))
            self.storage[account_id.lower()] = {"id": account_id, "reachable": reachable}

    def set_storage_reachable(self, account_id: str, reachable: bool) -> None:
        with self._lock:
            self.storage[account_id.lower()]["reachable"] = reachable

    def assign(self, role: str, scope: str) -> None:
        with self._lock:
            entry = (scope.rstrip("/"), BUILT_IN_ROLES[role])
            if entry not in self.assignments:
                self.assignments.append(entry)

    def revoke(self, role: str, scope: str | None = None) -> None:
        """Remove the identity's assignments of ``role`` (at ``scope`` only, when given)."""
        with self._lock:
            self.assignments = [
                (at, granted)
                for at, granted in self.assignments
                if not (granted.name == role and (scope is None or at.lower() == scope.rstrip("/").lower()))
            ]

    def permissions_at(self, scope: str) -> list[PermissionEntry]:
        """One entry per assignment at ``scope`` or an ancestor (whole path segments, case-insensitive)."""
        target = scope.rstrip("/").lower() + "/"
        with self._lock:
            return [role.permission for at, role in self.assignments if target.startswith(at.lower() + "/")]

    # --- HTTP ---------------------------------------------------------------------------------------------------

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> EmulatorResponse:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            if not lowered.get("authorization", "").startswith("Bearer "):  # ARM authenticates before it throttles
                answer = self._answer(method.upper(), parts.path, query, lowered)
            else:
                admission = self.arm_limits.admit(method, parts.path, headers)
                if admission.throttled:
                    answer = _json(admission.status, admission.body, admission.headers)
                else:
                    answer = self._answer(method.upper(), parts.path, query, lowered)
                    answer.headers.update(admission.headers)
            self.requests.append(
                ArmRequest(method.upper(), parts.path, query.get("api-version"), answer.status, self.clock.now())
            )
        return answer

    def _answer(  # noqa: PLR0911 - one answer per ARM check, in the order ARM makes them
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> EmulatorResponse:
        if not headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        if self._throttle_left:
            self._throttle_left -= 1
            response = _error(429, "TooManyRequests", "The request is being throttled.")
            response.headers["Retry-After"] = "1"
            return response
        if method != "GET":
            return _error(405, "MethodNotAllowed", f"the emulator serves reads only, not {method}")
        if not query.get("api-version"):
            return _error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if path.lower().endswith(_PERMISSIONS):
            return self._permissions(path[: -len(_PERMISSIONS)], query)
        for kind, route in _ROUTES:
            found = route.fullmatch(path)
            if found:
                return self._resource(kind, path, found)
        return _error(404, "NotFound", f"The resource path {path} is not served by this emulator.")

    def _authorized(self, action: str, scope: str) -> EmulatorResponse | None:
        if is_allowed(action, self.permissions_at(scope)):
            return None
        return _error(
            403,
            "AuthorizationFailed",
            f"The client '{self.estate.principal_id}' with object id '{self.estate.principal_id}' does not have "
            f"authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access "
            "was recently granted, please refresh your credentials.",
        )

    def _missing(self, kind: str, path: str, found: re.Match[str]) -> EmulatorResponse | None:
        group = _group_of(path)
        if group.lower() not in self.groups:
            return _error(404, "ResourceGroupNotFound", f"Resource group '{_name(group)}' could not be found.")
        if kind in ("vnet", "subnet"):
            network_id = found.group(1) if kind == "subnet" else path
            network = self.networks.get(network_id.lower())
            if network is None:
                return _error(
                    404,
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.Network/virtualNetworks/{_name(network_id)}' under resource group "
                    f"'{_name(group)}' was not found.",
                )
            if kind == "subnet" and found.group(2).lower() not in network.subnets:
                return _error(404, "NotFound", f"Resource {path} not found.")
        if kind == "storage" and path.lower() not in self.storage:
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Storage/storageAccounts/{_name(path)}' under resource group "
                f"'{_name(group)}' was not found.",
            )
        return None

    def _resource(self, kind: str, path: str, found: re.Match[str]) -> EmulatorResponse:
        denied = self._authorized(_READ_ACTION[kind], path)
        if denied is not None:
            return denied
        missing = self._missing(kind, path, found)
        if missing is not None:
            return missing
        if kind == "group":
            group_id = self.groups[path.lower()]
            return _json(
                200,
                {
                    "id": group_id,
                    "name": _name(group_id),
                    "type": "Microsoft.Resources/resourceGroups",
                    "location": self.estate.location,
                    "properties": {"provisioningState": "Succeeded"},
                },
            )
        if kind == "vnet":
            return _json(200, self._network_body(self.networks[path.lower()]))
        if kind == "subnet":
            network = self.networks[found.group(1).lower()]
            index = sorted(network.subnets).index(found.group(2).lower())
            return _json(200, self._subnet_body(network, network.subnets[found.group(2).lower()], index))
        return _json(200, self._storage_body(self.storage[path.lower()]))

    @staticmethod
    def _subnet_body(network: _Network, name: str, index: int) -> dict[str, Any]:
        return {
            "id": f"{network.id}/subnets/{name}",
            "name": name,
            "type": "Microsoft.Network/virtualNetworks/subnets",
            "etag": 'W/"00000000-0000-0000-0000-000000000001"',
            "properties": {"provisioningState": "Succeeded", "addressPrefix": f"10.10.{index}.0/24"},
        }

    def _network_body(self, network: _Network) -> dict[str, Any]:
        return {
            "id": network.id,
            "name": _name(network.id),
            "type": "Microsoft.Network/virtualNetworks",
            "location": network.location,
            "etag": 'W/"00000000-0000-0000-0000-000000000001"',
            "properties": {
                "provisioningState": "Succeeded",
                "addressSpace": {"addressPrefixes": ["10.10.0.0/16"]},
                "subnets": [
                    self._subnet_body(network, network.subnets[key], index)
                    for index, key in enumerate(sorted(network.subnets))
                ],
            },
        }

    def _storage_body(self, account: dict[str, Any]) -> dict[str, Any]:
        reachable = bool(account["reachable"])
        return {
            "id": account["id"],
            "name": _name(account["id"]),
            "type": "Microsoft.Storage/storageAccounts",
            "location": self.estate.location,
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "properties": {
                "provisioningState": "Succeeded",
                "publicNetworkAccess": "Enabled",
                "minimumTlsVersion": "TLS1_2",
                "networkAcls": {
                    "bypass": "AzureServices" if reachable else "None",
                    "defaultAction": "Allow" if reachable else "Deny",
                    "ipRules": [],
                    "virtualNetworkRules": [],
                },
            },
        }

    def _permissions(self, scope: str, query: dict[str, str]) -> EmulatorResponse:
        kind_and_match = next(((k, r.fullmatch(scope)) for k, r in _ROUTES if r.fullmatch(scope)), None)
        if kind_and_match is not None:
            missing = self._missing(kind_and_match[0], scope, kind_and_match[1])  # type: ignore[arg-type]
            if missing is not None:
                return missing
        entries = [
            {
                "actions": list(entry.actions),
                "notActions": list(entry.not_actions),
                "dataActions": list(entry.data_actions),
                "notDataActions": list(entry.not_data_actions),
            }
            for entry in self.permissions_at(scope)
        ]
        start = int(query.get("$skiptoken") or 0)
        size = self.estate.page_size
        page: dict[str, Any] = {"value": entries[start : start + size]}
        if start + size < len(entries):
            page["nextLink"] = f"{self.base_url}{scope}/providers/Microsoft.Authorization/permissions?" + urlencode(
                {"api-version": query["api-version"], "$skiptoken": start + size}
            )
        return _json(200, page)
