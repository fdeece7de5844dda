"""What a handler needs, built lazily on first use and cached for warm invocations.

``WIRING.configure(...)`` injects settings or a gateway factory (tests, the local runtime); by default the
settings come from the environment and the gateways are the boto3 adapters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambdas.gateways.clients import make_client
from aws_lambdas.gateways.ec2 import Boto3Ec2Gateway
from aws_lambdas.gateways.ports import Ec2Port, SecretsPort, SsmPort
from aws_lambdas.gateways.secrets import Boto3SecretsGateway
from aws_lambdas.gateways.ssm import Boto3SsmGateway
from aws_lambdas.settings import Settings


@dataclass(frozen=True)
class Gateways:
    ec2: Ec2Port
    ssm: SsmPort
    secrets: SecretsPort


GatewayFactory = Callable[[Settings, str], Gateways]
PersistenceFactory = Callable[[Settings, str], Any]


def boto3_gateways(settings: Settings, region: str) -> Gateways:
    attempts = settings.aws_max_attempts
    return Gateways(
        ec2=Boto3Ec2Gateway(region, max_attempts=attempts),
        ssm=Boto3SsmGateway(region, max_attempts=attempts),
        secrets=Boto3SecretsGateway(region, max_attempts=attempts),
    )


def dynamodb_persistence(settings: Settings, handler_name: str) -> Any:
    """Powertools' DynamoDB idempotency store over the settings' table (one store per handler)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

    client = make_client("dynamodb", settings.region, settings.aws_max_attempts)
    return DynamoDBPersistenceLayer(table_name=settings.require_idempotency_table(), boto3_client=client)


class Wiring:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: Settings | None = None
        self._gateway_factory: GatewayFactory = boto3_gateways
        self._persistence_factory: PersistenceFactory = dynamodb_persistence
        self._gateways: dict[str, Gateways] = {}
        self._persistence: dict[str, Any] = {}

    def configure(
        self,
        *,
        settings: Settings | None = None,
        gateway_factory: GatewayFactory | None = None,
        persistence_factory: PersistenceFactory | None = None,
    ) -> None:
        """Inject settings and factories; drops what was cached."""
        with self._lock:
            self._settings = settings
            self._gateway_factory = gateway_factory or boto3_gateways
            self._persistence_factory = persistence_factory or dynamodb_persistence
            self._gateways.clear()
            self._persistence.clear()

    def reset(self) -> None:
        self.configure()

    def settings(self) -> Settings:
        with self._lock:
            if self._settings is None:
                self._settings = Settings.from_env()
            return self._settings

    def gateways(self, region: str = "") -> Gateways:
        settings = self.settings()
        region = region or settings.region
        with self._lock:
            if region not in self._gateways:
                self._gateways[region] = self._gateway_factory(settings, region)
            return self._gateways[region]

    def persistence(self, handler_name: str) -> Any:
        settings = self.settings()
        with self._lock:
            if handler_name not in self._persistence:
                self._persistence[handler_name] = self._persistence_factory(settings, handler_name)
            return self._persistence[handler_name]


WIRING = Wiring()
