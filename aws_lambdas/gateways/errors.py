"""Translate botocore errors into the pipeline's typed errors, once, where the SDK error is seen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from shared.aws_contracts import (
    DocumentNotFoundError,
    InstanceNotFoundError,
    InstanceNotManagedError,
    SecretNotFoundError,
    SecurityGroupNotFoundError,
    ThrottlingError,
)
from shared.errors import AccessDeniedError, InvalidRequestError, MigrationError, PermanentError, TransientError

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "EC2ThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)
RETRYABLE_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Unavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "IncorrectInstanceState",  # pending/stopping: the same call succeeds once the transition ends
        "InsufficientInstanceCapacity",
        "DependencyViolation",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthFailure", "UnrecognizedClientException"}
)
_NOT_FOUND: dict[str, type[MigrationError]] = {
    "InvalidInstanceID.NotFound": InstanceNotFoundError,
    "InvalidInstanceID.Malformed": InstanceNotFoundError,
    "InvalidGroup.NotFound": SecurityGroupNotFoundError,
    "InvalidGroupId.Malformed": SecurityGroupNotFoundError,
    "InvalidGroup.Malformed": SecurityGroupNotFoundError,
    "ResourceNotFoundException": SecretNotFoundError,
    "InvalidDocument": DocumentNotFoundError,
    "InvalidInstanceId": InstanceNotManagedError,
}
_INVALID_REQUEST_CODES = frozenset(
    {
        "ValidationException",
        "InvalidParameterValue",
        "InvalidParameters",
        "InvalidParameterException",
        "MissingParameter",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate_client_error(exc: ClientError, *, resource: str, action: str) -> MigrationError:
    """The typed error for an AWS error code; ``resource`` names what the call was about."""
    code = error_code(exc)
    message = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    text = f"{action}: {message}"
    if code in THROTTLING_CODES or status == 429:
        return ThrottlingError(text, code=code or "Throttling", resource=resource)
    if code in RETRYABLE_CODES or status >= 500:
        return TransientError(text, code=code or f"HTTP{status}", resource=resource)
    if code in ACCESS_DENIED_CODES:
        return AccessDeniedError(text, code=code, resource=resource)
    if code in _NOT_FOUND:
        return _NOT_FOUND[code](text, code=code, resource=resource)
    if code in _INVALID_REQUEST_CODES:
        return InvalidRequestError(text, code=code, resource=resource)
    return PermanentError(text, code=code or "AwsError", resource=resource)


@contextmanager
def aws_errors(action: str, resource: str | Callable[[], str]) -> Iterator[None]:
    """Run an AWS call and raise typed errors instead of botocore's."""
    try:
        yield
    except ClientError as exc:
        name = resource() if callable(resource) else resource
        raise translate_client_error(exc, resource=name, action=action) from exc
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError) as exc:
        name = resource() if callable(resource) else resource
        raise TransientError(f"{action}: {exc}", code="ConnectionError", resource=name) from exc
