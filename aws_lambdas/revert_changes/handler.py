"""Lambda ``revert_changes``: undo one migration's temporary changes and tag the instances with the outcome.

* security group rules: removes exactly the ledger's rules that this migration created — never a rule marked
  pre-existing, never a rule whose migration-id tag is not this migration's, never a shared rule (one with a
  holder: a replication rule from a security group or a discovery rule on a source group; the wave releases
  those); an already removed rule is fine;
* with ``release_holder`` (a wave at its end): releases the shared rules that wave holds
  (:func:`aws_lambdas.shared_rules.release`), removing those no other wave holds;
* guest: runs the revert-guest script (restores sshd settings / WinRM state recorded by prepare-guest) on the
  instances SSM can reach; a stopped source is reported as skipped (it is left as the migration found it);
* tags each instance with the outcome and the migration id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from aws_lambdas.gateways.ports import Ec2Port, IngressRule
from aws_lambdas.guest_commands import run_guest_script
from aws_lambdas.runtime import Invocation, lambda_function, logger, metrics
from aws_lambdas.settings import REVERT_GUEST_DOCUMENTS
from aws_lambdas.shared_rules import release
from shared.aws_contracts import (
    MIGRATION_ID_TAG,
    OUTCOME_TAG,
    GuestCommandResult,
    RevertChangesEvent,
    RevertChangesResult,
    SecurityGroupNotFoundError,
)
from shared.facts import Platform


@dataclass
class _Rules:
    removed: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)


def _revert_rules(ec2: Ec2Port, event: RevertChangesEvent) -> _Rules:
    """Remove the ledger's own rules; pre-existing, foreign and shared rules are left alone."""
    done = _Rules()
    current: dict[str, dict[str, IngressRule]] = {}
    for change in event.rules:
        if change.pre_existing:
            done.kept.append(change.rule_id)
            continue
        if change.holder is not None:
            done.held.append(change.rule_id)  # shared: its holder (the wave) releases it
            continue
        if change.group_id not in current:
            ours = [
                c.rule_id
                for c in event.rules
                if c.group_id == change.group_id and not c.pre_existing and c.holder is None
            ]
            try:
                current[change.group_id] = {r.rule_id: r for r in ec2.ingress_rules(change.group_id, ours)}
            except SecurityGroupNotFoundError:
                current[change.group_id] = {}
        rule = current[change.group_id].get(change.rule_id)
        if rule is None:
            done.absent.append(change.rule_id)
        elif rule.tags.get(MIGRATION_ID_TAG) not in {event.migration_id, change.adopted_from or event.migration_id}:
            logger.warning("rule not tagged with this migration: kept", extra={"rule_id": change.rule_id})
            done.kept.append(change.rule_id)
        elif ec2.revoke_ingress_rule(change.group_id, change.rule_id):
            done.removed.append(change.rule_id)
        else:
            done.absent.append(change.rule_id)
    if event.release_holder is not None:
        released = release(ec2, event.release_holder)
        done.removed += released.removed
        done.held += released.held + released.restored
        logger.info("shared rules released", extra={"holder": event.release_holder, **vars(released)})
    return done


@lambda_function("revert_changes", RevertChangesEvent, idempotent=True)
def revert_changes(event: RevertChangesEvent, invocation: Invocation) -> RevertChangesResult:
    ec2 = invocation.gateways.ec2
    rules = _revert_rules(ec2, event)

    guest = GuestCommandResult()
    if event.revert_guest and event.instance_ids:

        def parameters(_platform: Platform) -> dict[str, str]:
            return {"MigrationId": event.migration_id, "Scope": event.guest_scope}

        guest = run_guest_script(
            invocation,
            migration_id=event.migration_id,
            instance_ids=event.instance_ids,
            documents=REVERT_GUEST_DOCUMENTS,
            parameters_for=parameters,
            purpose="revert-guest",
        )

    tagged: list[str] = []
    if event.instance_ids:
        existing = ec2.describe_instances(event.instance_ids)
        tagged = [i for i in event.instance_ids if i in existing]
        if tagged:
            ec2.tag_instances(tagged, {OUTCOME_TAG: event.outcome, MIGRATION_ID_TAG: event.migration_id})
    metrics.add_metric(name="RulesRemoved", unit=MetricUnit.Count, value=len(rules.removed))
    return RevertChangesResult(
        rules_removed=rules.removed,
        rules_already_absent=rules.absent,
        rules_kept=rules.kept,
        rules_held=rules.held,
        guest=guest,
        tagged=tagged,
    )


lambda_handler = revert_changes
