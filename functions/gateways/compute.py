"""Compute adapter: the :class:`shared.test_vm.ComputeGateway` port over azure-mgmt-compute (pinned in
requirements.txt), for the test VM a test failover creates.

- ``virtual_machines.instance_view``: provisioning, power and VM agent statuses (``VirtualMachines_InstanceView``).
- ``virtual_machines.begin_run_command`` (``VirtualMachines_RunCommand``): the POST answers 202 with ``Location``;
  the activity starts it and returns at once (the same start-only poller as the Site Recovery gateway, so no
  background thread polls), and the orchestration asks :meth:`run_command_progress` again on a durable timer.
  Following ARM's asynchronous-operation contract, a GET of ``Location`` answers 202 while the command runs and
  200 with the ``RunCommandResult`` (``value[]``) when it is done; it is read through the client's own pipeline
  (``send_request``: same credential, retries and transport).

SDK errors map to the pipeline's types with the Site Recovery adapter's translation (one definition).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as cm

from functions.gateways.site_recovery_client import (
    ENV_MANAGED_IDENTITY_CLIENT_ID,
    ENV_RESOURCE_MANAGER_URL,
    StartOnlyPolling,
    translate_error,
)
from shared.errors import MigrationError, PermanentError
from shared.test_vm import RunCommandProgress, RunCommandSpec, RunCommandStarted, TestVmRef, TestVmView


def _statuses(found: Any) -> list[tuple[str, str, str]]:
    return [
        (str(s.code or ""), str(getattr(s, "display_status", None) or ""), str(getattr(s, "message", None) or ""))
        for s in (found or [])
    ]


class AzureComputeGateway:
    """Reads the test VM and runs commands on it. Accepts an injected client; builds one only when none is given."""

    def __init__(
        self,
        client: ComputeManagementClient | None = None,
        *,
        subscription_id: str = "",
        credential: Any = None,
        base_url: str | None = None,
    ) -> None:
        if client is None:
            if credential is None:
                from azure.identity import DefaultAzureCredential, ManagedIdentityCredential  # noqa: PLC0415

                client_id = os.environ.get(ENV_MANAGED_IDENTITY_CLIENT_ID)
                credential = ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()
            options: dict[str, Any] = {"base_url": base_url} if base_url else {}
            client = ComputeManagementClient(credential, subscription_id, **options)
        self.client = client

    def _where(self, vm: TestVmRef) -> str:
        return f"virtualMachines/{vm.vm_name}"

    def read_test_vm(self, vm: TestVmRef) -> TestVmView:
        try:
            view = self.client.virtual_machines.instance_view(vm.resource_group, vm.vm_name)
        except Exception as error:
            raise translate_error(error, self._where(vm)) from error
        agent = getattr(view, "vm_agent", None)
        return TestVmView.from_statuses(_statuses(view.statuses), _statuses(getattr(agent, "statuses", None)))

    def start_run_command(self, spec: RunCommandSpec) -> RunCommandStarted:
        polling = StartOnlyPolling()
        body = cm.RunCommandInput(command_id=spec.command_id, script=list(spec.script))
        try:
            self.client.virtual_machines.begin_run_command(
                spec.vm.resource_group, spec.vm.vm_name, body, polling=polling
            )
        except Exception as error:
            raise translate_error(error, f"{self._where(spec.vm)}/runCommand") from error
        location = polling.initial_headers.get("location") or polling.initial_headers.get("azure-asyncoperation")
        if not location:
            raise PermanentError(
                "Run Command was accepted but named no Location to read its result from",
                code="NoLocation",
                resource=f"{self._where(spec.vm)}/runCommand",
            )
        return RunCommandStarted(vm=spec.vm, result_url=location)

    def run_command_progress(self, started: RunCommandStarted) -> RunCommandProgress:
        where = f"{self._where(started.vm)}/runCommand"
        try:
            response = self.client.send_request(HttpRequest("GET", started.result_url))
            if response.status_code == 202:
                return RunCommandProgress(done=False)
            response.raise_for_status()
            body = response.json()
        except MigrationError:
            raise
        except Exception as error:
            raise translate_error(error, where) from error
        if isinstance(body, dict) and isinstance(body.get("status"), str) and "value" not in body:
            return self._from_operation_status(body, where)
        values = body.get("value") if isinstance(body, dict) else None
        return RunCommandProgress(done=True, messages=[str(v.get("message") or "") for v in values or []])

    @staticmethod
    def _from_operation_status(body: dict[str, Any], where: str) -> RunCommandProgress:
        """An ``Azure-AsyncOperation`` body (``status``, ``properties.output.value[]``, ``error``)."""
        status = body["status"].lower()
        if status in {"inprogress", "notstarted", "running"}:
            return RunCommandProgress(done=False)
        if status != "succeeded":
            error = body.get("error") or {}
            raise PermanentError(
                str(error.get("message") or f"Run Command ended {body['status']}"),
                code=str(error.get("code") or "RunCommandFailed"),
                resource=where,
            )
        output = (body.get("properties") or {}).get("output") or {}
        return RunCommandProgress(done=True, messages=[str(v.get("message") or "") for v in output.get("value") or []])


_gateways: dict[str, AzureComputeGateway] = {}
_lock = threading.Lock()


def cloud_compute_gateway(subscription_id: str, managed_identity_client_id: str | None) -> AzureComputeGateway:
    """One gateway per subscription, reused across activities."""
    key = subscription_id.lower()
    with _lock:
        gateway = _gateways.get(key)
        if gateway is None:
            credential = None
            if managed_identity_client_id:
                from azure.identity import ManagedIdentityCredential  # noqa: PLC0415 - cloud only

                credential = ManagedIdentityCredential(client_id=managed_identity_client_id)
            gateway = AzureComputeGateway(
                subscription_id=subscription_id,
                credential=credential,
                base_url=os.environ.get(ENV_RESOURCE_MANAGER_URL) or None,
            )
            _gateways[key] = gateway
        return gateway
