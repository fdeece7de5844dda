"""What every CLI command ends with: one documented exit code, and for an error one clear line (no traceback).

0  all VMs completed (or the command did what it was asked)
1  some VMs failed or were rejected (or the wave did not finish, or a scenario's ``expect`` was not met)
2  bad input or usage: a request or scenario file, an argument, a message or wave that does not exist
3  environment problem: no credentials, an endpoint that does not answer, no local run, interrupted (Ctrl-C)
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape

from shared.errors import InvalidRequestError, MigrationError, NotFoundError, TransientError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3

EXIT_CODES_HELP = (
    "exit codes: 0 all VMs completed; 1 some VMs failed or were rejected; 2 bad input or usage; "
    "3 environment problem (credentials, an unreachable endpoint, no local run, interrupted)"
)

#: Error codes of :class:`~shared.errors.PermanentError` that mean "you named something that is not there".
_USAGE_CODES = frozenset({"NotFound", "DuplicateReplay", "InvalidRequest"})
#: Error codes that mean "the environment is not set up": not configured, not reachable, not signed in.
_ENVIRONMENT_CODES = frozenset({"NotConfigured", "Unreachable", "NotSignedIn"})
#: SDK exception class names (botocore, azure-core, azure-identity, azure-servicebus) about credentials or
#: reaching an endpoint; matched by name so that the CLI imports no SDK it does not use.
_SDK_ENVIRONMENT = {
    "NoCredentialsError": "no AWS credentials found: set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or "
    "run `aws sso login` (boto3's standard credential chain)",
    "PartialCredentialsError": "incomplete AWS credentials: {error}",
    "NoRegionError": "no AWS region: pass --region or set AWS_REGION",
    "EndpointConnectionError": "cannot reach the AWS endpoint: {error}",
    "ConnectTimeoutError": "the AWS endpoint did not answer: {error}",
    "TokenRetrievalError": "AWS sign-in expired: {error}",
    "SSOTokenLoadError": "AWS sign-in expired: {error}",
    "ClientAuthenticationError": "Azure refused the credentials: {error}",
    "CredentialUnavailableError": "no Azure credentials: sign in with `az login` (azure-identity "
    "DefaultAzureCredential) or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET",
    "ServiceRequestError": "cannot reach the Azure endpoint: {error}",
    "ServiceBusConnectionError": "cannot reach the Service Bus namespace: {error}",
    "ServiceBusAuthenticationError": "Service Bus refused the credentials: {error}",
    "ServiceBusAuthorizationError": "Service Bus refused the operation (the role Azure Service Bus Data Sender "
    "/ Receiver is needed): {error}",
}


@dataclass(frozen=True)
class Outcome:
    """An error as the CLI reports it: the exit code and the lines to print (markup already escaped)."""

    code: int
    lines: tuple[str, ...]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:500]


def for_invalid(error: InvalidRequestError) -> Outcome:
    """Each problem once: a header and one line per issue, or the one message; YAML errors verbatim."""
    issues = tuple(dict.fromkeys(error.issues))
    if len(issues) > 1:
        header = error.message.removesuffix("; ".join(error.issues)).rstrip(": ") or "invalid input"
        return Outcome(EXIT_USAGE, (f"[red]invalid:[/] {escape(header)}", *(f"  - {escape(i)}" for i in issues)))
    return Outcome(EXIT_USAGE, (f"[red]invalid:[/] {escape(error.message)}",))


def _for_migration_error(error: MigrationError) -> Outcome:
    message = escape(_first_line(error))
    if isinstance(error, TransientError) or error.code in _ENVIRONMENT_CODES:
        return Outcome(EXIT_ENVIRONMENT, (f"[red]environment:[/] {message}",))
    if isinstance(error, NotFoundError) or error.code in _USAGE_CODES:
        return Outcome(EXIT_USAGE, (f"[red]not found:[/] {message}",))
    return Outcome(EXIT_FAILED, (f"[red]error:[/] {message}",))


def _environment_text(error: BaseException) -> str | None:
    for cls in type(error).__mro__:
        if cls.__name__ in _SDK_ENVIRONMENT:
            return _SDK_ENVIRONMENT[cls.__name__].format(error=_first_line(error))
    if isinstance(error, ConnectionError | TimeoutError):
        return _first_line(error)
    if isinstance(error, OSError):
        return (f"{error.filename}: " if error.filename else "") + (error.strerror or str(error))
    return None


def classify(error: BaseException) -> Outcome:
    """The exit code and message for an error a command raised (anything unexpected is still one line)."""
    if isinstance(error, KeyboardInterrupt):
        return Outcome(EXIT_ENVIRONMENT, ("[yellow]interrupted[/] (Ctrl-C): stopped; state written so far is kept",))
    if isinstance(error, InvalidRequestError):
        return for_invalid(error)
    if isinstance(error, MigrationError):
        return _for_migration_error(error)
    if (text := _environment_text(error)) is not None:
        return Outcome(EXIT_ENVIRONMENT, (f"[red]environment:[/] {escape(text)}",))
    name = escape(type(error).__name__)
    return Outcome(EXIT_FAILED, (f"[red]unexpected error:[/] {name}: {escape(_first_line(error))}",))
