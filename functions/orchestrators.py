"""The orchestrators, registered on ``bp``: thin functions over the plain generators in ``functions/workflows``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from functions.workflows import vm, wave

bp = df.Blueprint()

#: The name the queue trigger starts waves by (the registered function's name; a test keeps them equal).
WAVE_ORCHESTRATOR = "migrate_wave"


@bp.orchestration_trigger(context_name="context")
def migrate_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One VM's lifecycle (input: ``VmInput``; output: ``VmResult``)."""
    return (yield from vm.migrate_vm(context))


@bp.orchestration_trigger(context_name="context")
def migrate_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """A slice of a wave, side by side (input: ``BatchInput``; output: list of ``VmResult``)."""
    return (yield from wave.migrate_batch(context, migrate_vm))


@bp.orchestration_trigger(context_name="context")
def migrate_wave(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """A whole request: preflight, batches, summary (input: ``WaveInput``; output: ``WaveSummary``)."""
    return (yield from wave.migrate_wave(context, migrate_batch))
