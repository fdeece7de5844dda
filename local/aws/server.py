"""moto's server on 127.0.0.1 in a child process, on an ephemeral port, as a context manager.

The emulated AWS runs beside the pipeline the way the real one does: in its own process (so it serves on the
machine's other core instead of competing for this process's GIL), reached only over HTTP. The child exits when
the block ends, and also when its parent dies (it watches its stdin, a pipe from the parent).

    python -c 'from local.aws.server import main; main()' [--inbound-rules-per-security-group N]
        [--ec2-rate-limits '{"CreateTags": [100, 10]}']

EC2's API request rate limits are always enforced (local/aws/ec2_throttle.py: AWS's documented buckets unless
told otherwise), for every caller but the estate's operator (:data:`UNTHROTTLED_ACCESS_KEYS`).
"""

from __future__ import annotations

import argparse
import copy
import functools
import inspect
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# moto accepts any credentials; these make boto3 sign requests without touching a real account.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
#: What the emulated guests' instance profile signs with.
GUEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "instance-profile", "AWS_SECRET_ACCESS_KEY": "instance-profile"}
#: Callers whose requests are not checked when IAM is enforced: the estate's operator (seeding, tests, the CLI)
#: and the guests. Only the Lambdas' roles are modelled; every other caller acts as an administrator.
UNCHECKED_ACCESS_KEYS = frozenset({FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], GUEST_CREDENTIALS["AWS_ACCESS_KEY_ID"]})
#: Callers EC2's request rate limits do not apply to: the estate's operator, whose seeding stands for what existed
#: before the migration (a 1,000-instance estate is seeded at one instant of the pipeline's clock). The Lambdas'
#: roles and the guests are throttled; nothing the operator does runs during a wave.
UNTHROTTLED_ACCESS_KEYS = frozenset({FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]})
#: AWS's default quota of inbound (and of outbound) rules per VPC security group, which moto enforces.
DEFAULT_RULES_PER_SECURITY_GROUP = 60
#: Seconds to wait for the child to import moto and bind its port, and for it to exit when told to.
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 10.0
_READY = "listening"
_SAVED = "saved"


@dataclass(frozen=True)
class MotoServer:
    host: str
    port: int
    process: subprocess.Popen[str] | None = field(default=None, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def snapshot(self, scratch: Path) -> bytes:
        """Everything the server holds (:func:`local.aws.snapshot.snapshot`), passed through the file ``scratch``.

        Take it while nothing calls the server, or the snapshot may hold half of a request's changes."""
        process = self.process
        if process is None or process.stdin is None or process.stdout is None:
            raise RuntimeError("this moto server was not started by start_moto_server")
        with self._lock:
            process.stdin.write(f"save {scratch}\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT)
            answer = process.stdout.readline().strip() if ready else ""
        if answer != _SAVED:
            raise RuntimeError(f"moto's server did not save its state (exit code {process.poll()}, said {answer!r})")
        try:
            return scratch.read_bytes()
        finally:
            scratch.unlink(missing_ok=True)


@contextmanager
def start_moto_server(
    host: str = "127.0.0.1",
    *,
    inbound_rules_per_security_group: int = DEFAULT_RULES_PER_SECURITY_GROUP,
    guest_agent_url: str | None = None,
    enforce_iam: bool = False,
    seed: int | None = None,
    restore: Path | None = None,
    ec2_rate_limits: Mapping[str, tuple[float, float]] | None = None,
) -> Iterator[MotoServer]:
    """Run a moto server until the block exits. It serves every AWS service moto emulates on one endpoint.

    ``inbound_rules_per_security_group``: the quota moto enforces (AWS's default is 60; an account can have it
    raised to 1,000). ``guest_agent_url``: a :class:`~local.aws.guest_bridge.GuestAgentServer`; the server then
    answers SSM's DescribeInstanceInformation / SendCommand / GetCommandInvocation from that guest emulator
    (local/aws/ssm_extension.py), so Lambdas reach the guests through boto3 as in AWS. ``enforce_iam``: moto's
    access control checks every request signed by anyone but :data:`UNCHECKED_ACCESS_KEYS` (see
    :func:`enforce_iam_except`): the Lambdas, signing with their roles' credentials (local/aws/iam.py).
    ``seed``: seeds the random source moto draws every resource id from (its ``mock_random``, the one its
    ``/moto-api/seed`` route seeds), so the same seeding calls create the same ids every time. ``restore``: a file
    holding a :meth:`MotoServer.snapshot`, loaded before the server listens (ids continue where they were).
    ``ec2_rate_limits``: buckets (``{name: (capacity, refill per second)}``) replacing AWS's documented ones
    (:data:`~local.aws.ec2_throttle.DEFAULT_EC2_RATE_LIMITS`); they refill on the clock of the guest agent's
    process when ``guest_agent_url`` is given, else on the wall clock. Counts: :func:`~local.aws.ec2_throttle.
    throttle_counts`.
    """
    if host not in {"127.0.0.1", "localhost"}:
        raise ValueError(f"the emulated AWS binds the loopback interface only, not {host}")
    command = [
        sys.executable,
        "-c",
        "import sys; from local.aws.server import main; sys.exit(main())",
        "--host",
        host,
        "--inbound-rules-per-security-group",
        str(inbound_rules_per_security_group),
        *(["--guest-agent", guest_agent_url] if guest_agent_url else []),
        *(["--enforce-iam"] if enforce_iam else []),
        *(["--seed", str(seed)] if seed is not None else []),
        *(["--restore", str(restore)] if restore is not None else []),
        *(["--ec2-rate-limits", json.dumps(dict(ec2_rate_limits))] if ec2_rate_limits else []),
    ]
    search_path = os.pathsep.join(filter(None, [_project_root(), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=_project_root(),
        env={**os.environ, "PYTHONPATH": search_path},
    )
    try:
        port = _await_port(process)
        yield MotoServer(host=host, port=port, process=process)
    finally:
        _stop(process)


def _project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _await_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT)
    line = process.stdout.readline().strip() if ready else ""
    word, _, port = line.partition(" ")
    if word != _READY or not port.isdigit():
        raise RuntimeError(
            f"the moto server did not start within {STARTUP_TIMEOUT:g}s "
            f"(exit code {process.poll()}, said {line!r}); see its stderr above"
        )
    return int(port)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the child's signal to stop
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHUTDOWN_TIMEOUT)
    if process.stdout is not None:
        process.stdout.close()


# --- the child ------------------------------------------------------------------------------------------------


def _own_tags(resource: Any) -> list[dict[str, str]]:
    """A resource's tags read from its own entry, as ``describe_tags(filters={"resource-id": [id]})`` returns them.

    moto's version scans (and regex-matches) every tag of the region for each resource it serialises, which makes
    describing one instance O(estate): at 1,000 instances that dominated a wave's AWS calls.
    """
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix  # noqa: PLC0415 - the child's imports

    resource_id = resource.id
    if not resource_id:
        return []
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    tags = resource.ec2_backend.tags.get(resource_id) or {}
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": kind} for key, value in tags.items()
    ]


@functools.cache
def apply_speedups() -> None:
    """Patch moto's per-request costs that grow with the estate, and its SSM targeting bug.

    The answers stay moto's own: an instance's tags come from its own entry instead of a scan of every tag; a
    lookup by instance id copies only the reservations holding those ids instead of every reservation of the
    region; a rule listing by group walks only those groups; moto's service list is read once. A command sent to
    some instance ids targets those ids only (moto added every instance of the region, with an invocation each:
    at 1,000 instances that was a million invocations per thousand commands). Applied once per process.
    """
    import moto.backends  # noqa: PLC0415
    from moto.ec2.models.core import TaggedEC2Resource  # noqa: PLC0415
    from moto.ec2.models.instances import InstanceBackend  # noqa: PLC0415
    from moto.ec2.models.security_groups import SecurityGroupBackend  # noqa: PLC0415
    from moto.ssm.models import Command  # noqa: PLC0415

    TaggedEC2Resource.get_tags = _own_tags  # type: ignore[method-assign,assignment]
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules

    InstanceBackend.all_reservations = _reservations  # type: ignore[method-assign,assignment]
    for name in ("get_reservations_by_instance_ids", "get_multi_instances_by_id", "get_instance_by_id"):
        setattr(InstanceBackend, name, _looking_up_ids(getattr(InstanceBackend, name)))
    SecurityGroupBackend.describe_security_group_rules = _rules_by_group(  # type: ignore[method-assign]
        SecurityGroupBackend.describe_security_group_rules
    )
    targets_of = Command._get_instance_ids_from_targets
    Command._get_instance_ids_from_targets = lambda self: targets_of(self) if self.targets else []  # type: ignore[method-assign]


#: The instance ids the current request thread is looking up (moto serves requests on several threads).
_lookup = threading.local()


def _reservations(backend: Any, filters: Any = None) -> list[Any]:
    """moto's ``all_reservations``, copying only reservations that can match an instance-id filter or lookup."""
    from moto.ec2.utils import filter_reservations  # noqa: PLC0415

    wanted = set(filters.get("instance-id") or ()) if filters else set()
    wanted |= getattr(_lookup, "ids", set())
    candidates = list(backend.reservations.values())
    if wanted:
        candidates = [r for r in candidates if any(instance.id in wanted for instance in r.instances)]
    reservations = [copy.copy(reservation) for reservation in candidates]
    return filter_reservations(reservations, filters) if filters is not None else reservations


def _looking_up_ids(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a lookup by instance ids so the reservations it lists are only those holding the ids."""

    ids_parameter = list(inspect.signature(method).parameters)[1]  # moto calls them by keyword too

    @functools.wraps(method)
    def lookup(backend: Any, *args: Any, **kwargs: Any) -> Any:
        ids = args[0] if args else kwargs[ids_parameter]
        outer: set[str] = getattr(_lookup, "ids", set())
        _lookup.ids = {ids} if isinstance(ids, str) else set(ids)
        try:
            return method(backend, *args, **kwargs)
        finally:
            _lookup.ids = outer

    return lookup


def _rules_by_group(method: Callable[..., Any]) -> Callable[..., Any]:
    """moto's ``describe_security_group_rules`` walking only the groups a ``group-id`` filter names."""

    from moto.ec2.utils import is_valid_security_group_id  # noqa: PLC0415

    @functools.wraps(method)
    def describe(backend: Any, sg_rule_ids: list[str], filters: dict[str, list[str]]) -> Any:
        group_ids = set((filters or {}).get("group-id") or ())
        if sg_rule_ids or not group_ids or not all(map(is_valid_security_group_id, group_ids)):
            return method(backend, sg_rule_ids, filters)  # moto's own answer, errors included
        rules = [
            copy.copy(rule)
            for groups in list(backend.groups.values())
            for group in list(groups.values())
            if group.id in group_ids
            for rule in [*group.egress_rules, *group.ingress_rules]
        ]
        for rule in rules:  # as moto does: rules without ports report -1
            rule.from_port = -1 if rule.from_port is None else rule.from_port
            rule.to_port = -1 if rule.to_port is None else rule.to_port
        return [rule for rule in rules if rule.matches_filters(filters)]

    return describe


def set_rules_quota(limit: int) -> None:
    """Make moto enforce ``limit`` rules per VPC security group instead of AWS's default 60."""
    from moto.ec2.exceptions import RulesPerSecurityGroupLimitExceededError  # noqa: PLC0415
    from moto.ec2.models.security_groups import SecurityGroupBackend  # noqa: PLC0415

    def verify(
        self: Any,
        group: Any,
        current_rule_nb: int,
        ip_ranges: list[str],
        source_groups: list[dict[str, str]] | None = None,
        egress: bool = False,
    ) -> None:
        if current_rule_nb + len(ip_ranges or ()) + len(source_groups or ()) > limit:
            raise RulesPerSecurityGroupLimitExceededError

    SecurityGroupBackend._verify_group_will_respect_rule_count_limit = verify  # type: ignore[method-assign]


def enforce_iam_except(unchecked: frozenset[str]) -> None:
    """Turn on moto's access control for every request, except those signed with an ``unchecked`` access key.

    moto's switch (``INITIAL_NO_AUTH_ACTION_COUNT``) is all or nothing; the operator's and the guests' fixed
    fake keys are let through here so that only the principals the emulation models (the Lambdas' roles) are
    checked. What moto checks of those: see local/aws/iam.py (actions only).
    """
    from moto import settings  # noqa: PLC0415
    from moto.core.authorization import ActionAuthenticatorMixin  # noqa: PLC0415

    from local.aws.iam import deny_as_aws_does  # noqa: PLC0415

    deny_as_aws_does()
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        authorization = str(self.headers.get("Authorization") or "")
        key = authorization.partition("Credential=")[2].partition("/")[0]
        if key in unchecked:
            return
        original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0


def seed_ids(seed: int) -> None:
    """Make moto's ids reproducible: it draws them (instances, VPCs, groups, uuids) from ``mock_random``."""
    from moto.moto_api._internal import mock_random  # noqa: PLC0415

    mock_random.seed(seed)


def serve(
    host: str,
    inbound_rules_per_security_group: int,
    guest_agent_url: str | None = None,
    enforce_iam: bool = False,
    seed: int | None = None,
    restore: Path | None = None,
    ec2_rate_limits: str = "",
) -> None:
    """Serve until stdin closes (the parent ended the block, or died); ``save PATH`` lines on stdin write a
    snapshot of moto's state to PATH, answered by a ``saved`` line on stdout."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    # werkzeug logs every request to stderr unless its logger is told otherwise (verbose=False does not).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from local.aws.moto_fidelity import behave_as_aws  # noqa: PLC0415

    behave_as_aws()
    apply_speedups()
    if inbound_rules_per_security_group != DEFAULT_RULES_PER_SECURITY_GROUP:
        set_rules_quota(inbound_rules_per_security_group)
    if seed is not None:
        seed_ids(seed)
    if restore is not None:
        from local.aws.snapshot import restore as restore_snapshot  # noqa: PLC0415

        restore_snapshot(restore.read_bytes())
    from local.aws import ec2_throttle  # noqa: PLC0415

    now: Callable[[], float] = time.time
    if guest_agent_url:
        from local.aws.guest_bridge import RemoteGuest  # noqa: PLC0415
        from local.aws.ssm_extension import install  # noqa: PLC0415

        guest = RemoteGuest(guest_agent_url)
        install(guest)
        now = guest.now  # the pipeline's clock: the buckets refill as its (virtual) time passes
    limits = ec2_throttle.parse_limits(ec2_rate_limits)
    ec2_throttle.install(ec2_throttle.Ec2Throttle(limits, now, exempt_access_keys=UNTHROTTLED_ACCESS_KEYS))
    if enforce_iam:
        enforce_iam_except(UNCHECKED_ACCESS_KEYS)
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        print(f"{_READY} {port}", flush=True)
        for line in sys.stdin:  # ends at EOF
            command, _, argument = line.strip().partition(" ")
            if command == "save":
                _save(Path(argument))
    finally:
        server.stop()


def _save(path: Path) -> None:
    from local.aws.snapshot import snapshot  # noqa: PLC0415

    try:
        path.write_bytes(snapshot())
    except Exception as error:
        print(f"not saved: {type(error).__name__}: {error}", flush=True)
        return
    print(_SAVED, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="moto's server on the loopback interface until stdin closes")
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "localhost"])
    parser.add_argument("--inbound-rules-per-security-group", type=int, default=DEFAULT_RULES_PER_SECURITY_GROUP)
    parser.add_argument("--guest-agent", default=None, help="URL of the guest emulator's agent (guest_bridge)")
    parser.add_argument("--enforce-iam", action="store_true", help="check every caller but the operator and guests")
    parser.add_argument("--seed", type=int, default=None, help="seed moto's random ids (same calls, same ids)")
    parser.add_argument("--restore", type=Path, default=None, help="a snapshot of moto's state to start from")
    parser.add_argument("--ec2-rate-limits", default="", help='JSON {"bucket": [capacity, refill]} over AWS\'s')
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.inbound_rules_per_security_group,
        args.guest_agent,
        args.enforce_iam,
        args.seed,
        args.restore,
        args.ec2_rate_limits,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
