"""Lambda ``stop_source``: stop the source instances for cutover and report the state each reached.

Idempotent: stopping a stopped (or stopping) instance reports its state and changes nothing.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from aws_lambdas.runtime import Invocation, lambda_function, metrics
from shared.aws_contracts import InstanceStateChange, PowerResult, StopSourceEvent


@lambda_function("stop_source", StopSourceEvent)
def stop_source(event: StopSourceEvent, invocation: Invocation) -> PowerResult:
    changes = invocation.gateways.ec2.stop_instances(event.instance_ids)
    metrics.add_metric(name="InstancesStopped", unit=MetricUnit.Count, value=len(changes))
    return PowerResult(
        instances=[
            InstanceStateChange(instance_id=c.instance_id, previous_state=c.previous_state, state=c.state)
            for c in changes
        ]
    )


lambda_handler = stop_source
