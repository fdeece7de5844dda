"""Send one guest script to many instances: pick the document per platform, keep only instances SSM can reach,
validate the parameters against the script's manifest, batch by 50."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aws_lambdas.guest_scripts import manifest
from aws_lambdas.runtime import Invocation, logger
from shared.aws_contracts import CommandRef, GuestCommandResult, SkippedInstance
from shared.errors import InvalidRequestError
from shared.facts import Platform


def run_guest_script(
    invocation: Invocation,
    *,
    migration_id: str,
    instance_ids: Sequence[str],
    documents: Mapping[Platform, str],
    parameters_for: Callable[[Platform], dict[str, str]],
    purpose: str,
) -> GuestCommandResult:
    """Run the platform's script on every reachable instance; unreachable ones are reported as skipped."""
    ec2, ssm = invocation.gateways.ec2, invocation.gateways.ssm
    described = ec2.describe_instances(instance_ids)
    skipped = [SkippedInstance(instance_id=i, reason="instance not found") for i in instance_ids if i not in described]
    running = [d for i in instance_ids if (d := described.get(i)) is not None]
    for desc in [d for d in running if d.state != "running"]:
        skipped.append(SkippedInstance(instance_id=desc.instance_id, reason=f"instance is {desc.state}"))
    running = [d for d in running if d.state == "running"]
    managed = ssm.describe_managed_instances([d.instance_id for d in running]) if running else {}
    targets: dict[Platform, list[str]] = {}
    for desc in running:
        info = managed.get(desc.instance_id)
        if info is None:
            skipped.append(SkippedInstance(instance_id=desc.instance_id, reason="not managed by SSM"))
        elif info.ping_status != "Online":
            skipped.append(SkippedInstance(instance_id=desc.instance_id, reason=f"SSM agent {info.ping_status}"))
        else:
            targets.setdefault(desc.platform, []).append(desc.instance_id)

    commands: list[CommandRef] = []
    for platform, ids in sorted(targets.items()):
        script = manifest(documents[platform])
        try:
            parameters = script.resolve_parameters(parameters_for(platform))
        except ValueError as exc:
            raise InvalidRequestError(str(exc), resource=script.name) from exc
        document = invocation.settings.document_name(script.name)
        for sent in ssm.send_command(
            document,
            ids,
            parameters,
            comment=f"{purpose} {migration_id}",
            timeout_seconds=script.timeout_seconds,
        ):
            commands.append(
                CommandRef(
                    command_id=sent.command_id,
                    document_name=sent.document_name,
                    platform=platform,
                    instance_ids=list(sent.instance_ids),
                )
            )
    logger.info(
        f"{purpose}: sent {len(commands)} command(s)",
        extra={"target_count": sum(len(c.instance_ids) for c in commands), "skipped_count": len(skipped)},
    )
    return GuestCommandResult(commands=commands, skipped=skipped)
