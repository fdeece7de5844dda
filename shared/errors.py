"""Error types shared by both clouds.

Whether an error is worth retrying is decided once, in the gateway that sees the SDK error, and carried as a
type: :class:`TransientError` (retry with the step's named policy) or :class:`PermanentError` (fail the VM at
that step with the cause). Errors cross process boundaries (Lambda responses, activity results) as plain dicts
through :meth:`MigrationError.to_dict` and :func:`error_from_dict`.
"""

from __future__ import annotations

from typing import Any


class MigrationError(Exception):
    """Base of every error the pipeline raises on purpose.

    ``code`` is a short machine-readable cause (``Throttling``, ``InstanceNotFound``, an SDK error code);
    ``resource`` names what the error is about, when there is one.
    """

    transient: bool = False

    def __init__(self, message: str, *, code: str = "", resource: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).__name__.removesuffix("Error")
        self.resource = resource

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "resource": self.resource,
            "transient": self.transient,
        }

    def __str__(self) -> str:
        where = f" ({self.resource})" if self.resource else ""
        return f"[{self.code}] {self.message}{where}"


class TransientError(MigrationError):
    """Worth retrying: throttling, 429/503, timeouts, SSM delivery delays."""

    transient = True


class OperationInProgressError(TransientError):
    """Another operation holds the resource (Site Recovery 409): wait and try again."""


class PermanentError(MigrationError):
    """Retrying will not help: the VM fails at this step with this cause."""


class NotFoundError(PermanentError):
    """A resource the step needs does not exist."""


class AccessDeniedError(PermanentError):
    """The caller's identity may not do what the step needs."""


class InvalidRequestError(PermanentError):
    """Input that breaks the contract; ``issues`` lists every problem as ``path: what was expected``."""

    def __init__(self, message: str, *, issues: tuple[str, ...] = (), code: str = "", resource: str = "") -> None:
        super().__init__(message, code=code or "InvalidRequest", resource=resource)
        self.issues = issues or (message,)


class IllegalTransitionError(PermanentError):
    """A lifecycle transition that the state table does not allow."""


class JobFailedError(PermanentError):
    """A Site Recovery job ended Failed or Cancelled; code and message are the job's own."""


_TYPES: dict[str, type[MigrationError]] = {
    cls.__name__: cls
    for cls in (
        MigrationError,
        TransientError,
        OperationInProgressError,
        PermanentError,
        NotFoundError,
        AccessDeniedError,
        InvalidRequestError,
        IllegalTransitionError,
        JobFailedError,
    )
}


def error_from_dict(data: dict[str, Any]) -> MigrationError:
    """Rebuild an error serialised by :meth:`MigrationError.to_dict`; unknown types keep their transience."""
    cls = _TYPES.get(str(data.get("type", "")))
    if cls is None:
        cls = TransientError if data.get("transient") else PermanentError
    return cls(str(data.get("message", "")), code=str(data.get("code", "")), resource=str(data.get("resource", "")))


class DeadLetterError(PermanentError):
    """Raised by a queue trigger for a message that can never be processed.

    Raising it abandons the message like any exception: the broker redelivers it up to the max delivery count and
    then dead-letters it with its own reason (``docs/dead-lettering.md``), so the trigger publishes ``reason`` and
    ``description`` itself before raising.
    """

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description, code=reason)
        self.reason = reason
        self.description = description
