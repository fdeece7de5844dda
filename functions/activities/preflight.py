"""The wave's batched preflight: inventory every instance through the ``inventory`` Lambda, then judge each."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict

from functions import runtime
from functions.activities import bp
from functions.activities._step import run_step
from shared import aws_contracts as awsc
from shared.facts import InstanceFacts
from shared.preflight import PreflightVerdict, check_against_request, evaluate, not_found_verdict
from shared.request import MigrationRequest

INVENTORY_CHUNK = 100


class PreflightOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str
    facts: InstanceFacts | None
    verdict: PreflightVerdict


class PreflightReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcomes: list[PreflightOutcome]


def preflight_request(request: MigrationRequest) -> PreflightReport:
    """Facts for every VM (one Lambda call per region and 100 instances), judged by the shared rules."""
    by_region: dict[str, list[str]] = defaultdict(list)
    for vm in request.vms:
        by_region[request.region_for(vm)].append(vm.instance_id)
    facts: dict[str, InstanceFacts] = {}
    for region, ids in by_region.items():
        for start in range(0, len(ids), INVENTORY_CHUNK):
            event = awsc.InventoryEvent(
                migration_id=request.wave_instance_id, region=region, instance_ids=ids[start : start + INVENTORY_CHUNK]
            )
            answer = awsc.InventoryResult.model_validate(
                runtime.current().lambdas.invoke("inventory", event.model_dump(mode="json"))
            )
            facts.update({item.instance_id: item for item in answer.facts})
    outcomes = []
    for vm in request.vms:
        found = facts.get(vm.instance_id)
        if found is None:
            verdict = not_found_verdict(vm.instance_id, request.region_for(vm))
        else:
            verdict = check_against_request(evaluate(found), found, vm)
        outcomes.append(PreflightOutcome(instance_id=vm.instance_id, facts=found, verdict=verdict))
    return PreflightReport(outcomes=outcomes)


@bp.activity_trigger(input_name="payload")
def preflight_wave(payload: dict[str, Any]) -> dict[str, Any]:
    return run_step(payload, MigrationRequest, preflight_request)
