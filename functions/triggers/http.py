"""The operator's HTTP API: wave and VM status, approve cutover, cancel."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions import operations, runtime
from functions.triggers import bp
from shared.request import vm_instance_id


def _json(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


#: App Service authentication (Easy Auth) injects these; external requests cannot set them (Microsoft Learn, "Work
#: with user identities in Azure App Service authentication"). A function key identifies no one.
PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
PRINCIPAL_ID_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
PRINCIPAL_NAME_HEADER = "X-MS-CLIENT-PRINCIPAL-NAME"
#: Claim types App Service maps Entra ID's object id and name to in the decoded principal.
_OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")


@dataclass(frozen=True)
class _Ask:
    caller: operations.Caller
    vm: str | None
    rollback: bool


def _principal(req: func.HttpRequest) -> tuple[str, str] | str:
    """(id, name) of the authenticated caller from the headers, ("", "") if none, or what is wrong with them."""
    principal_id = (req.headers.get(PRINCIPAL_ID_HEADER) or "").strip()
    principal_name = (req.headers.get(PRINCIPAL_NAME_HEADER) or "").strip()
    encoded = (req.headers.get(PRINCIPAL_HEADER) or "").strip()
    if encoded:
        try:
            decoded = json.loads(base64.b64decode(encoded, validate=True))
            claims = {str(c["typ"]): str(c["val"]) for c in decoded.get("claims") or []}
        except (ValueError, TypeError, KeyError, AttributeError):
            return f"{PRINCIPAL_HEADER}: not base64-encoded JSON with claims"
        principal_name = principal_name or claims.get(str(decoded.get("name_typ") or ""), "")
        principal_id = principal_id or next((claims[c] for c in _OBJECT_ID_CLAIMS if c in claims), "")
    return principal_id, principal_name


def _body(req: func.HttpRequest) -> dict[str, Any] | None:
    try:
        body = req.get_json() if req.get_body() else {}
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _ask(req: func.HttpRequest, action: str) -> _Ask | func.HttpResponse:
    """Who asks (the authenticated principal; ``by`` is their display name) and about which VM; or the refusal."""
    body = _body(req)
    if body is None:
        return _json({"error": "body: expected a JSON object"}, 400)
    principal = _principal(req)
    if isinstance(principal, str):
        return _json({"error": principal}, 401)
    principal_id, principal_name = principal
    display = str(body.get("by") or "").strip()
    if not (principal_id or principal_name):
        if runtime.current().settings.require_authenticated_caller:
            return _json(
                {
                    "error": f"{action}: no authenticated caller (App Service authentication passes none); "
                    "a function key is not an identity"
                },
                401,
            )
        if not display:
            return _json({"error": f"by: required (who {action}s) when no authenticated caller is passed"}, 400)
    rollback = body.get("rollback", False)
    if not isinstance(rollback, bool):
        return _json({"error": "rollback: expected true or false"}, 400)
    vm = body.get("vm")
    caller = operations.Caller(principal_id=principal_id, principal_name=principal_name, display_name=display)
    return _Ask(caller=caller, vm=str(vm) if vm else None, rollback=rollback)


def _answered(action: str, answer: operations.Answer, vm: str | None) -> func.HttpResponse:
    """202 when any VM was reached; 409 naming each VM's state otherwise (one line for one VM)."""
    refused = {instance: reason for instance, reason in answer.refused.items()}
    if vm and not answer.done:
        reason = refused.get(vm) or next(iter(refused.values()), "is not in this wave (or not started)")
        status = 409 if refused else 404
        return _json({"error": f"{action} refused: VM {vm} {reason}", "refused": refused}, status)
    key = {"approve": "approved", "cancel": "cancelled"}[action]
    body: dict[str, Any] = {key: answer.done, "refused": refused}
    if not answer.done:
        body["error"] = f"{action} refused: no VM of this wave may be {key} now"
    return _json(body, 202 if answer.done else 409)


@bp.route(route="waves/{request_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def wave_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await operations.wave_status(client, req.route_params["request_id"])
    return _json(status) if status else _json({"error": "no such wave"}, 404)


@bp.route(route="waves/{request_id}/vms/{instance_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def vm_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(vm_instance_id(req.route_params["request_id"], req.route_params["instance_id"]))
    if not status:
        return _json({"error": "no such VM in this wave"}, 404)
    return _json({"runtime_status": operations.runtime_status_of(status), **(status.custom_status or {})})


@bp.route(route="waves/{request_id}/approve", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def approve_cutover(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    ask = _ask(req, "approve")
    if isinstance(ask, func.HttpResponse):
        return ask
    if ask.rollback:
        return _json({"error": "rollback: only a cancel can ask for a rollback"}, 400)
    answer = await operations.approve(client, req.route_params["request_id"], ask.caller, ask.vm)
    return _answered("approve", answer, ask.vm)


@bp.route(route="waves/{request_id}/cancel", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def cancel_migration(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    ask = _ask(req, "cancel")
    if isinstance(ask, func.HttpResponse):
        return ask
    answer = await operations.cancel(client, req.route_params["request_id"], ask.caller, ask.vm, rollback=ask.rollback)
    return _answered("cancel", answer, ask.vm)
