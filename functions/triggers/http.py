"""The operator's HTTP API: wave and VM status, approve cutover, cancel."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions import operations
from functions.triggers import bp
from shared.request import vm_instance_id


def _json(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


def _actor(req: func.HttpRequest) -> tuple[str, str | None] | func.HttpResponse:
    try:
        body = req.get_json() if req.get_body() else {}
    except ValueError:
        return _json({"error": "body: expected a JSON object"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "body: expected a JSON object"}, 400)
    by = str(body.get("by") or "").strip()
    if not by:
        return _json({"error": "by: required (who approves or cancels)"}, 400)
    vm = body.get("vm")
    return by, (str(vm) if vm else None)


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
    actor = _actor(req)
    if isinstance(actor, func.HttpResponse):
        return actor
    by, vm = actor
    approved = await operations.approve(client, req.route_params["request_id"], by, vm)
    return _json({"approved": approved}, 202 if approved else 409)


@bp.route(route="waves/{request_id}/cancel", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def cancel_migration(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    actor = _actor(req)
    if isinstance(actor, func.HttpResponse):
        return actor
    by, vm = actor
    cancelled = await operations.cancel(client, req.route_params["request_id"], by, vm)
    return _json({"cancelled": cancelled}, 202 if cancelled else 409)
