"""The SSM calls moto lacks, served by moto itself from the guest emulator: an extension of moto's SSM responses.

The Lambdas call SSM through boto3 as they do in AWS (``aws_lambdas.gateways.ssm.Boto3SsmGateway``); the
request reaches moto, which checks the caller's IAM permissions (when access control is on) before any
response method runs. The methods this module adds to or wraps in moto's ``SimpleSystemManagerResponse``:

* ``DescribeInstanceInformation`` (moto has none): the managed instances the emulator knows, filtered by the
  ``InstanceIds`` filter key (any other key is refused as AWS refuses an unknown one: ``InvalidFilterKey``), in
  pages of ``MaxResults`` (default 50) with a ``NextToken``;
* ``SendCommand``: refuses a document that does not exist (``InvalidDocument``) and parameters the document
  does not declare, lacks, or whose value breaks its ``allowedPattern`` (``InvalidParameters``) — moto checks
  neither — then records the command in moto and delivers it to exactly the instance ids of the request;
* ``GetCommandInvocation``: the emulator's status and output for a delivered pair, else AWS's
  ``InvocationDoesNotExist`` (moto would answer Success with empty output for everything).

In-process (``mock_aws``), :func:`guest_ssm` patches the response class for the duration of a block, with the
guest emulator itself; the moto server's child process calls :func:`install` with a
:class:`~local.aws.guest_bridge.RemoteGuest`, which reaches the emulator in the parent (local/aws/guest_bridge.py).
* ``ListCommands``: moto's records (parameters, document, instances) with the emulator's status
  (``Status``/``StatusDetails`` over the command's instances) and request time (``RequestedDateTime``, on the stack's
  clock); the ``CommandFilter`` keys AWS documents (``InvokedAfter``/``InvokedBefore``: that time and later / before
  it; ``Status``; ``ExecutionStage``: ``Executing`` or ``Complete``; ``DocumentName``), any other key refused
  (``InvalidFilterKey``), at most 5 filters; newest first, in pages of ``MaxResults`` (1 to 50, default 50) with a
  ``NextToken`` (moto ignores filters and pages).

``ListCommandInvocations`` is not served: no Lambda calls it (tests/aws_lambdas/test_iam.py records the calls).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from local.aws.guest_bridge import GuestAgent

#: DescribeInstanceInformation's page size when MaxResults is not given (its maximum, per the API reference).
DEFAULT_PAGE_SIZE = 50

_lock = threading.Lock()
_active: list[GuestAgent] = []
_originals: dict[str, Any] = {}


def _emulator() -> GuestAgent:
    with _lock:
        if not _active:
            raise RuntimeError("no guest emulator is serving SSM (use local.aws.ssm_extension.guest_ssm)")
        return _active[-1]


def _error(code: str, message: str) -> Exception:
    from moto.ssm.exceptions import SSMException  # noqa: PLC0415 - moto is a test/local dependency

    return SSMException(code, message)


def _describe_instance_information(response: Any) -> Any:
    from moto.core.responses import ActionResult  # noqa: PLC0415

    wanted: list[str] | None = None
    for entry in response._get_param("Filters") or []:
        if entry.get("Key") != "InstanceIds":
            raise _error("InvalidFilterKey", f"The filter key {entry.get('Key')} is not supported here")
        wanted = [*(wanted or []), *entry.get("Values", [])]
    for entry in response._get_param("InstanceInformationFilterList") or []:
        if entry.get("key") != "InstanceIds":
            raise _error("InvalidFilterKey", f"The filter key {entry.get('key')} is not supported here")
        wanted = [*(wanted or []), *entry.get("valueSet", [])]
    emulator = _emulator()
    ids = wanted if wanted is not None else emulator.known_instances()
    now = datetime.now(UTC)
    page_size = int(response._get_param("MaxResults") or DEFAULT_PAGE_SIZE)
    token = str(response._get_param("NextToken") or "0")
    if not token.isdigit():
        raise _error("InvalidNextToken", "The specified token is not valid")
    start = int(token)
    listed = [
        {
            "InstanceId": m.instance_id,
            "PingStatus": m.ping_status,
            "LastPingDateTime": now,
            "AgentVersion": m.agent_version,
            "IsLatestVersion": False,
            "PlatformType": m.platform_type,
            "PlatformName": m.platform_name,
            "PlatformVersion": m.platform_version,
            "ResourceType": "EC2Instance",
        }
        for m in emulator.managed_instances(ids).values()
    ]
    page: dict[str, Any] = {"InstanceInformationList": listed[start : start + page_size]}
    if start + page_size < len(listed):
        page["NextToken"] = str(start + page_size)
    return ActionResult(page)


def _check_parameters(response: Any, document_name: str, parameters: dict[str, list[str]]) -> None:
    """What SSM checks before it accepts a command: the document exists and the parameters fit its schema."""
    info = response.ssm_backend.get_document(document_name, None, None, "JSON")  # raises InvalidDocument
    declared: dict[str, Any] = json.loads(info["Content"]).get("parameters") or {}
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise _error("InvalidParameters", f"document {document_name} does not declare {', '.join(unknown)}")
    for name, spec in declared.items():
        values = parameters.get(name)
        if values is None:
            if "default" not in spec:
                raise _error("InvalidParameters", f"document {document_name} requires parameter {name}")
            continue
        pattern = spec.get("allowedPattern")
        for value in values:
            if pattern and re.search(pattern, value) is None:
                raise _error("InvalidParameters", f"parameter {name} does not match its allowedPattern")


def _wrap_send_command(original: Any) -> Any:
    def send_command(response: Any) -> Any:
        document_name = str(response._get_param("DocumentName"))
        parameters = {str(k): [str(v) for v in vs] for k, vs in (response._get_param("Parameters") or {}).items()}
        _check_parameters(response, document_name, parameters)
        result = original(response)
        command_id = str(result.result["Command"]["CommandId"])  # moto's record of the command
        instance_ids = [str(i) for i in response._get_param("InstanceIds") or []]
        single = {name: values[0] for name, values in parameters.items() if values}
        _emulator().dispatch(command_id, document_name, instance_ids, single)
        return result

    return send_command


def _get_command_invocation(response: Any) -> Any:
    from moto.core.responses import ActionResult  # noqa: PLC0415

    command_id = str(response._get_param("CommandId"))
    instance_id = str(response._get_param("InstanceId"))
    emulator = _emulator()
    if not emulator.has_invocation(command_id, instance_id):
        raise _error("InvocationDoesNotExist", "The command ID and instance ID you specified did not match")
    found = emulator.invocation(command_id, instance_id)
    return ActionResult(
        {
            "CommandId": command_id,
            "InstanceId": instance_id,
            "DocumentName": emulator.document_of(command_id, instance_id),
            "Status": found.status,
            "StatusDetails": found.status_details,
            "ResponseCode": -1 if found.response_code is None else found.response_code,
            "StandardOutputContent": found.stdout,
            "StandardErrorContent": found.stderr,
        }
    )


#: ListCommands' page size when MaxResults is not given, and its maximum (API reference: 1 to 50).
LIST_COMMANDS_PAGE = 50
_RUNNING = {"Pending", "InProgress", "Delayed", "Cancelling"}
_FILTER_KEYS = {"InvokedAfter", "InvokedBefore", "Status", "ExecutionStage", "DocumentName"}


def _timestamp(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _error("InvalidFilterValue", f"{value} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _command_filter(key: str, value: str) -> Any:
    """A predicate on one listed command (its wire form, with the emulator's status and its request time as a
    datetime) for a filter."""
    if key not in _FILTER_KEYS:
        raise _error("InvalidFilterKey", f"The filter key {key} is not valid for ListCommands")
    if key in {"InvokedAfter", "InvokedBefore"}:
        bound = _timestamp(value)
        if key == "InvokedAfter":
            return lambda command: command["RequestedDateTime"] >= bound
        return lambda command: command["RequestedDateTime"] < bound
    if key == "Status":
        return lambda command: value in {command["Status"], command["StatusDetails"]}
    if key == "ExecutionStage":
        if value not in {"Executing", "Complete"}:
            raise _error("InvalidFilterValue", f"ExecutionStage is Executing or Complete, not {value}")
        return lambda command: (command["Status"] in _RUNNING) == (value == "Executing")
    return lambda command: command.get("DocumentName") == value


def _wrap_list_commands(original: Any) -> Any:
    def list_commands(response: Any) -> Any:
        from moto.core.responses import ActionResult  # noqa: PLC0415

        filters = response._get_param("Filters") or []
        if len(filters) > 5:
            raise _error("ValidationException", "Filters has more than 5 entries")
        tests = [
            _command_filter(str(entry.get("key") or entry.get("Key")), str(entry.get("value") or entry.get("Value")))
            for entry in filters
        ]
        page_size = int(response._get_param("MaxResults") or LIST_COMMANDS_PAGE)
        if not 1 <= page_size <= LIST_COMMANDS_PAGE:
            raise _error("ValidationException", f"MaxResults must be from 1 to {LIST_COMMANDS_PAGE}")
        token = str(response._get_param("NextToken") or "0")
        if not token.isdigit():
            raise _error("InvalidNextToken", "The specified token is not valid")
        recorded = original(response).result["Commands"]
        statuses = _emulator().command_statuses([str(c["CommandId"]) for c in recorded])
        listed = []
        for command in recorded:
            status = statuses.get(str(command["CommandId"]))
            if status is not None:
                requested = _timestamp(status["RequestedDateTime"])  # parsed once: filtered, sorted, answered
                listed.append({**command, **status, "RequestedDateTime": requested})
        listed = [c for c in listed if all(test(c) for test in tests)]
        listed.sort(key=lambda c: c["RequestedDateTime"], reverse=True)
        start = int(token)
        page: dict[str, Any] = {"Commands": listed[start : start + page_size]}
        if start + page_size < len(listed):
            page["NextToken"] = str(start + page_size)
        return ActionResult(page)

    return list_commands


def install(guest: GuestAgent) -> None:
    """Serve the SSM calls above from ``guest`` in this process's moto (the moto server's child calls this)."""
    from moto.ssm.responses import SimpleSystemManagerResponse as Response  # noqa: PLC0415

    with _lock:
        if _active:
            raise RuntimeError("a guest emulator already serves SSM in this process")
        _active.append(guest)
        _originals["send_command"] = Response.send_command
        _originals["get_command_invocation"] = Response.get_command_invocation
        _originals["list_commands"] = Response.list_commands
        Response.describe_instance_information = _describe_instance_information  # type: ignore[attr-defined]
        Response.send_command = _wrap_send_command(_originals["send_command"])  # type: ignore[method-assign]
        Response.get_command_invocation = _get_command_invocation  # type: ignore[method-assign,assignment]
        Response.list_commands = _wrap_list_commands(_originals["list_commands"])  # type: ignore[method-assign]


def uninstall() -> None:
    """Give moto's SSM back its own responses."""
    from moto.ssm.responses import SimpleSystemManagerResponse as Response  # noqa: PLC0415

    with _lock:
        if not _active:
            return
        Response.send_command = _originals.pop("send_command")  # type: ignore[method-assign]
        Response.get_command_invocation = _originals.pop("get_command_invocation")  # type: ignore[method-assign]
        Response.list_commands = _originals.pop("list_commands")  # type: ignore[method-assign]
        del Response.describe_instance_information  # type: ignore[attr-defined]
        _active.clear()


@contextmanager
def guest_ssm(guest: GuestAgent) -> Iterator[GuestAgent]:
    """Serve the SSM calls above from ``guest`` in this process's moto (``mock_aws``) until the block ends."""
    install(guest)
    try:
        yield guest
    finally:
        uninstall()
