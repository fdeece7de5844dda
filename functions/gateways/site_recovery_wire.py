"""Site Recovery answers read as the REST API's JSON: protected items, jobs and health errors by their wire names.

The replication watch and the health sweep read whole pages of the vault's protected items and jobs every tick;
building the SDK's models of every entry (each nested value deserialised on construction) was most of what a tick
cost, to read a dozen fields. So pages are read as JSON through the SDK client's own pipeline (same credential,
retry policy and error types: :func:`json_page`) and the fields are read here by the names of the REST spec
(``ReplicationProtectedItem``, ``InMageRcmReplicationDetails``, ``Job``, ``HealthError``). Single reads made
through the SDK are read the same way from the model's wire form (:func:`wire`), so each field has one reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, map_error
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from functions.gateways.site_recovery_client import _job_from_url
from shared.azure_migrate import HealthIssue, ProtectionHealth
from shared.errors import PermanentError
from shared.site_recovery import (
    JobStatus,
    ProtectedItemRef,
    ReplicationProgressHealth,
    ResyncState,
    ScenarioInfo,
    VaultRef,
    known_or_unknown,
)

RCM = "InMageRcm"
_ERROR_MAP: dict[int, type[HttpResponseError]] = {404: ResourceNotFoundError}
_ITEM_ID = re.compile(
    r"/replicationFabrics/(?P<fabric>[^/]+)/replicationProtectionContainers/(?P<container>[^/]+)"
    r"/replicationProtectedItems/(?P<item>[^/]+)$",
    re.IGNORECASE,
)

Json = Mapping[str, Any]


def wire(model: Any) -> Any:
    """An SDK model (or a list of them) as the JSON the service sent; JSON passes through."""
    if isinstance(model, list):
        return [wire(item) for item in model]
    as_dict = getattr(model, "as_dict", None)
    return as_dict() if callable(as_dict) else model


def vault_path(vault: VaultRef) -> str:
    """The vault's resource path, each name quoted as one segment."""
    names = (vault.subscription_id, vault.resource_group, vault.vault_name)
    sub, group, name = (quote(n, safe="") for n in names)
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.RecoveryServices/vaults/{name}"


def json_page(
    client: SiteRecoveryManagementClient, url: str, params: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of an ARM list (``value``, ``nextLink``) through the client's pipeline; ``url`` is a path with
    ``params`` for the first page, or the previous page's ``nextLink`` as it came."""
    request = HttpRequest("GET", url, params=params) if params is not None else HttpRequest("GET", url)
    response = client.send_request(request)
    if response.status_code != 200:
        map_error(status_code=response.status_code, response=response, error_map=_ERROR_MAP)
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    page = response.json()
    return list(page.get("value") or []), page.get("nextLink") or None


def _obj(value: Any) -> Json:
    return value if isinstance(value, Mapping) else {}


def text(value: Any) -> str:
    """A wire value as text: the SDK turns known enum values into ``str`` enums (``str()`` would give their name)."""
    if value is None:
        return ""
    return str(value.value) if isinstance(value, Enum) else str(value)


def health_issues(errors: Any) -> tuple[HealthIssue, ...]:
    """``healthErrors`` (``HealthError``: errorCode, errorMessage or summaryMessage, errorLevel, …) as issues."""
    return tuple(
        HealthIssue(
            code=text(e.get("errorCode")),
            message=text(e.get("errorMessage") or e.get("summaryMessage")),
            level=text(e.get("errorLevel")),
            possible_causes=text(e.get("possibleCauses")),
            recommended_action=text(e.get("recommendedAction")),
        )
        for e in map(_obj, wire(errors) or [])
    )


def item_ref(vault: VaultRef, raw: Json) -> ProtectedItemRef:
    """The item's fabric, container and name, from its resource id."""
    match = _ITEM_ID.search(text(raw.get("id")))
    if match is None:
        raise PermanentError(f"unexpected protected item id {raw.get('id')}", code="BadResourceId")
    return ProtectedItemRef(
        vault=vault, fabric_name=match["fabric"], container_name=match["container"], item_name=match["item"]
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def item_health_fields(raw: Json, ref: ProtectedItemRef) -> dict[str, Any]:
    """The documented InMageRcm fields of a ``ReplicationProtectedItem``; an undocumented enum value becomes
    "unknown" and is reported."""
    props = _obj(raw.get("properties"))
    details = _obj(props.get("providerSpecificDetails"))
    unknown: list[str] = []

    def documented(name: str, value: Any, enum: Any) -> str:
        known, odd = known_or_unknown(text(value) or None, enum)
        if odd is not None:
            unknown.append(f"{name}={odd}")
        return known

    kind = text(details.get("instanceType"))
    if kind not in ("", RCM):
        unknown.append(f"providerSpecificDetails.instanceType={kind}")
    scenario = _obj(props.get("currentScenario"))
    scenario_info = None
    if scenario.get("scenarioName") not in (None, "None"):
        scenario_info = ScenarioInfo(
            name=text(scenario["scenarioName"]),
            job_name=_job_from_url(scenario.get("jobId")),
            start_time=scenario.get("startTime"),
        )
    return {
        "item": ref,
        "friendly_name": text(props.get("friendlyName")),
        "protection_state": text(props.get("protectionState")),
        "replication_health": documented("replicationHealth", props.get("replicationHealth"), ProtectionHealth),
        "health_errors": health_issues(props.get("healthErrors")),
        "initial_replication_percent": _int(details.get("initialReplicationProgressPercentage")),
        "initial_replication_health": documented(
            "initialReplicationProgressHealth",
            details.get("initialReplicationProgressHealth"),
            ReplicationProgressHealth,
        ),
        "resync_percent": _int(details.get("resyncProgressPercentage")),
        "resync_required": text(details.get("resyncRequired")).lower() == "true",
        "resync_state": documented("resyncState", details.get("resyncState"), ResyncState),
        "rpo_seconds": _int(details.get("lastRpoInSeconds")),
        "last_rpo_time": details.get("lastRpoCalculatedTime"),
        "last_recovery_point_time": details.get("lastRecoveryPointReceived"),
        "last_recovery_point_id": details.get("lastRecoveryPointId"),
        "allowed_operations": tuple(text(op) for op in props.get("allowedOperations") or ()),
        "current_scenario": scenario_info,
        "unknown_values": tuple(unknown),
    }


def item_status_extras(raw: Json) -> dict[str, Any]:
    """What a single item's read adds to its health: failover states and the target VM's name."""
    props = _obj(raw.get("properties"))
    details = _obj(props.get("providerSpecificDetails"))
    return {
        "protection_state_description": text(props.get("protectionStateDescription")),
        "active_location": text(props.get("activeLocation")),
        "test_failover_state": text(props.get("testFailoverState")),
        "test_failover_state_description": text(props.get("testFailoverStateDescription")),
        "failover_recovery_point_id": props.get("failoverRecoveryPointId"),
        "target_vm_name": details.get("targetVmName"),
    }


def job_status_of(raw: Json, default_name: str = "") -> JobStatus:
    """A ``Job`` as the pipeline's :class:`JobStatus` (the first error's code and message)."""
    props = _obj(raw.get("properties"))
    code = message = ""
    for error in map(_obj, props.get("errors") or []):
        service = _obj(error.get("serviceErrorDetails"))
        provider = _obj(error.get("providerErrorDetails"))
        code = text(service.get("code") or provider.get("errorCode"))
        message = text(service.get("message") or provider.get("errorMessage"))
        if code or message:
            break
    custom = _obj(props.get("customDetails"))
    return JobStatus(
        name=text(raw.get("name") or default_name),
        state=text(props.get("state")),
        scenario_name=text(props.get("scenarioName")),
        friendly_name=text(props.get("friendlyName")),
        target_object_name=text(props.get("targetObjectName")),
        start_time=props.get("startTime"),
        end_time=props.get("endTime"),
        error_code=code,
        error_message=message,
        test_vm_names=tuple(
            text(d.get("testVmName"))
            for d in map(_obj, custom.get("protectedItemDetails") or [])
            if d.get("testVmName")
        ),
    )
