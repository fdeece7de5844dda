"""``migrate_wave`` and ``migrate_batch``: a whole request, fanned out and fanned in.

The wave's own events (``wave.started``, ``step.retried`` of its setup calls, ``wave.completed``) go to its
outbox (:mod:`functions.workflows.outbox`), published before it waits on its batches and delivered before it ends:
a topic outage never fails a wave.

The wave first preflights every VM in one batched activity (it only reads), then checks Azure is ready for the VMs
preflight accepted (``check_readiness``: a gap ends the wave before anything changes; see that module for why in
this order), resolves each vault's replication topology once, then
runs the VMs in batches (``migrate_batch`` sub-orchestrations, each fanning out to ``migrate_vm``) with at most
``max_parallel`` VMs in flight. Batches keep every orchestrator's history bounded however large the wave.

With ``rule_source: security_group`` the wave is the holder of the appliance's shared rules (VMs sharing a source
group share one pair of rules, possibly with other waves' VMs), and with ``appliance.discovery_ip`` of the discovery
rules on the sources' groups (whatever the rule source): its VMs add or adopt them under the wave's name and never
revoke them; once every VM has ended the wave releases them (``_release_shared_rules``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from functions import retry
from functions.activities import aws, preflight, readiness, site_recovery
from functions.activities.preflight import PreflightReport
from functions.workflows.outbox import Outbox
from functions.workflows.retrying import OnRetry, activity_name, call_with_retry, describe
from shared import aws_contracts as awsc
from shared import site_recovery as sr
from shared.appliance_capacity import Parallelism, ParallelLimit, effective_parallelism
from shared.errors import error_from_dict
from shared.lifecycle import StepError, VmState
from shared.pacing import start_groups, start_slots
from shared.pipeline import BatchInput, EventType, MigrationEvent, VmInput, VmResult, WaveInput, WaveSummary
from shared.readiness import ReadinessReport, not_ready_results
from shared.request import MigrationRequest, vm_instance_id

Flow = Generator[Any, Any, Any]


class WaveSetupError(Exception):
    """The wave could not start its VMs (preflight or topology failed for good)."""


def migrate_wave(context: Any, migrate_batch: Any) -> Flow:  # noqa: PLR0915 - one flow, read top to bottom
    """The wave orchestrator body; ``migrate_batch`` is the registered batch sub-orchestrator."""
    wave = WaveInput.model_validate(context.get_input())
    request = wave.request
    started = context.current_utc_datetime
    announce = _Announcer(context, request.request_id, Outbox(context))
    announce(EventType.WAVE_STARTED, "preflight", vms=len(request.vms))
    context.set_custom_status({"stage": "preflight", "vms": len(request.vms)})
    try:
        report: PreflightReport = yield from _call(
            context, preflight.preflight_wave, request, PreflightReport, retry.PREFLIGHT, announce
        )
        context.set_custom_status({"stage": "readiness", "vms": len(request.vms)})
        ready: ReadinessReport = yield from _call(
            context,
            readiness.check_readiness,
            readiness.ReadinessInput(request=request, vms=readiness.machine_queries(report.outcomes)),
            ReadinessReport,
            retry.READINESS,
            announce,
        )
        if not ready.ready:  # a gap in Azure: nothing starts, every VM fails with the gaps that stop it
            failed = not_ready_results(request, ready, context.current_utc_datetime)
            return (yield from _summarise(context, announce, request, failed, started))
        accepted = {o.instance_id for o in report.outcomes if o.verdict.accepted}
        topologies: dict[tuple[str, str, str], dict[str, Any]] = {}
        appliance = sr.appliance_identity(request.appliance)
        for vault in sr.vaults_of(request, accepted):
            spec = sr.DiscoverTopologySpec(vault=vault, appliance=appliance)
            topology: sr.ReplicationTopology = yield from _call(
                context,
                site_recovery.discover_topology,
                spec,
                sr.ReplicationTopology,
                retry.SITE_RECOVERY_CALL,
                announce,
            )
            topologies[_key(vault)] = topology.model_dump(mode="json")
    except WaveSetupError as failure:
        now = context.current_utc_datetime
        unstarted = [
            _failed(request.request_id, vm.instance_id, VmState.PREFLIGHT, "WaveSetupFailed", str(failure), now)
            for vm in request.vms
        ]
        return (yield from _summarise(context, announce, request, unstarted, started))

    outcomes = {outcome.instance_id: outcome for outcome in report.outcomes}
    inputs = []
    for vm in request.vms:
        target = request.target_for(vm)
        outcome = outcomes[vm.instance_id]
        key = (target.subscription_id, target.vault.resource_group, target.vault.name)
        inputs.append(
            VmInput(
                request_id=request.request_id,
                wave_instance_id=context.instance_id,
                vm=vm,
                region=request.region_for(vm),
                mode=request.mode,
                approval=request.approval,
                approval_timeout_hours=request.approval_timeout_hours,
                on_no_approval=request.on_no_approval,
                on_test_failure=request.on_test_failure,
                appliance=request.appliance,
                target=target,
                verdict=outcome.verdict,
                facts=outcome.facts,
                topology=topologies.get(key, {}),
                timings=wave.timings,
                migration_tags={"migrated-by": "ec2-to-azure", "migration-request": request.request_id},
            )
        )
    parallel = _parallelism(announce, request.max_parallel, topologies)  # the appliance's room may hold it back
    batch_size = max(1, min(wave.batch_size, parallel.value // 2 or 1))
    batches = [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)]
    window = max(1, parallel.value // batch_size)
    context.set_custom_status(
        {"stage": "migrating", "vms": len(inputs), "batches": len(batches), "done": 0, "parallel": parallel.value}
    )

    results: list[VmResult] = []
    running: dict[Any, list[VmInput]] = {}
    next_batch = 0
    next_start = context.current_utc_datetime  # the VMs start one every start_interval_seconds (shared.pacing)
    while next_batch < len(batches) or running:
        while next_batch < len(batches) and len(running) < window:
            slots, next_start = start_slots(
                context.current_utc_datetime, next_start, len(batches[next_batch]), wave.start_interval_seconds
            )
            paced = [
                vm.model_copy(update={"not_before": slot}) for vm, slot in zip(batches[next_batch], slots, strict=True)
            ]
            batch = BatchInput(request_id=request.request_id, batch_index=next_batch, vms=paced)
            task = context.call_sub_orchestrator(
                migrate_batch,
                batch.model_dump(mode="json"),
                f"{context.instance_id}-batch-{next_batch}",
                expected_type=list,
            )
            running[task] = batches[next_batch]
            next_batch += 1
        yield from announce.outbox.publish()
        finished = yield context.task_any(list(running))
        members = running.pop(finished)
        if isinstance(finished.result, Exception):
            now = context.current_utc_datetime
            results += [
                _failed(
                    vm.request_id, vm.vm.instance_id, VmState.QUEUED, "OrchestrationFailed", str(finished.result), now
                )
                for vm in members
            ]
        else:
            results += [VmResult.model_validate(item) for item in finished.result]
        context.set_custom_status(
            {"stage": "migrating", "vms": len(inputs), "batches": len(batches), "done": len(results)}
        )

    return (yield from _summarise(context, announce, request, results, started))


def _parallelism(announce: _Announcer, max_parallel: int, topologies: dict[Any, dict[str, Any]]) -> Parallelism:
    """How many VMs run at once; an event says so when the appliance's remaining capacity is what holds it back."""
    counts = [topology.get("process_server_protected_items") for topology in topologies.values()]
    parallel = effective_parallelism(max_parallel, counts)
    if parallel.limited_by is ParallelLimit.APPLIANCE_CAPACITY:
        announce(EventType.WAVE_PARALLELISM_CAPPED, "migrating", **parallel.model_dump(mode="json"))
    return parallel


def _summarise(
    context: Any,
    announce: _Announcer,
    request: MigrationRequest,
    results: list[VmResult],
    started: Any,
) -> Flow:
    """The wave's end, however it ends: its shared rules released, its summary, its last events delivered."""
    shared_rules = yield from _release_shared_rules(context, request, announce)
    order = {vm.instance_id: index for index, vm in enumerate(request.vms)}
    results.sort(key=lambda result: order[result.instance_id])
    counts: dict[str, int] = {}
    for result in results:
        counts[result.state.value] = counts.get(result.state.value, 0) + 1
    summary = WaveSummary(
        request_id=request.request_id,
        environment=request.environment.value,
        counts=counts,
        vms=results,
        started_at=started,
        finished_at=context.current_utc_datetime,
        shared_rules=shared_rules,
    )
    announce(EventType.WAVE_COMPLETED, "completed", counts=counts)
    yield from announce.outbox.deliver()
    context.set_custom_status({"stage": "completed", "vms": len(results), "done": len(results), "counts": counts})
    return summary.model_dump(mode="json")


def migrate_batch(context: Any, migrate_vm: Any) -> Flow:
    """Run a slice of the wave's VMs side by side; a VM's failure is its result, never the batch's.

    Each VM starts at its paced slot (``not_before``), in groups (:func:`shared.pacing.start_groups`): the batch waits
    for a group's start on one durable timer and starts its VMs together, so no VM waits on a timer of its own.
    """
    batch = BatchInput.model_validate(context.get_input())
    now = context.current_utc_datetime
    groups = start_groups([vm.not_before or now for vm in batch.vms])
    pending: dict[Any, VmInput] = {}
    results: dict[str, dict[str, Any]] = {}
    timer: Any = None
    while groups or pending:
        while groups and groups[0][0] <= context.current_utc_datetime:
            for index in groups.pop(0)[1]:
                vm = batch.vms[index].model_copy(update={"not_before": None})
                task = context.call_sub_orchestrator(
                    migrate_vm,
                    vm.model_dump(mode="json"),
                    vm_instance_id(batch.request_id, vm.vm.instance_id),
                    expected_type=dict,
                )
                pending[task] = vm
        if groups and timer is None:
            timer = context.create_timer(groups[0][0])
        finished = yield context.task_any([*pending, *([timer] if timer is not None else [])])
        if finished is timer:
            timer = None
            continue
        vm = pending.pop(finished)
        if isinstance(finished.result, Exception):
            crashed = _failed(
                vm.request_id,
                vm.vm.instance_id,
                VmState.QUEUED,
                "OrchestrationFailed",
                str(finished.result),
                context.current_utc_datetime,
            )
            results[vm.vm.instance_id] = crashed.model_dump(mode="json")
        else:
            results[vm.vm.instance_id] = finished.result
    return [results[vm.vm.instance_id] for vm in batch.vms]


def _key(vault: sr.VaultRef) -> tuple[str, str, str]:
    return (vault.subscription_id, vault.resource_group, vault.vault_name)


def _failed(request_id: str, instance_id: str, step: VmState, code: str, message: str, at: Any) -> VmResult:
    """The result of a VM whose own orchestration could not run or crashed."""
    first_line = (message.strip().splitlines() or ["orchestration failed"])[0][:500]
    return VmResult(
        instance_id=instance_id,
        orchestration_id=vm_instance_id(request_id, instance_id),
        state=VmState.FAILED,
        error=StepError(step=step, code=code, message=first_line),
        started_at=at,
        finished_at=at,
    )


class _Announcer:
    """Deterministic wave-level events."""

    def __init__(self, context: Any, request_id: str, outbox: Outbox) -> None:
        self.context = context
        self.request_id = request_id
        self.outbox = outbox
        self.seq = 0

    def __call__(self, event_type: EventType, state: str, **data: Any) -> None:
        """Put a wave event in the wave's outbox."""
        self.seq += 1
        event = MigrationEvent(
            event_id=f"{self.context.instance_id}:{self.seq}",
            type=event_type,
            request_id=self.request_id,
            orchestration_id=self.context.instance_id,
            state=state,
            at=self.context.current_utc_datetime,
            data=data,
        )
        self.outbox.add(event)


def _call(
    context: Any, activity: Any, payload: Any, result_type: Any, policy: retry.RetryPolicy, announce: _Announcer
) -> Flow:
    """A wave setup call: transient errors retried by ``policy`` (each retry a ``step.retried`` event), anything
    else ends the wave's setup with its cause."""
    envelope = {"input": payload.model_dump(mode="json")}
    answer = yield from call_with_retry(
        context, activity, policy, envelope, _on_retry(context, activity, policy, announce)
    )
    if "error" in answer:
        raise WaveSetupError(str(error_from_dict(answer["error"])))
    return result_type.model_validate(answer["value"])


def _on_retry(context: Any, activity: Any, policy: retry.RetryPolicy, announce: _Announcer) -> OnRetry:
    """Each retry of a wave's own call is a ``step.retried`` event of the stage it happens in."""
    status = getattr(context, "custom_status", None)
    stage = str(status.get("stage", "")) if isinstance(status, dict) else ""

    def retried(attempt: int, cause: dict[str, Any], delay: float) -> None:
        announce(
            EventType.STEP_RETRIED,
            stage,
            activity=activity_name(activity),
            policy=policy.name,
            attempt=attempt,
            cause=describe(cause),
            code=str(cause.get("code") or ""),
            retry_in_seconds=delay,
        )

    return retried


def _release_shared_rules(context: Any, request: MigrationRequest, announce: _Announcer) -> Flow:
    """Once every VM has ended: release the shared security group rules the wave held for its VMs (rule_source
    security_group, or a discovery appliance), in each region it used. The rules go only if no other wave holds them
    (:mod:`aws_lambdas.shared_rules`); a failure to release is reported, never the wave's failure: the rules stay,
    tagged with this wave as their holder. Returns what happened, for the wave's summary."""
    if not request.appliance.holds_shared_rules:
        return []
    context.set_custom_status({"stage": "releasing shared rules", "vms": len(request.vms)})
    notes: list[str] = []
    for region in sorted({request.region_for(vm) for vm in request.vms}):
        event = awsc.RevertChangesEvent(
            migration_id=context.instance_id,
            region=region,
            revert_guest=False,
            outcome="wave-completed",
            release_holder=context.instance_id,
        )
        retried = _on_retry(context, aws.revert_changes, retry.AWS_CALL, announce)
        envelope = {"input": event.model_dump(mode="json")}
        answer = yield from call_with_retry(context, aws.revert_changes, retry.AWS_CALL, envelope, retried)
        if "error" in answer:
            notes.append(f"{region}: could not release the shared rules: {describe(answer['error'])}")
            continue
        result = awsc.RevertChangesResult.model_validate(answer["value"])
        notes.append(
            f"{region}: removed {len(result.rules_removed)} shared rule(s), "
            f"left {len(result.rules_held)} another wave still holds"
        )
    return notes
