"""``validating_test``: the test VM a test failover created must boot, and pass the request's checks.

1. Find it: the test failover job names it (``TestFailoverJobDetails.protectedItemDetails[].testVmName``); it lives
   in the target resource group.
2. Read its instance view with durable timers until provisioning succeeded, it runs and its VM agent is ready
   (failed provisioning ends at once; otherwise the validation's timeout bounds the wait).
3. If the request asks for it: run the smoke command and the port checks through Run Command and poll its result
   until done (same timeout). Exit code 0 and every port answering pass; the output is recorded, truncated.

Any failure raises :class:`StepFailed`; the caller's try/finally cleans up the test failover and the rollback
changes nothing in AWS but the temporary changes it reverts.

A mixin of :class:`functions.workflows.vm.VmMigration`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from functions import retry
from functions.activities import test_vm as test_vm_activities
from functions.workflows.replication_steps import ReplicationSteps
from functions.workflows.steps import StepFailed
from shared import site_recovery as sr
from shared import test_vm as tv
from shared.pipeline import VmInput
from shared.request import OsType

Flow = Generator[Any, Any, Any]


class TestVmSteps(ReplicationSteps):
    """Validation of the test VM."""

    __test__ = False  # not a pytest class

    spec: VmInput

    def validate_test_vm(self, test_job: sr.JobStatus | None) -> Flow:
        target = self.spec.target
        validation = target.validation
        names = test_job.test_vm_names if test_job is not None else ()
        if not names:
            raise self.failure("TestVmNotFound", "the test failover job named no test VM to validate")
        vm = tv.TestVmRef(
            subscription_id=target.subscription_id, resource_group=target.resource_group, vm_name=names[0]
        )
        timeout = validation.timeout_minutes * 60.0
        yield from self.await_test_vm_ready(vm, timeout)
        if not validation.smoke_command and not validation.ports:
            self.note(f"{vm.describe()}: running, VM agent ready")
            return
        os_type = self.test_vm_os()
        script = tv.validation_script(validation, os_type, vm)
        started: tv.RunCommandStarted = yield from self.call(
            test_vm_activities.start_test_vm_command, script, tv.RunCommandStarted, retry.COMPUTE_CALL
        )
        result: tv.RunCommandProgress = yield from self.poll(
            lambda: self.call(
                test_vm_activities.test_vm_command_result, started, tv.RunCommandProgress, retry.COMPUTE_CALL
            ),
            done=lambda progress: progress.done,
            first=self.timings.test_vm_first_poll,
            maximum=self.timings.test_vm_max_poll,
            timeout=timeout,
            what=f"the smoke test on the {vm.describe()}",
            code="SmokeTestTimedOut",
        )
        outcome = tv.parse_run_output(result.messages)
        self.progress = self.progress.model_copy(update={"test_output": outcome.output})
        problem = outcome.problem(validation)
        if problem is not None:
            raise self.failure(*problem)
        checked = ", ".join(str(p) for p in validation.ports)
        self.note(
            f"{vm.describe()} passed"
            + (f"; smoke command exited 0: {outcome.output or '(no output)'}" if validation.smoke_command else "")
            + (f"; port(s) {checked} answer" if checked else "")
        )

    def await_test_vm_ready(self, vm: tv.TestVmRef, timeout: float) -> Flow:
        """Read the instance view until the VM runs with its agent ready; fail on failed provisioning or timeout."""
        last: list[tuple[str, str]] = []

        def settled(view: tv.TestVmView) -> bool:
            readiness, code, message = view.assess()
            if readiness is tv.Readiness.FAILED:
                raise self.failure(code, f"{vm.describe()}: {message}")
            last[:] = [(code, message)]  # why it is still waiting, for the timeout's message
            return readiness is tv.Readiness.READY

        try:
            yield from self.poll(
                lambda: self.call(test_vm_activities.read_test_vm, vm, tv.TestVmView, retry.COMPUTE_CALL),
                done=settled,
                first=self.timings.test_vm_first_poll,
                maximum=self.timings.test_vm_max_poll,
                timeout=timeout,
                what=f"the {vm.describe()}",
                code="TestVmTimedOut",
            )
        except StepFailed as failed:
            if failed.error.code == "TestVmTimedOut" and last:
                code, message = last[0]
                raise self.failure(code, f"{vm.describe()}: {message} after {timeout / 60:g} min") from None
            raise

    def test_vm_os(self) -> OsType:
        facts = self.spec.facts
        return OsType(facts.platform.value) if facts else (self.spec.vm.os_type or OsType.LINUX)
