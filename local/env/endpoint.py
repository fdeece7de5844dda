"""Where a running local environment listens, as ``endpoint.json`` in its state directory (stdlib only: the CLI
reads it before deciding which cloud it talks to).

The file is written by the daemon once every part is up and removed when it stops; a file left behind by a
killed daemon is recognised by its process id no longer running.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

#: The state directory of ``cli local`` (relative to the working directory) unless ``EC2AZ_LOCAL_STATE`` says.
ENV_LOCAL_STATE = "EC2AZ_LOCAL_STATE"
DEFAULT_STATE_DIR = Path(".state") / "local"
ENDPOINT_FILE = "endpoint.json"


def state_dir() -> Path:
    return Path(os.environ.get(ENV_LOCAL_STATE) or DEFAULT_STATE_DIR)


@dataclass(frozen=True)
class LocalEndpoint:
    """What a client needs to reach the local environment: the same three things a deployment has."""

    pid: int
    api_url: str  # the function app's HTTP API (``EC2AZ_API_URL`` of a deployment)
    servicebus_url: str  # Service Bus REST-style base: POST {servicebus_url}/{queue}/messages
    aws_endpoint_url: str  # moto's server (``AWS_ENDPOINT_URL``)
    region: str
    scenario: str
    speed: float

    @property
    def control_url(self) -> str:
        """The environment's own routes (status, estate, advance, stop, dead letters, report data)."""
        return self.api_url.removesuffix("/api") + "/local"

    def write(self, directory: Path) -> Path:
        path = directory / ENDPOINT_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        temporary.replace(path)
        return path


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_endpoint(directory: Path | None = None) -> LocalEndpoint | None:
    """The running local environment's endpoint, or None when none is up (no file, or its process is gone)."""
    path = (directory or state_dir()) / ENDPOINT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        endpoint = LocalEndpoint(**data)
    except (OSError, ValueError, TypeError):
        return None
    return endpoint if process_alive(endpoint.pid) else None
