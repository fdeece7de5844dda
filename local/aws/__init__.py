"""Emulated AWS for the local host: moto server, a seeded estate, the Lambdas' runtime and a guest emulator.

* :func:`start_moto_server` — moto's ThreadedMotoServer on 127.0.0.1 (ephemeral port), stopped on exit;
* :func:`seed_estate` — VPC, subnet, appliance, source instances, SSM documents, secrets, bucket, table;
* :class:`LocalLambdaRuntime` — calls the Lambda handlers with a Lambda context, in execution-environment
  processes (:mod:`local.aws.lambda_environments`) or in-process;
* :class:`GuestEmulator` — decides SSM command outcomes per instance (moto's send_command always succeeds with
  empty output and moto lacks DescribeInstanceInformation); moto itself answers those SSM calls from it
  (:mod:`local.aws.ssm_extension`; across the moto server's process boundary via :mod:`local.aws.guest_bridge`).
"""

from local.aws.estate import ApplianceSpec, DiskSpec, Estate, InstanceSpec
from local.aws.guest import GuestBehaviour, GuestEmulator, ScriptOutcome, emulator_for_estate
from local.aws.lambda_runtime import FakeLambdaContext, LocalLambdaRuntime
from local.aws.seed import SeededEstate, seed_estate
from local.aws.server import MotoServer, start_moto_server

__all__ = [
    "ApplianceSpec",
    "DiskSpec",
    "Estate",
    "FakeLambdaContext",
    "GuestBehaviour",
    "GuestEmulator",
    "InstanceSpec",
    "LocalLambdaRuntime",
    "MotoServer",
    "ScriptOutcome",
    "SeededEstate",
    "emulator_for_estate",
    "seed_estate",
    "start_moto_server",
]
