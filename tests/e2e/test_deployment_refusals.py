"""A deployment runs only its own environment's requests, on the one vault its identity may use.

Infra gives the Function App ``MIGRATION_ENVIRONMENT`` and the vault it holds Site Recovery rights on
(``SITE_RECOVERY_*``); the local stack sets them as infra would (the scenario's environment, the emulator's
vault). A request naming another environment or another vault is dead-lettered with the reason before anything
starts: no orchestration, no Lambda call, no Site Recovery request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cli.dlq import rejection_causes
from functions.settings import REQUESTS_QUEUE
from local.stack import LocalStack
from shared.request import wave_instance_id

from .helpers import open_stack, wave


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with open_stack(tmp_path_factory.mktemp("e2e-refusals")) as opened:
        yield opened


def _refused(stack: LocalStack, request: dict[str, Any], message_id: str) -> str:
    before = (len(stack.host.instances()), len(stack.invoker.history), len(stack.site_recovery.requests))
    body = json.dumps(stack.resolve(request)).encode()
    stack.host.send(REQUESTS_QUEUE, body, message_id=message_id, content_type="application/json")
    stack.host.run_until_idle(advance_clock=False)
    [dead] = [m for m in stack.host.dead_letters(REQUESTS_QUEUE) if m.message_id == message_id]
    # as in Azure: redelivered to the max delivery count, then the broker's reason; the cause is request.rejected
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    cause = rejection_causes(stack.events.read()).get(message_id, "")
    assert cause.startswith("NotThisDeployment: "), cause
    assert stack.host.status(wave_instance_id(request["request_id"])) is None
    assert (len(stack.host.instances()), len(stack.invoker.history), len(stack.site_recovery.requests)) == before
    return cause.removeprefix("NotThisDeployment: ")


def test_the_local_deployment_is_the_scenarios_environment_and_the_emulators_vault(stack: LocalStack) -> None:
    from functions import runtime

    settings = runtime.current().settings
    assert settings.environment is not None and settings.environment.value == stack.scenario.request["environment"]
    assert settings.vault is not None and settings.vault.name == stack.site_recovery.estate.vault_name


def test_a_request_for_another_environment_is_refused_up_front(stack: LocalStack) -> None:
    deployed = stack.scenario.request["environment"]
    other = "prod" if deployed != "prod" else "dev"
    description = _refused(stack, wave(stack, "e2e-other-env", ["rcm-lin"], environment=other), "other-env")
    assert description == f"environment: the request is for {other}, this deployment is {deployed}"


def test_a_request_naming_another_vault_is_refused_up_front(stack: LocalStack) -> None:
    request = wave(
        stack, "e2e-other-vault", ["rcm-lin"], target={"vault": {"name": "their-vault", "resource_group": "rg-x"}}
    )
    description = _refused(stack, request, "other-vault")
    assert description.startswith("target.vault: vault their-vault (subscription ")
    assert f"is not this deployment's vault {stack.site_recovery.estate.vault_name} " in description
