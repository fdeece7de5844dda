"""The guest emulator: decides what each SSM command invocation does on each emulated instance.

moto's ``send_command`` succeeds at once with empty output for every instance of the region, and moto has no
``DescribeInstanceInformation``. The emulator stands in for the guests and the SSM agent:

* which instances are managed (and their platform name/version, ping status) — the only fake of an SSM API,
  used because moto lacks it;
* per instance and per script (``prepare-guest``, ``install-agent``, ``revert-guest``): success, failure
  (exit code, stderr), a delay on the shared clock before the result shows, the first N deliveries
  undeliverable, or an execution time-out;
* optionally it really runs the Linux scripts against a scratch root per instance (``run_linux_scripts``).

It is thread-safe; results are read through :meth:`GuestEmulator.invocation`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aws_lambdas.gateways.ports import Invocation, ManagedInstance
from aws_lambdas.guest_scripts import ScriptManifest, load_manifests
from local.aws.estate import Estate, InstanceSpec
from local.aws.guest_tree import write_identity_tree
from local.aws.identity import guest_identity_for
from local.aws.seed import SeededEstate
from local.clock import Clock
from shared.aws_contracts import GuestIdentity
from shared.facts import Platform

SCRIPT_PURPOSES = ("prepare-guest", "install-agent", "revert-guest")
DEFAULT_SSHD_CONFIG = (
    "Include /etc/ssh/sshd_config.d/*.conf\n"
    "PermitRootLogin prohibit-password\n"
    "PasswordAuthentication no\n"
    "KbdInteractiveAuthentication no\n"
    "UsePAM yes\n"
    "X11Forwarding yes\n"
    "Subsystem sftp /usr/lib/openssh/sftp-server\n"
)


class ScriptOutcome(BaseModel):
    """What one script does on one instance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    result: Literal["success", "fail", "timeout"] = "success"
    exit_code: int = Field(default=1, ge=0, le=255)
    stderr: str = ""
    delay_seconds: float = Field(default=0.0, ge=0)
    undeliverable_times: int = Field(default=0, ge=0)


class GuestBehaviour(BaseModel):
    """One emulated guest: its OS facts, SSM status, and the outcome of each script."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Platform = Platform.LINUX
    os_id: str = "ubuntu"
    os_name: str = "Ubuntu"
    os_version: str = "22.04"
    kernel: str = "5.15.0-1051-aws"
    cloud_init: bool = True
    ssm_managed: bool = True
    ping_status: Literal["Online", "ConnectionLost", "Inactive"] = "Online"
    scripts: dict[str, ScriptOutcome] = Field(default_factory=dict)
    run_linux_scripts: bool = False
    identity: GuestIdentity | None = Field(
        default=None, description="what prepare-guest reports (local.aws.identity); None: no identity (old script)"
    )

    @classmethod
    def for_instance(cls, spec: InstanceSpec, **overrides: Any) -> GuestBehaviour:
        """The guest an estate instance describes (OS facts, SSM, cloud-init); ``overrides`` win."""
        os_id = spec.os_name.split()[0].lower() if spec.platform is Platform.LINUX else "windows"
        fields: dict[str, Any] = {
            "platform": spec.platform,
            "os_id": os_id,
            "os_name": spec.os_name,
            "os_version": spec.os_version,
            "kernel": "" if spec.platform is Platform.WINDOWS else cls.model_fields["kernel"].default,
            "cloud_init": spec.cloud_init and spec.platform is Platform.LINUX,
            "ssm_managed": spec.ssm_managed,
        }
        return cls(**{**fields, **overrides})

    def outcome(self, purpose: str) -> ScriptOutcome:
        return self.scripts.get(purpose, ScriptOutcome())


@dataclass(frozen=True)
class Dispatch:
    """One delivery attempt of a command to an instance, as the emulator saw it."""

    command_id: str
    instance_id: str
    document_name: str
    parameters: dict[str, str]
    at: datetime


@dataclass
class _Pending:
    invocation: Invocation
    ready_at: datetime


class GuestEmulator:
    def __init__(
        self,
        clock: Clock,
        behaviours: dict[str, GuestBehaviour] | None = None,
        *,
        document_prefix: str = "ec2-to-azure",
        scratch_dir: Path | None = None,
        script_env: dict[str, str] | None = None,
        unknown_instances_managed: bool = False,
    ) -> None:
        self.clock = clock
        self.document_prefix = document_prefix
        self.scratch_dir = scratch_dir
        self.script_env = dict(script_env or {})
        self.unknown_instances_managed = unknown_instances_managed
        self.history: list[Dispatch] = []
        self._behaviours = dict(behaviours or {})
        self._invocations: dict[tuple[str, str], _Pending] = {}
        self._deliveries: dict[tuple[str, str], int] = {}
        self._registered: dict[str, bool] = {}
        self._prepared: dict[str, bool] = {}
        self._lock = threading.Lock()
        #: Called with (instance id, when) once an install-agent command succeeds: locally, the appliance then
        #: discovers the machine (the Site Recovery emulator's protectable item appears).
        self.on_agent_registered: Callable[[str, datetime], None] | None = None

    # --- configuration -----------------------------------------------------------------------------------

    def set_behaviour(self, instance_id: str, behaviour: GuestBehaviour) -> None:
        with self._lock:
            self._behaviours[instance_id] = behaviour

    def behaviour(self, instance_id: str) -> GuestBehaviour | None:
        with self._lock:
            found = self._behaviours.get(instance_id)
        if found is None and self.unknown_instances_managed:
            return GuestBehaviour()
        return found

    def guest_root(self, instance_id: str) -> Path:
        if self.scratch_dir is None:
            raise ValueError("this emulator has no scratch_dir: it cannot run scripts for real")
        return self.scratch_dir / instance_id

    # --- DescribeInstanceInformation (moto lacks it) ----------------------------------------------------------

    def known_instances(self) -> list[str]:
        """Every instance this emulator has a guest for (managed or not)."""
        with self._lock:
            return sorted(self._behaviours)

    def managed_instances(self, instance_ids: list[str]) -> dict[str, ManagedInstance]:
        managed = {}
        for instance_id in instance_ids:
            b = self.behaviour(instance_id)
            if b is None or not b.ssm_managed:
                continue
            managed[instance_id] = ManagedInstance(
                instance_id=instance_id,
                ping_status=b.ping_status,
                platform_type="Windows" if b.platform is Platform.WINDOWS else "Linux",
                platform_name=b.os_name,
                platform_version=b.os_version,
                agent_version="3.3.0.0",
            )
        return managed

    # --- Run Command -----------------------------------------------------------------------------------------

    def _manifest(self, document_name: str) -> ScriptManifest:
        suffix = document_name.removeprefix(f"{self.document_prefix}-")
        manifests = load_manifests()
        if suffix not in manifests:
            raise ValueError(f"document {document_name} is not one of the guest scripts")
        return manifests[suffix]

    def dispatch(
        self, command_id: str, document_name: str, instance_ids: list[str], parameters: dict[str, str]
    ) -> None:
        """Deliver a command to exactly these instances and decide each outcome."""
        manifest = self._manifest(document_name)
        purpose = manifest.name.rsplit("-", 1)[0]
        now = self.clock.now()
        for instance_id in instance_ids:
            with self._lock:
                self.history.append(Dispatch(command_id, instance_id, document_name, dict(parameters), now))
                key = (instance_id, purpose)
                attempt = self._deliveries.get(key, 0)
                self._deliveries[key] = attempt + 1
            behaviour = self.behaviour(instance_id)
            if behaviour is None or not behaviour.ssm_managed or behaviour.ping_status != "Online":
                self._store(command_id, instance_id, ready_at=now, status="Failed", details="Undeliverable")
                continue
            if behaviour.platform is not manifest.platform:
                self._store(command_id, instance_id, ready_at=now, status="Failed", details="InvalidPlatform")
                continue
            outcome = behaviour.outcome(purpose)
            if attempt < outcome.undeliverable_times:
                self._store(command_id, instance_id, ready_at=now, status="Failed", details="Undeliverable")
                continue
            ready = now + timedelta(seconds=outcome.delay_seconds)
            if outcome.result == "timeout":
                self._store(command_id, instance_id, ready_at=ready, status="TimedOut", details="ExecutionTimedOut")
            elif outcome.result == "fail":
                self._store(
                    command_id,
                    instance_id,
                    ready_at=ready,
                    status="Failed",
                    details="Failed",
                    code=outcome.exit_code,
                    stderr=outcome.stderr or f"{manifest.name} failed",
                )
            elif behaviour.run_linux_scripts and manifest.platform is Platform.LINUX:
                code, stdout, stderr = self._run_script(instance_id, behaviour, manifest, parameters)
                status = "Success" if code == 0 else "Failed"
                self._store(
                    command_id,
                    instance_id,
                    ready_at=ready,
                    status=status,
                    details=status,
                    code=code,
                    stdout=stdout,
                    stderr=stderr,
                )
                if code == 0:
                    self._succeeded(purpose, instance_id, ready)
            else:
                stdout = self._synthesized_stdout(instance_id, behaviour, manifest, parameters)
                self._store(
                    command_id, instance_id, ready_at=ready, status="Success", details="Success", code=0, stdout=stdout
                )
                self._succeeded(purpose, instance_id, ready)

    def _succeeded(self, purpose: str, instance_id: str, at: datetime) -> None:
        if purpose == "install-agent" and self.on_agent_registered is not None:
            self.on_agent_registered(instance_id, at)

    def has_invocation(self, command_id: str, instance_id: str) -> bool:
        """Whether the command was delivered to the instance (else SSM answers InvocationDoesNotExist)."""
        with self._lock:
            return (command_id, instance_id) in self._invocations

    def document_of(self, command_id: str, instance_id: str) -> str:
        with self._lock:
            return next(
                (d.document_name for d in self.history if (d.command_id, d.instance_id) == (command_id, instance_id)),
                "",
            )

    def invocation(self, command_id: str, instance_id: str) -> Invocation:
        """The invocation as SSM would report it now; a command never sent to the instance is Pending forever
        (as SSM's InvocationDoesNotExist reads right after a send)."""
        with self._lock:
            pending = self._invocations.get((command_id, instance_id))
        if pending is None:
            return Invocation(command_id=command_id, instance_id=instance_id, status="Pending")
        if self.clock.now() < pending.ready_at:
            return Invocation(
                command_id=command_id, instance_id=instance_id, status="InProgress", status_details="InProgress"
            )
        return pending.invocation

    def command_statuses(self, command_ids: list[str]) -> dict[str, dict[str, str]]:
        """What ListCommands reports of each command sent through this emulator: ``Status``, ``StatusDetails`` (over
        its instances: in progress while one runs, Success once all succeeded, else the first failure's) and
        ``RequestedDateTime`` (ISO 8601, on this emulator's clock). Commands it never saw are absent."""
        now = self.clock.now()
        wanted = set(command_ids)
        found: dict[str, dict[str, str]] = {}
        with self._lock:
            for dispatch in self.history:
                if dispatch.command_id not in wanted:
                    continue
                entry = found.setdefault(
                    dispatch.command_id,
                    {"Status": "Success", "StatusDetails": "Success", "RequestedDateTime": dispatch.at.isoformat()},
                )
                pending = self._invocations.get((dispatch.command_id, dispatch.instance_id))
                if pending is None or now < pending.ready_at:
                    entry.update(Status="InProgress", StatusDetails="InProgress")
                elif pending.invocation.status != "Success" and entry["Status"] == "Success":
                    entry.update(Status=pending.invocation.status, StatusDetails=pending.invocation.status_details)
        return found

    def _store(
        self,
        command_id: str,
        instance_id: str,
        *,
        ready_at: datetime,
        status: str,
        details: str,
        code: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        invocation = Invocation(
            command_id=command_id,
            instance_id=instance_id,
            status=status,
            status_details=details,
            response_code=code,
            stdout=stdout,
            stderr=stderr,
        )
        with self._lock:
            self._invocations[(command_id, instance_id)] = _Pending(invocation, ready_at)

    # --- outcomes ----------------------------------------------------------------------------------------------

    def _synthesized_stdout(
        self, instance_id: str, b: GuestBehaviour, manifest: ScriptManifest, parameters: dict[str, str]
    ) -> str:
        purpose = manifest.name.rsplit("-", 1)[0]
        with self._lock:
            if purpose == "prepare-guest":
                result: dict[str, object] = {
                    "script": manifest.name,
                    "os_id": b.os_id,
                    "os_name": b.os_name,
                    "os_version": b.os_version,
                    "kernel": b.kernel,
                    "cloud_init": b.cloud_init,
                    "cloud_init_disabled": b.cloud_init,
                    "discovery_enabled": parameters.get("Discovery") == "true",
                }
                self._prepared[instance_id] = True
                if b.identity is not None:
                    result["identity"] = b.identity.model_dump(mode="json")
            elif purpose == "install-agent":
                already = self._registered.get(instance_id, False)
                self._registered[instance_id] = True
                result = {
                    "script": manifest.name,
                    "cs_type": "CSPrime",
                    "status": "already_registered" if already else "registered",
                    "installed_now": not already,
                    "registered_now": not already,
                }
            elif parameters.get("Scope") == "access":
                access_changed = self._prepared.get(instance_id, False) and parameters.get("Discovery") != "false"
                result = {
                    "script": manifest.name,
                    "scope": "access",
                    "changed": ["access_restored"] if access_changed else [],
                }
            else:
                result = {
                    "script": manifest.name,
                    "scope": "all",
                    "changed": ["reverted"] if self._prepared.pop(instance_id, False) else [],
                }
        return json.dumps(result) + "\n"

    def _run_script(
        self, instance_id: str, b: GuestBehaviour, manifest: ScriptManifest, parameters: dict[str, str]
    ) -> tuple[int, str, str]:
        root = self.guest_root(instance_id)
        prepare_scratch_root(root, b)
        if b.identity is not None:
            write_identity_tree(root, b.identity)
        env = {
            "PATH": f"{root / 'usr/local/bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "GUEST_ROOT": str(root),
            "TMPDIR": str(root / "tmp"),
            "HOME": str(root / "root"),
            "LANG": "C.UTF-8",
            **self.script_env,
            **{f"SSM_{name}": value for name, value in parameters.items()},
        }
        done = subprocess.run(
            ["bash", str(manifest.script_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=manifest.timeout_seconds,
            check=False,
        )
        return done.returncode, done.stdout, done.stderr


def prepare_scratch_root(root: Path, behaviour: GuestBehaviour) -> None:
    """A minimal Linux guest tree for the scripts: os-release, sshd_config, cloud-init, an ``aws`` CLI shim."""
    if (root / "etc/os-release").exists():
        return
    for folder in ("etc/ssh/sshd_config.d", "tmp", "root", "usr/local/bin", "var/lib"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").write_text(
        f'NAME="{behaviour.os_name}"\nID={behaviour.os_id}\nVERSION_ID="{behaviour.os_version}"\n'
        f'PRETTY_NAME="{behaviour.os_name} {behaviour.os_version}"\n'
    )
    (root / "etc/ssh/sshd_config").write_text(DEFAULT_SSHD_CONFIG)
    if behaviour.cloud_init:
        (root / "etc/cloud/cloud.cfg.d").mkdir(parents=True, exist_ok=True)
    shim = root / "usr/local/bin/aws"
    repo = Path(__file__).resolve().parents[2]
    shim.write_text(
        "#!/usr/bin/env bash\n"
        f'PYTHONPATH="{repo}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" -m local.aws.aws_cli_shim "$@"\n'
    )
    shim.chmod(0o755)


def emulator_for_estate(
    clock: Clock,
    estate: Estate,
    instance_ids: dict[str, str],
    *,
    overrides: dict[str, dict[str, Any]] | None = None,
    document_prefix: str = "ec2-to-azure",
    scratch_dir: Path | None = None,
    script_env: dict[str, str] | None = None,
    seeded: SeededEstate | None = None,
) -> GuestEmulator:
    """A guest emulator with one guest per estate instance (``instance_ids``: name → id, as seeded).

    ``overrides`` maps an instance name to GuestBehaviour fields (e.g. ``{"scripts": {...}}``). With ``seeded``
    each guest reports the identity of its seeded instance (IP, volumes, hypervisor), as the real script would.
    """
    behaviours = {}
    for spec in estate.instances:
        fields = dict((overrides or {}).get(spec.name, {}))
        item = seeded.instances.get(spec.name) if seeded is not None else None
        if item is not None and "identity" not in fields:
            fields["identity"] = guest_identity_for(
                item.instance_id, item.private_ip, item.platform, item.hypervisor, item.volumes
            )
        behaviours[instance_ids[spec.name]] = GuestBehaviour.for_instance(spec, **fields)
    return GuestEmulator(
        clock, behaviours, document_prefix=document_prefix, scratch_dir=scratch_dir, script_env=script_env
    )
