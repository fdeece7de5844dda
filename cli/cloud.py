"""The CLI's cloud side: the Service Bus queue and the deployed function app's HTTP API.

Configured by environment: ``ServiceBusConnection__fullyQualifiedNamespace`` (queue ``migration-requests``,
credentials from azure-identity's ``DefaultAzureCredential``), ``EC2AZ_API_URL`` (the function app's
``https://<app>.azurewebsites.net/api``), ``EC2AZ_API_SCOPE`` (``api://<clientId>/.default`` of the operator API's
app registration: the CLI signs in with ``DefaultAzureCredential`` and sends ``Authorization: Bearer``, which App
Service authentication turns into the caller approve/cancel record) and ``EC2AZ_API_KEY`` (a function key, sent as
``x-functions-key``: the routes' auth level still asks for one, but it identifies no one).

Without those, a running local environment (``python -m cli local up``, found through its ``endpoint.json``) is
the cloud: its function app API takes the same calls, its queue takes the request through Service Bus's REST send
shape, and AWS calls go to its moto server (``AWS_ENDPOINT_URL`` and moto's fake keys; :func:`use_local_aws`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from cli import dlq
from functions.settings import ENV_EVENTS_TOPIC, ENV_SERVICEBUS_NAMESPACE, REQUESTS_QUEUE, FunctionAppSettings
from local.aws.server import FAKE_CREDENTIALS
from local.env.endpoint import LocalEndpoint, read_endpoint
from local.env.identity import local_bearer_token
from shared.errors import InvalidRequestError, PermanentError, TransientError
from shared.pipeline import EventType, MigrationEvent
from shared.request import MigrationRequest

ENV_API_URL = "EC2AZ_API_URL"
ENV_API_KEY = "EC2AZ_API_KEY"
ENV_API_SCOPE = "EC2AZ_API_SCOPE"
#: How an operator gets a token for the API (docs/deploy.md, "Pointing the CLI at a deployment").
SIGN_IN = (
    f"sign in with `az login` (azure-identity DefaultAzureCredential) and set {ENV_API_SCOPE}="
    "api://<operator API client id>/.default"
)


def deployment_configured() -> bool:
    return bool(os.environ.get(ENV_API_URL) or os.environ.get(ENV_SERVICEBUS_NAMESPACE))


def local_endpoint() -> LocalEndpoint | None:
    """The running local environment, when no deployment is configured."""
    return None if deployment_configured() else read_endpoint()


def configured() -> bool:
    """A deployment is configured, or a local environment is up."""
    return deployment_configured() or local_endpoint() is not None


def use_local_aws() -> None:
    """Point boto3 at the local environment's moto server (endpoint and fake keys) when it is the cloud in use;
    with a deployment configured, boto3's standard credential chain and endpoints apply untouched."""
    endpoint = local_endpoint()
    if endpoint is None:
        return
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],  # the operator's fixed fake key
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or endpoint.region,
        }
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)


def load_request_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidRequestError(f"{path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InvalidRequestError(f"{path}: not a UTF-8 text file (byte {error.start}: {error.reason})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise InvalidRequestError(f"{path}: not valid JSON: {error}") from None
    except yaml.YAMLError as error:
        raise InvalidRequestError(f"{path}: not valid YAML:\n{error}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{path}: expected a mapping at the top level")
    return data


def resolve_selection_with_boto3(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn ``select:`` into the listed instances with the operator's AWS credentials."""
    if "select" not in raw:
        return raw
    import boto3  # noqa: PLC0415
    from botocore.exceptions import NoCredentialsError  # noqa: PLC0415

    from discovery.command import MISSING_CREDENTIALS  # noqa: PLC0415
    from discovery.select import resolve_selection  # noqa: PLC0415

    use_local_aws()
    region = (raw.get("select") or {}).get("region") or raw.get("region")
    try:
        return resolve_selection(raw, boto3.client("ec2", region_name=region))
    except NoCredentialsError:
        message = MISSING_CREDENTIALS.replace("discover:", "select:", 1)
        raise PermanentError(message, code="NoCredentials") from None


def _servicebus() -> Any:
    namespace = os.environ.get(ENV_SERVICEBUS_NAMESPACE)
    if not namespace:
        raise PermanentError(f"{ENV_SERVICEBUS_NAMESPACE} is not set", code="NotConfigured")
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415
    from azure.servicebus import ServiceBusClient  # noqa: PLC0415

    return ServiceBusClient(namespace, DefaultAzureCredential())


def submit(request: MigrationRequest) -> str:
    """Send the request with its id as the message id (the queue's duplicate detection drops a resubmission)."""
    local = local_endpoint()
    if local is not None:
        return _send_local(local, request)
    from azure.servicebus import ServiceBusMessage  # noqa: PLC0415

    with _servicebus() as client, client.get_queue_sender(REQUESTS_QUEUE) as sender:
        sender.send_messages(
            ServiceBusMessage(
                request.model_dump_json(exclude_defaults=False),
                message_id=request.request_id,
                content_type="application/json",
                subject="migration-request",
            )
        )
    return request.request_id


def _send_local(endpoint: LocalEndpoint, request: MigrationRequest) -> str:
    """The same message over Service Bus's REST send (``POST {queue}/messages``, ``BrokerProperties``)."""
    properties = {"MessageId": request.request_id, "Label": "migration-request"}
    http = urllib.request.Request(  # noqa: S310 - the loopback URL the local environment wrote
        f"{endpoint.servicebus_url}/{REQUESTS_QUEUE}/messages",
        method="POST",
        data=request.model_dump_json(exclude_defaults=False).encode(),
        headers={"content-type": "application/json", "BrokerProperties": json.dumps(properties)},
    )
    try:
        with urllib.request.urlopen(http, timeout=60) as response:  # noqa: S310
            if response.status != 201:
                raise TransientError(f"send to {REQUESTS_QUEUE}: HTTP {response.status}", code=str(response.status))
    except urllib.error.HTTPError as error:
        raise PermanentError(f"send to {REQUESTS_QUEUE}: HTTP {error.code}", code=str(error.code)) from None
    except urllib.error.URLError as error:
        raise TransientError(f"send to {REQUESTS_QUEUE}: {error.reason}", code="Unreachable") from None
    return request.request_id


def _local_control(method: str, path: str) -> Any:
    from cli.local_env import control  # noqa: PLC0415

    endpoint = local_endpoint()
    assert endpoint is not None
    return control(endpoint, method, path)


#: The events topic's subscription that keeps every event (``infra/azure/modules/servicebus.bicep``).
AUDIT_SUBSCRIPTION = "audit"
#: How many dead letters `dlq list` shows, and how many audit events it peeks to find their causes.
MAX_DEAD_LETTERS = 100
MAX_AUDIT_EVENTS = 5000
#: How many dead letters `dlq replay` looks through (holding their locks) for the one to replay.
MAX_REPLAY_SCAN = 1000


def dead_letters() -> list[dict[str, Any]]:
    """The requests queue's dead letters (peeked, not received) with the trigger's cause from the audit events."""
    if local_endpoint() is not None:
        rows: list[dict[str, Any]] = _local_control("GET", "dead-letters")
        return rows
    from azure.servicebus import ServiceBusSubQueue  # noqa: PLC0415

    with _servicebus() as client:
        with client.get_queue_receiver(REQUESTS_QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver:
            found = [
                {
                    "message_id": message.message_id,
                    "enqueued": message.enqueued_time_utc,
                    "reason": message.dead_letter_reason or "",
                    "description": message.dead_letter_error_description or "",
                }
                for message in receiver.peek_messages(max_message_count=MAX_DEAD_LETTERS)
            ]
        wanted = {f"rejected:{row['message_id']}" for row in found}
        causes = dlq.rejection_causes(_audit_events(client, wanted)) if wanted else {}
    return dlq.rows(found, causes)


def _audit_events(client: Any, wanted: set[str]) -> list[MigrationEvent]:
    """``request.rejected`` events with the given ids, peeked from the audit subscription (nothing consumed)."""
    topic = os.environ.get(ENV_EVENTS_TOPIC) or FunctionAppSettings().events_topic
    events: list[MigrationEvent] = []
    seen = 0
    with client.get_subscription_receiver(topic, AUDIT_SUBSCRIPTION) as receiver:
        next_sequence = None
        while seen < MAX_AUDIT_EVENTS and wanted:
            page = receiver.peek_messages(max_message_count=250, sequence_number=next_sequence or 0)
            if not page:
                break
            seen += len(page)
            next_sequence = page[-1].sequence_number + 1
            for message in page:
                if message.message_id in wanted and message.subject == EventType.REQUEST_REJECTED.value:
                    events.append(MigrationEvent.model_validate_json(b"".join(message.body)))
                    wanted.discard(message.message_id)
    return events


def replay_dead_letter(message_id: str) -> dlq.Replay:
    """Send a dead-lettered request again under a new message id; complete the dead letter only after the send.

    Returns only once the broker accepted the send (``send_messages`` raises otherwise) and the dead letter was
    completed. Messages received while looking for it are abandoned (their locks released) at the end.
    """
    if local_endpoint() is not None:
        try:
            return dlq.Replay(**_local_control("POST", f"dead-letters/{message_id}/replay"))
        except ValueError as error:
            raise PermanentError(str(error), code="NotFound") from None
    from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue  # noqa: PLC0415

    with (
        _servicebus() as client,
        client.get_queue_receiver(
            REQUESTS_QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5
        ) as receiver,
        client.get_queue_sender(REQUESTS_QUEUE) as sender,
    ):
        held: list[Any] = []
        target = None
        try:
            while target is None and len(held) < MAX_REPLAY_SCAN:
                batch = receiver.receive_messages(max_message_count=50, max_wait_time=5)
                if not batch:
                    break
                for message in batch:
                    if target is None and message.message_id == message_id:
                        target = message
                    else:
                        held.append(message)
            if target is None:
                raise PermanentError(
                    f"no dead-lettered message {message_id} in {REQUESTS_QUEUE} "
                    f"(looked at {len(held)} of its dead letters)",
                    code="NotFound",
                    resource=message_id,
                )
            replay, properties = dlq.plan_replay(message_id, target.application_properties)
            copy = ServiceBusMessage(
                b"".join(target.body),
                message_id=replay.new_message_id,
                application_properties=properties,
                content_type=target.content_type,
                correlation_id=target.correlation_id,
                subject=target.subject,
            )
            try:
                sender.send_messages(copy)
            except Exception:
                held.append(target)  # not sent: the dead letter stays where it is
                raise
            receiver.complete_message(target)
            return replay
        finally:
            for message in held:
                receiver.abandon_message(message)


def _azure_credential() -> Any:
    """The operator's Entra ID credential (a seam for tests)."""
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415

    # The chain logs a many-line report of each credential it tried as a warning; the CLI's error is one line.
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    return DefaultAzureCredential()


def _bearer_token(scope: str) -> str:
    """An access token for the operator API; no credential, or Entra ID refusing, is an environment problem."""
    from azure.core.exceptions import ClientAuthenticationError  # noqa: PLC0415 - CredentialUnavailableError too

    try:
        token: str = _azure_credential().get_token(scope).token
    except (ClientAuthenticationError, ValueError) as error:  # ValueError: a scope azure-identity rejects
        aadsts = re.search(r"AADSTS\d+", str(error))
        why = type(error).__name__ + (f", {aadsts.group()}" if aadsts else "")
        raise PermanentError(f"no Entra ID token for {scope} ({why}): {SIGN_IN}", code="NotSignedIn") from None
    return token


def _credentials(local: LocalEndpoint | None) -> dict[str, str]:
    """What the caller presents: locally the local operator's credential (the environment plays App Service
    authentication); for a deployment an Entra ID token for ``EC2AZ_API_SCOPE`` (App Service authentication
    validates it and passes the caller on) and the function key when ``EC2AZ_API_KEY`` is set."""
    if local is not None:
        return {"authorization": local_bearer_token()}
    headers = {"x-functions-key": key} if (key := os.environ.get(ENV_API_KEY)) else {}
    if scope := os.environ.get(ENV_API_SCOPE):
        headers["authorization"] = f"Bearer {_bearer_token(scope)}"
    return headers


def api(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the function app's HTTP API; 404 gives None."""
    local = local_endpoint()
    base = (local.api_url if local else os.environ.get(ENV_API_URL, "")).rstrip("/")
    if not base:
        raise PermanentError(f"{ENV_API_URL} is not set", code="NotConfigured")
    request = urllib.request.Request(  # noqa: S310 - the operator's own https endpoint
        f"{base}/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json", **_credentials(local)},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        if error.code == 409:
            return json.loads(error.read() or b"{}")
        if error.code in {429, 500, 502, 503, 504}:
            raise TransientError(f"{method} {path}: HTTP {error.code}", code=str(error.code)) from None
        if error.code == 401 and local is None:
            scope = os.environ.get(ENV_API_SCOPE)
            hint = f"its token for {scope} was refused (the operator API's scope?)" if scope else SIGN_IN
            message = f"{method} {path}: HTTP 401, no signed-in caller: {hint}"
            raise PermanentError(message, code="NotSignedIn") from None
        raise PermanentError(
            f"{method} {path}: HTTP {error.code} {error.read()[:300]!r}", code=str(error.code)
        ) from None
    except urllib.error.URLError as error:
        raise TransientError(f"{method} {path}: {error.reason}", code="Unreachable") from None
