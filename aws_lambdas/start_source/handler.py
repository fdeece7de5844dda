"""Lambda ``start_source``: start the source instances again (rollback after a failed cutover).

Idempotent: starting a running (or pending) instance reports its state and changes nothing.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from aws_lambdas.runtime import Invocation, lambda_function, metrics
from shared.aws_contracts import InstanceStateChange, PowerResult, StartSourceEvent


@lambda_function("start_source", StartSourceEvent)
def start_source(event: StartSourceEvent, invocation: Invocation) -> PowerResult:
    changes = invocation.gateways.ec2.start_instances(event.instance_ids)
    metrics.add_metric(name="InstancesStarted", unit=MetricUnit.Count, value=len(changes))
    return PowerResult(
        instances=[
            InstanceStateChange(instance_id=c.instance_id, previous_state=c.previous_state, state=c.state)
            for c in changes
        ]
    )


lambda_handler = start_source
