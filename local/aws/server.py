"""moto's server on 127.0.0.1 in a child process, on an ephemeral port, as a context manager.

The emulated AWS runs beside the pipeline the way the real one does: in its own process (so it serves on the
machine's other core instead of competing for this process's GIL), reached only over HTTP. The child exits when
the block ends, and also when its parent dies (it watches its stdin, a pipe from the parent).

    python -c 'from local.aws.server import main; main()' [--inbound-rules-per-security-group N]
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# moto accepts any credentials; these make boto3 sign requests without touching a real account.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
#: AWS's default quota of inbound (and of outbound) rules per VPC security group, which moto enforces.
DEFAULT_RULES_PER_SECURITY_GROUP = 60
#: Seconds to wait for the child to import moto and bind its port, and for it to exit when told to.
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 10.0
_READY = "listening"


@dataclass(frozen=True)
class MotoServer:
    host: str
    port: int

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def start_moto_server(
    host: str = "127.0.0.1", *, inbound_rules_per_security_group: int = DEFAULT_RULES_PER_SECURITY_GROUP
) -> Iterator[MotoServer]:
    """Run a moto server until the block exits. It serves every AWS service moto emulates on one endpoint.

    ``inbound_rules_per_security_group``: the quota moto enforces (AWS's default is 60; an account can have it
    raised to 1,000).
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
        yield MotoServer(host=host, port=port)
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
    """Patch two of moto's per-request costs that grow with the estate or are paid again on every request.

    Both keep moto's answers identical: an instance's tags come from its own entry instead of a scan of every
    tag, and the list of moto's service packages (read from disk to route each request) is read once. Applied
    once per process (cached).
    """
    import moto.backends  # noqa: PLC0415
    from moto.ec2.models.core import TaggedEC2Resource  # noqa: PLC0415

    TaggedEC2Resource.get_tags = _own_tags  # type: ignore[method-assign,assignment]
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules


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


def serve(host: str, inbound_rules_per_security_group: int) -> None:
    """Serve until stdin closes (the parent ended the block, or died)."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    # werkzeug logs every request to stderr unless its logger is told otherwise (verbose=False does not).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    apply_speedups()
    if inbound_rules_per_security_group != DEFAULT_RULES_PER_SECURITY_GROUP:
        set_rules_quota(inbound_rules_per_security_group)
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        print(f"{_READY} {port}", flush=True)
        sys.stdin.read()  # returns at EOF
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="moto's server on the loopback interface until stdin closes")
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "localhost"])
    parser.add_argument("--inbound-rules-per-security-group", type=int, default=DEFAULT_RULES_PER_SECURITY_GROUP)
    args = parser.parse_args(argv)
    serve(args.host, args.inbound_rules_per_security_group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
