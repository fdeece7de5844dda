"""ARM reads for the readiness check: the :class:`shared.readiness.AzureResourceReader` port over azure-core.

Plain ARM GETs through an ``ARMPipelineClient`` (azure-mgmt-core, already installed with the Site Recovery SDK)
with the same azure-identity credential as the Site Recovery gateway, rather than azure-mgmt-network, -storage,
-resource and -authorization. Why: the check needs five GETs and a handful of fields from each; four more SDK
packages would each need an exact pin kept in step with azure-core and the Site Recovery SDK, and bring model
classes for whole providers the pipeline never calls. Reading JSON pages through the pipeline is what the Site
Recovery gateway already does for the paged reads its SDK lacks, one client serves every subscription's scopes,
and the emulator is reached through the same in-process transport. The api-versions are pinned here, one per
resource provider.

Nothing is changed in Azure. Per resource: 404 → ``MISSING``, 403 → ``CANNOT_READ`` (both become gaps);
401 → :class:`AccessDeniedError` (the credential itself is broken: no check can run); 408/429/5xx and transport
failures → :class:`TransientError` after the pipeline's own retries (the activity's retry policy retries again).
"""

from __future__ import annotations

import os
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import policies
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy, ARMHttpLoggingPolicy

from shared.errors import AccessDeniedError, PermanentError, TransientError
from shared.rbac import PermissionEntry
from shared.readiness import Need, ResourceFact, ResourceKind, ResourceState

ENV_RESOURCE_MANAGER_URL = "EC2AZ_RESOURCE_MANAGER_URL"
PUBLIC_RESOURCE_MANAGER = "https://management.azure.com"

#: api-version per resource kind (each provider's current stable version).
API_VERSIONS = {
    ResourceKind.RESOURCE_GROUP: "2021-04-01",
    ResourceKind.VIRTUAL_NETWORK: "2024-05-01",
    ResourceKind.SUBNET: "2024-05-01",
    ResourceKind.STORAGE_ACCOUNT: "2023-05-01",
    ResourceKind.MIGRATE_SITE: "2023-06-06",
}
#: "Permissions - List For Resource / For Resource Group" (Microsoft.Authorization).
PERMISSIONS_API_VERSION = "2022-04-01"
_TRANSIENT = {408, 429, 500, 502, 503, 504}

ArmClient: TypeAlias = ARMPipelineClient[HttpRequest, HttpResponse]


def build_arm_client(
    base_url: str | None = None,
    *,
    credential: Any = None,
    managed_identity_client_id: str | None = None,
    transport: Any = None,
    retry_total: int = 3,
) -> ArmClient:
    """An ARM pipeline: request id, user agent, retries (honouring ``Retry-After``), bearer token for ARM.

    Without ``credential``: the user-assigned managed identity when its client id is given, else
    ``DefaultAzureCredential`` (as the Site Recovery gateway does)."""
    base = (base_url or PUBLIC_RESOURCE_MANAGER).rstrip("/")
    if credential is None:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential  # noqa: PLC0415 - cloud only

        client_id = managed_identity_client_id
        credential = ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()
    pipeline = [
        policies.RequestIdPolicy(),
        policies.HeadersPolicy(),
        policies.UserAgentPolicy(sdk_moniker="ec2-to-azure-readiness"),
        policies.RetryPolicy(retry_total=retry_total),
        ARMChallengeAuthenticationPolicy(credential, f"{base}/.default"),
        ARMHttpLoggingPolicy(),
    ]
    options: dict[str, Any] = {"policies": pipeline}
    if transport is not None:
        options["transport"] = transport
    return ARMPipelineClient(base_url=base, **options)


def _message(body: Any, status: int) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = str(error.get("code") or status), str(error.get("message") or "")
        return " ".join(f"{code}: {message}".split())[:300]
    return f"HTTP {status}"


class ArmResourceReader:
    """Reads one needed resource and the caller's permissions on it. Inject ``client`` (tests, the emulator)."""

    def __init__(
        self,
        client: ArmClient | None = None,
        *,
        base_url: str | None = None,
        managed_identity_client_id: str | None = None,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._client_id = managed_identity_client_id

    @property
    def client(self) -> ArmClient:
        if self._client is None:
            self._client = build_arm_client(
                self._base_url or os.environ.get(ENV_RESOURCE_MANAGER_URL),
                managed_identity_client_id=self._client_id,
            )
        return self._client

    def _get(self, url: str, params: dict[str, str] | None, resource: str) -> tuple[int, Any]:
        request = HttpRequest("GET", self.client.format_url(url) if url.startswith("/") else url, params=params)
        try:
            response = self.client.send_request(request)
        except (ServiceRequestError, ServiceResponseError) as error:
            raise TransientError(
                f"Azure Resource Manager did not answer: {error}", code="Timeout", resource=resource
            ) from error
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        status = response.status_code
        if status in _TRANSIENT:
            raise TransientError(_message(body, status), code=str(status), resource=resource)
        if status == 401:
            raise AccessDeniedError(_message(body, status), code="AuthenticationFailed", resource=resource)
        if status not in (200, 403, 404):
            raise PermanentError(_message(body, status), code=str(status), resource=resource)
        return status, body

    def _permissions(self, scope: str) -> tuple[tuple[PermissionEntry, ...] | None, str]:
        url: str | None = f"{scope.rstrip('/')}/providers/Microsoft.Authorization/permissions"
        params: dict[str, str] | None = {"api-version": PERMISSIONS_API_VERSION}
        entries: list[PermissionEntry] = []
        while url:
            status, body = self._get(url, params, scope)
            if status != 200:
                return None, _message(body, status)
            entries += [PermissionEntry.model_validate(item) for item in body.get("value") or []]
            url, params = body.get("nextLink"), None
            if url and urlsplit(url).netloc.lower() != urlsplit(str(self.client._base_url)).netloc.lower():
                # The bearer token goes wherever the link points: only ever to the ARM endpoint itself.
                raise PermanentError(f"nextLink outside Azure Resource Manager: {url[:120]!r}", resource=scope)
        return tuple(entries), ""

    def read(self, need: Need) -> ResourceFact:
        properties: dict[str, Any] = {}
        if need.read:
            status, body = self._get(need.resource_id, {"api-version": API_VERSIONS[need.kind]}, need.resource_id)
            if status != 200:
                state = ResourceState.MISSING if status == 404 else ResourceState.CANNOT_READ
                return ResourceFact(resource_id=need.resource_id, state=state, detail=_message(body, status))
            properties = dict(body.get("properties") or {})
        permissions, detail = self._permissions(need.resource_id) if need.actions else (None, "")
        return ResourceFact(
            resource_id=need.resource_id, properties=properties, permissions=permissions, permissions_detail=detail
        )
