"""Which gateways the activities and triggers use: built from app settings in the cloud, installed by the local host.

Nothing is created at import time. The first activity that needs a gateway builds the cloud runtime from
:class:`~functions.settings.FunctionAppSettings`; the local host and tests call :func:`install` first with
emulator-backed gateways, so the same function code runs in both places.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from functions.settings import FunctionAppSettings
from shared.ports import EventPublisher, LambdaInvoker
from shared.readiness import AzureResourceReader
from shared.site_recovery import SiteRecoveryGateway, VaultRef
from shared.test_vm import ComputeGateway


@dataclass(frozen=True)
class Runtime:
    settings: FunctionAppSettings
    lambdas: LambdaInvoker
    events: EventPublisher
    site_recovery: Callable[[VaultRef], SiteRecoveryGateway]
    """Returns the Site Recovery gateway for a vault."""
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The time triggers act at: the wall clock in the cloud, the host's (virtual) clock locally."""
    azure_resources: AzureResourceReader | None = None
    """ARM reads for the readiness check (target resources, the identity's permissions)."""
    compute: Callable[[str], ComputeGateway] | None = None
    """Returns the Compute gateway for a subscription (the test VM's instance view and Run Command)."""


_lock = threading.Lock()
_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    """Use ``runtime`` from now on (None: build the cloud runtime again on next use)."""
    global _current  # noqa: PLW0603 - one runtime per process, like the Functions worker
    with _lock:
        _current = runtime


def current() -> Runtime:
    global _current  # noqa: PLW0603
    with _lock:
        if _current is None:
            _current = _cloud_runtime(FunctionAppSettings.from_env())
        return _current


def _cloud_runtime(settings: FunctionAppSettings) -> Runtime:
    from functions.gateways.aws_lambda import WebIdentityLambdaInvoker  # noqa: PLC0415 - cloud-only imports
    from functions.gateways.azure_resources import ArmResourceReader  # noqa: PLC0415
    from functions.gateways.compute import cloud_compute_gateway  # noqa: PLC0415
    from functions.gateways.events import ServiceBusEventPublisher  # noqa: PLC0415
    from functions.gateways.site_recovery import cloud_site_recovery_gateway  # noqa: PLC0415

    return Runtime(
        settings=settings,
        lambdas=WebIdentityLambdaInvoker(settings),
        events=ServiceBusEventPublisher(settings),
        site_recovery=lambda vault: cloud_site_recovery_gateway(settings, vault),
        azure_resources=ArmResourceReader(managed_identity_client_id=settings.managed_identity_client_id or None),
        compute=lambda subscription: cloud_compute_gateway(subscription, settings.managed_identity_client_id or None),
    )
