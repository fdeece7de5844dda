"""No secret value in any SSM command parameter, log line (powertools Logger output) or handler result."""

from __future__ import annotations

import io
import json
import logging

import boto3

from aws_lambdas.runtime import logger
from tests.aws_lambdas.conftest import AwsWorld


def test_no_secret_in_ssm_parameters_logs_or_results(world: AwsWorld, monkeypatch) -> None:
    secrets = [world.seeded.agent_config.get_secret_value()]
    assert all(len(s) > 16 for s in secrets)
    captured = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(captured)
    logger.setLevel("DEBUG")
    try:
        web, win = world.id("web-1"), world.id("win-1")
        results = [
            world.invoke("inventory", instance_ids=[web, win]),
            world.invoke(
                "prepare_network",
                instance_ids=[web, win],
                appliance_security_group_id=world.seeded.appliance.security_group_id,
                discovery_appliance_ip="10.0.1.5",
                holder="wave-wave1",
            ),
            world.invoke("prepare_guest", instance_ids=[web, win], discovery=True),
            world.invoke("install_agent", instance_ids=[web, win], attempt=1),
            world.invoke("install_agent", instance_ids=[web, win], provider="InMageRcm"),
            world.invoke("install_agent", instance_ids=[web], provider="InMageAzureV2"),  # an error path too
        ]
        for command in results[3]["commands"] + results[4]["commands"]:
            results.append(
                world.invoke("command_status", command_id=command["command_id"], instance_ids=command["instance_ids"])
            )
        results.append(world.invoke("revert_changes", rules=results[1]["created"], instance_ids=[web], outcome="ok"))
    finally:
        handler.setStream(previous)
        logger.setLevel("INFO")

    log_text = captured.getvalue()
    assert '"correlation_id":"vm-wave1-test"' in log_text  # the capture really holds the handlers' logs
    ssm = boto3.client("ssm", region_name=world.seeded.region)
    commands = ssm.list_commands()["Commands"]
    assert len(commands) >= 6
    parameters = json.dumps([c["Parameters"] for c in commands])
    assert world.seeded.agent_config_secret_id in parameters
    emulated = json.dumps([d.parameters for d in world.emulator.history])
    for secret in secrets:
        assert secret not in parameters
        assert secret not in emulated
        assert secret not in log_text
        assert secret not in json.dumps(results)
