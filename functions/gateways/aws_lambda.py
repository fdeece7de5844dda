"""Invoking the project's AWS Lambdas from Azure, with no AWS keys stored in Azure.

The Function App's managed identity gets an Entra ID token (azure-identity) for the audience the AWS IAM OIDC
provider trusts, and STS ``AssumeRoleWithWebIdentity`` turns it into short-lived credentials for a role that may
only invoke this project's Lambdas. botocore refreshes them before they expire.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleWithWebIdentityCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from functions.settings import FunctionAppSettings
from shared.aws_contracts import error_from_lambda_payload
from shared.errors import AccessDeniedError, NotFoundError, PermanentError, TransientError

_TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "ServiceException",
        "ResourceNotReadyException",
        "EC2ThrottledException",
        "ResourceConflictException",
    }
)


class WebIdentityLambdaInvoker:
    """:class:`shared.ports.LambdaInvoker` over boto3 ``lambda.invoke``; accepts an injected Lambda client."""

    def __init__(self, settings: FunctionAppSettings, client: Any | None = None, credential: Any | None = None) -> None:
        self._settings = settings
        self._client = client
        self._credential = credential

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        name = f"{self._settings.lambda_prefix}{function.replace('_', '-')}"
        try:
            response = self._lambda().invoke(FunctionName=name, Payload=json.dumps(event).encode())
        except ClientError as error:
            raise _invoke_error(error, name) from None
        except BotoCoreError as error:
            raise TransientError(f"invoking {name}: {error}", code=type(error).__name__, resource=name) from None
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise error_from_lambda_payload(payload if isinstance(payload, dict) else {"errorMessage": str(payload)})
        if not isinstance(payload, dict):
            raise PermanentError(f"{name} returned {type(payload).__name__}, expected an object", resource=name)
        return payload

    def _lambda(self) -> Any:
        if self._client is None:
            session = botocore.session.get_session()
            session._credentials = self._web_identity_credentials()
            self._client = boto3.Session(botocore_session=session, region_name=self._settings.aws_region).client(
                "lambda", config=Config(retries={"mode": "adaptive", "max_attempts": 5}, read_timeout=120)
            )
        return self._client

    def _web_identity_credentials(self) -> DeferredRefreshableCredentials:
        if not self._settings.aws_role_arn:
            raise PermanentError("AWS_ROLE_ARN is not set: the function app cannot reach AWS", code="NotConfigured")
        fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator=boto3.Session(region_name=self._settings.aws_region).client,
            web_identity_token_loader=self._entra_token,
            role_arn=self._settings.aws_role_arn,
            extra_args={"RoleSessionName": f"{self._settings.lambda_prefix}functions"},
        )
        return DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role-with-web-identity"
        )

    def _entra_token(self) -> str:
        if self._credential is None:
            from azure.identity import ManagedIdentityCredential  # noqa: PLC0415 - only in the cloud

            client_id = self._settings.managed_identity_client_id or None
            self._credential = ManagedIdentityCredential(client_id=client_id)
        token: str = self._credential.get_token(f"{self._settings.aws_token_audience}/.default").token
        return token


def _invoke_error(error: ClientError, name: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", str(error))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _TRANSIENT_CODES or status in {429, 500, 502, 503, 504}:
        return TransientError(message, code=code or str(status), resource=name)
    if code in {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "ExpiredTokenException"}:
        return AccessDeniedError(message, code=code, resource=name)
    if code == "ResourceNotFoundException":
        return NotFoundError(f"Lambda function {name} does not exist: {message}", code=code, resource=name)
    return PermanentError(message, code=code or "LambdaInvokeFailed", resource=name)
