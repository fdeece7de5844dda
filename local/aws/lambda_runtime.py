"""Run the Lambda handlers locally (Lambda invoke needs Docker, absent here).

:class:`HandlerHost` points the handlers' wiring at the emulated AWS — clients with the moto endpoint and fake
credentials (or each function's role credentials), the settings of the seeded estate — and calls
``aws_lambdas.<function>.handler.lambda_handler(event, context)`` with a :class:`FakeLambdaContext`.
:class:`LocalLambdaRuntime` runs it in execution-environment processes (``environments=N``: up to N invocations
side by side, one per process, as Lambda runs them; :mod:`local.aws.lambda_environments`) or, with
``environments=0``, in this process (unit tests with in-process moto).

``invoke`` returns what Lambda's Invoke API puts in the payload: the handler's result, or on failure
``{"errorType", "errorMessage", "stackTrace"}`` (check ``"errorType" in payload``, as with a real
``FunctionError``; ``shared.aws_contracts.error_from_lambda_payload`` rebuilds the typed error).

The handlers' wiring (and Powertools' Logger and Metrics state) is process-wide, so there is one active
``HandlerHost`` per process, serving one invocation at a time (as a Lambda execution environment does): in this
process, invocations are serialised; with environments, each process has its own.

botocore's retry backoff within an invocation is virtual (local/aws/virtual_backoff.py): it is not slept for real,
and the emulated EC2 refills its rate-limit buckets by it, as AWS's refill while the SDK sleeps.
"""

from __future__ import annotations

import importlib
import threading
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambdas.gateways.ec2 import Boto3Ec2Gateway
from aws_lambdas.gateways.secrets import Boto3SecretsGateway
from aws_lambdas.gateways.ssm import Boto3SsmGateway
from aws_lambdas.runtime import ENV_METRICS_NAMESPACE, use_names
from aws_lambdas.runtime import logger as powertools_logger
from aws_lambdas.runtime import metrics as lambda_metrics
from aws_lambdas.settings import Settings
from aws_lambdas.wiring import WIRING, Gateways
from local.aws.iam import InvocationCredentials, RoleCredentials
from local.aws.lambda_environments import EnvironmentConfig, LambdaEnvironments
from local.aws.seed import aws_client
from local.aws.virtual_backoff import stamp_backoff, virtual_backoff
from local.process_usage import EnvironmentUsage

FUNCTIONS = (
    "inventory",
    "prepare_network",
    "prepare_guest",
    "install_agent",
    "command_status",
    "command_watch",
    "stop_source",
    "start_source",
    "revert_changes",
)
#: Where a function's handler lives (``lambda_handler`` in it); the SAM template's ``Handler`` says the same.
HANDLER_MODULE = "aws_lambdas.{function}.handler"
#: The functions' timeout (the SAM template's ``Timeout``), which the context reports and environments enforce.
TIMEOUT_SECONDS = 300.0


@dataclass
class FakeLambdaContext:
    """The attributes of ``awslambdaric``'s context that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 300.0
    function_version: str = "$LATEST"
    region: str = "eu-west-1"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


class HandlerHost:
    """The handlers' wiring in one process (this one, or an execution environment's), pointed at the emulated AWS.

    ``signs_with_roles``: each call's AWS requests are signed with the role credentials given to :meth:`call`
    (moto's access control checks that role); without, with the fake credentials of the environment."""

    def __init__(
        self,
        endpoint_url: str | None,
        environment: Mapping[str, str],
        *,
        signs_with_roles: bool,
        handler_module: str = HANDLER_MODULE,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.settings = Settings.from_env(environment)
        # As the SAM template sets them: POWERTOOLS_SERVICE_NAME is the function's name, POWERTOOLS_METRICS_NAMESPACE
        # is "<prefix>-<environment>", the same value as the SSM document prefix (both derive from the stack's names).
        self.metrics_namespace = environment.get(ENV_METRICS_NAMESPACE) or self.settings.ssm_document_prefix
        self.handler_module = handler_module
        self.timeout_seconds = timeout_seconds
        self._signer = InvocationCredentials() if signs_with_roles else None
        WIRING.configure(settings=self.settings, gateway_factory=self._gateways, persistence_factory=self._persistence)

    def _client(self, service: str, region: str) -> Any:
        return stamp_backoff(
            aws_client(
                service,
                region,
                self.endpoint_url,
                max_attempts=self.settings.aws_max_attempts,
                credentials=self._signer,
            )
        )

    def _gateways(self, settings: Settings, region: str) -> Gateways:
        return Gateways(
            ec2=Boto3Ec2Gateway(region, client=self._client("ec2", region)),
            ssm=Boto3SsmGateway(region, client=self._client("ssm", region)),
            secrets=Boto3SecretsGateway(region, client=self._client("secretsmanager", region)),
        )

    def _persistence(self, settings: Settings, handler_name: str) -> Any:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

        client = self._client("dynamodb", settings.region)
        return DynamoDBPersistenceLayer(table_name=settings.require_idempotency_table(), boto3_client=client)

    def handler(self, function: str) -> Any:
        return importlib.import_module(self.handler_module.format(function=function)).lambda_handler

    def call(
        self, function: str, event: Mapping[str, Any], role: RoleCredentials | None, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """One invocation: the handler's result, or Lambda's error payload for what it raised."""
        handler = self.handler(function)
        context = FakeLambdaContext(
            function_name=function, region=self.settings.region, timeout_seconds=self.timeout_seconds
        )
        if request_id:
            context.aws_request_id = request_id
        use_names(service=function, namespace=self.metrics_namespace)
        if self._signer is not None:
            self._signer.current = role
        try:
            with virtual_backoff():
                result: dict[str, Any] = handler(dict(event), context)
        except Exception as exc:
            return {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
        finally:
            if self._signer is not None:
                self._signer.current = None
            # With metrics disabled (no CloudWatch here) Powertools never clears its buffer and prints it to
            # stdout once a metric holds 100 values: drop it after each invocation, as a flush would.
            lambda_metrics.clear_metrics()
        return result


def _forward_log(text: str) -> None:
    """A log line an environment's handler wrote, written where this process's Powertools handler writes (the
    stack sends it to ``lambdas.log``; a test may capture it)."""
    handler = powertools_logger.registered_handler
    stream = getattr(handler, "stream", None)
    if stream is None:
        return
    handler.acquire()
    try:
        stream.write(text)
        stream.flush()
    finally:
        handler.release()


class LocalLambdaRuntime:
    def __init__(
        self,
        endpoint_url: str | None,
        environment: Mapping[str, str],
        *,
        credentials: Mapping[str, RoleCredentials] | None = None,
        environments: int = 0,
        functions: Sequence[str] = FUNCTIONS,
        handler_module: str = HANDLER_MODULE,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        """``environment``: the Lambdas' settings (e.g. ``SeededEstate.lambda_environment()``);
        ``endpoint_url=None`` uses in-process moto (inside ``mock_aws``; only with ``environments=0``). SSM's calls
        about the guests are answered by moto from the guest emulator (:mod:`local.aws.ssm_extension`), so the
        handlers use the boto3 gateways.

        ``credentials``: per function, the credentials of its execution role (:mod:`local.aws.iam`); each
        invocation's AWS calls are signed with its function's, so moto's access control checks that role.

        ``environments``: how many execution-environment processes may run invocations side by side (started on
        demand, stopped by :meth:`close`); 0 runs them in this process, one at a time.
        """
        self.endpoint_url = endpoint_url
        self.settings = Settings.from_env(environment)
        self.functions = tuple(functions)
        self._roles = dict(credentials) if credentials is not None else None
        self._lock = threading.Lock()
        self._here: HandlerHost | None = None
        self.environments: LambdaEnvironments | None = None
        if environments:
            if endpoint_url is None:
                raise ValueError("Lambda environments reach the emulated AWS over HTTP: give moto's endpoint URL")
            config = EnvironmentConfig(
                endpoint_url=endpoint_url,
                environment=dict(environment),
                functions=self.functions,
                handler_module=handler_module,
                signs_with_roles=self._roles is not None,
                timeout_seconds=timeout_seconds,
            )
            self.environments = LambdaEnvironments(config, environments, _forward_log)
        else:
            self._here = HandlerHost(
                endpoint_url,
                environment,
                signs_with_roles=self._roles is not None,
                handler_module=handler_module,
                timeout_seconds=timeout_seconds,
            )

    def close(self) -> None:
        if self.environments is not None:
            self.environments.close()
        else:
            WIRING.reset()

    def __enter__(self) -> LocalLambdaRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def environment_usage(self) -> list[EnvironmentUsage]:
        """The execution environments' own CPU and peak RSS (none in-process)."""
        return self.environments.usage() if self.environments is not None else []

    def invoke(self, function_name: str, event: Mapping[str, Any]) -> dict[str, Any]:
        if function_name not in self.functions:
            raise ValueError(f"no Lambda named {function_name!r}; have {', '.join(self.functions)}")
        if self._roles is not None and function_name not in self._roles:
            raise ValueError(f"no execution role credentials for Lambda {function_name!r}")
        role = self._roles[function_name] if self._roles is not None else None
        if self.environments is not None:
            return self.environments.invoke(function_name, event, role, powertools_logger.log_level)
        assert self._here is not None
        with self._lock:
            return self._here.call(function_name, event, role)
