"""Activities that act inside AWS by invoking the project's Lambdas (one activity per Lambda)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from shared import aws_contracts as awsc

R = TypeVar("R", bound=BaseModel)


def _invoke(function: str, event: BaseModel, result: type[R]) -> R:
    answer = runtime.current().lambdas.invoke(function, event.model_dump(mode="json"))
    return result.model_validate(answer)


@bp.activity_trigger(input_name="payload")
def inventory(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, awsc.InventoryEvent, lambda e: _invoke("inventory", e, awsc.InventoryResult))


@bp.activity_trigger(input_name="payload")
def prepare_network(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(
        payload, awsc.PrepareNetworkEvent, lambda e: _invoke("prepare_network", e, awsc.PrepareNetworkResult)
    )


@bp.activity_trigger(input_name="payload")
def prepare_guest(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, awsc.PrepareGuestEvent, lambda e: _invoke("prepare_guest", e, awsc.GuestCommandResult))


@bp.activity_trigger(input_name="payload")
def install_agent(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, awsc.InstallAgentEvent, lambda e: _invoke("install_agent", e, awsc.GuestCommandResult))


@bp.activity_trigger(input_name="payload")
def command_status(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, awsc.CommandStatusEvent, lambda e: _invoke("command_status", e, awsc.CommandStatusResult))


@bp.activity_trigger(input_name="payload")
def stop_source(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, awsc.StopSourceEvent, lambda e: _invoke("stop_source", e, awsc.PowerResult))


@bp.activity_trigger(input_name="payload")
def start_source(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, awsc.StartSourceEvent, lambda e: _invoke("start_source", e, awsc.PowerResult))


@bp.activity_trigger(input_name="payload")
def revert_changes(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, awsc.RevertChangesEvent, lambda e: _invoke("revert_changes", e, awsc.RevertChangesResult))
