"""The Site Recovery client and how its answers become the pipeline's: settings, credentials, error types, and
the start-only poller every action uses (see :mod:`functions.gateways.site_recovery`).

SDK errors become the pipeline's types here: 429/503/5xx and timeouts → :class:`TransientError`; 409 →
:class:`OperationInProgressError`; 404 → :class:`NotFoundError` naming the resource; 401/403 →
:class:`AccessDeniedError`; 400 → :class:`InvalidRequestError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.core.polling.arm_polling import ARMPolling
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from functions.settings import ENV_VAULT_SUBSCRIPTION_ID
from shared.errors import (
    AccessDeniedError,
    InvalidRequestError,
    MigrationError,
    NotFoundError,
    OperationInProgressError,
    PermanentError,
    TransientError,
)

ENV_SUBSCRIPTION_ID = ENV_VAULT_SUBSCRIPTION_ID
ENV_MANAGED_IDENTITY_CLIENT_ID = "AZURE_CLIENT_ID"
ENV_RESOURCE_MANAGER_URL = "EC2AZ_RESOURCE_MANAGER_URL"

_TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
#: Where a job's name can be read: the job itself, or the item's operation result. ``replicationOperationStatus/{id}``
#: (also seen in ``Azure-AsyncOperation``, and in Microsoft's own TestFailover example) names an operation, not a
#: job: then the job is read from the item's ``currentScenario.jobId``.
_JOB_IN_URL = re.compile(r"/(?:replicationJobs|operationresults)/([^/?#]+)", re.IGNORECASE)


def _get(obj: Any, name: str) -> Any:
    return getattr(obj, name, None) if obj is not None else None


@dataclass(frozen=True)
class SiteRecoveryClientSettings:
    """How to build the default client when none is injected."""

    subscription_id: str
    managed_identity_client_id: str | None = None
    base_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SiteRecoveryClientSettings:
        values = dict(os.environ) if env is None else env
        subscription = values.get(ENV_SUBSCRIPTION_ID, "")
        if not subscription:
            raise InvalidRequestError(f"{ENV_SUBSCRIPTION_ID} is not set: the Site Recovery gateway needs it")
        return cls(
            subscription_id=subscription,
            managed_identity_client_id=values.get(ENV_MANAGED_IDENTITY_CLIENT_ID) or None,
            base_url=values.get(ENV_RESOURCE_MANAGER_URL) or None,
        )


def build_client(settings: SiteRecoveryClientSettings, credential: Any = None) -> SiteRecoveryManagementClient:
    """A client with azure-identity credentials: the user-assigned managed identity when its client id is set,
    else ``DefaultAzureCredential``."""
    if credential is None:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential  # noqa: PLC0415 - cloud only

        credential = (
            ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
            if settings.managed_identity_client_id
            else DefaultAzureCredential()
        )
    return SiteRecoveryManagementClient(credential, settings.subscription_id, base_url=settings.base_url)


class _StartOnlyPolling(ARMPolling):
    """Accepts the initial answer like ARMPolling, then stops: the caller polls the job, not this poller."""

    def __init__(self) -> None:
        super().__init__(timeout=0)
        self.initial_status: int | None = None
        self.initial_headers: dict[str, str] = {}
        self.initial_body: Any = None

    def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any) -> None:
        http = initial_response.http_response
        self.initial_status = http.status_code
        self.initial_headers = {k.lower(): v for k, v in http.headers.items()}
        if http.status_code == 200:
            try:
                self.initial_body = http.json()
            except ValueError:
                self.initial_body = None
        super().initialize(client, initial_response, deserialization_callback)

    def finished(self) -> bool:
        return True

    def run(self) -> None:
        return None

    def resource(self) -> Any:
        return None


#: Public name: the Compute gateway starts Run Command the same way.
StartOnlyPolling = _StartOnlyPolling


def _job_from_url(url: str | None) -> str | None:
    if not url:
        return None
    found = _JOB_IN_URL.search(url)
    return found.group(1) if found else None


def _error_code(error: HttpResponseError) -> str:
    code = getattr(error.error, "code", None) if error.error is not None else None
    return str(code or (error.status_code or type(error).__name__))


def _error_message(error: HttpResponseError) -> str:
    message = getattr(error.error, "message", None) if error.error is not None else None
    return str(message or error.reason or error.message)


def translate_error(error: Exception, resource: str) -> MigrationError:  # noqa: PLR0911 - one line per case
    """Map an azure-core error to the pipeline's error type, naming ``resource``."""
    if isinstance(error, MigrationError):
        return error
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return TransientError(f"Site Recovery did not answer: {error}", code="Timeout", resource=resource)
    if isinstance(error, ClientAuthenticationError):
        return AccessDeniedError(str(error), code="AuthenticationFailed", resource=resource)
    if isinstance(error, ResourceExistsError):
        return OperationInProgressError(_error_message(error), code=_error_code(error), resource=resource)
    if isinstance(error, ResourceNotFoundError):
        return NotFoundError(f"not found: {_error_message(error)}", code=_error_code(error), resource=resource)
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        code, message = _error_code(error), _error_message(error)
        if status in _TRANSIENT_STATUSES or status >= 500:
            return TransientError(message, code=code, resource=resource)
        if status == 409:
            return OperationInProgressError(message, code=code, resource=resource)
        if status == 404:
            return NotFoundError(f"not found: {message}", code=code, resource=resource)
        if status in (401, 403):
            return AccessDeniedError(message, code=code, resource=resource)
        if status == 400:
            return InvalidRequestError(message, code=code, resource=resource)
        return PermanentError(message, code=code, resource=resource)
    return PermanentError(f"unexpected Site Recovery failure: {error!r}", code=type(error).__name__, resource=resource)


@contextmanager
def _translated(resource: str) -> Iterator[None]:
    try:
        yield
    except MigrationError:
        raise
    except Exception as error:
        raise translate_error(error, resource) from error
