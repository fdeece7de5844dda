"""Shared rules: the appliance's 443/9443 rules whose source is a security group (``rule_source: security_group``).

Every VM whose first security group is ``sg-src`` reaches the appliance through the same pair of rules, whichever
wave it belongs to, so no VM's ledger may own them. They are held per wave instead, and the holders are recorded
where they outlive the rules: as tags on the *source group*, one key per wave (:func:`rule_holder_tag`), whose
value names the appliance group the rules are on. Tag keys are independent, so two waves adding and removing
their own keys never overwrite each other.

* acquire (prepare_network, for each VM): tag the source group with the wave's key first, then add the rules
  (an ``InvalidPermission.Duplicate`` answer means they are already there: adopted, not an error);
* release (revert_changes with ``release_holder``, once per wave at its end): remove the wave's key; if no other
  holder of the same appliance group is left, revoke the managed rules from that source group; then read the
  holders again: a wave that tagged the group between our read and our revoke may have found the rules present
  (a duplicate) just before we removed them, so its rules are restored. Rules not marked managed-by (someone
  else's, there before the pipeline) are never revoked.

A VM that fails or is cancelled never touches the shared rules (its ledger marks them with the holder); a wave
that ends without releasing (its orchestration terminated) leaves its key, so the rules stay rather than vanish
under a running VM: the tag says which wave to clean up after.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_lambdas.gateways.ports import Ec2Port, IngressRule
from aws_lambdas.runtime import logger
from shared.aws_contracts import (
    MANAGED_BY_TAG,
    MANAGED_BY_VALUE,
    SecurityGroupNotFoundError,
    holders_of,
    rule_holder_tag,
)

REPLICATION_PORTS = (443, 9443)


def shared_rule_description(source_group_id: str) -> str:
    return f"ec2-to-azure replication, shared: holders tagged on {source_group_id}"


def acquire(ec2: Ec2Port, *, holder: str, appliance_group_id: str, source_group_id: str) -> None:
    """Record ``holder`` on the source group before its rules are added or adopted (see the module)."""
    ec2.tag_security_group(source_group_id, {rule_holder_tag(holder): appliance_group_id})


def _is_managed_shared(rule: IngressRule, source_group_id: str) -> bool:
    return (
        rule.source_group_id == source_group_id
        and not rule.cidr
        and rule.protocol == "tcp"
        and rule.from_port == rule.to_port
        and rule.from_port in REPLICATION_PORTS
        and rule.tags.get(MANAGED_BY_TAG) == MANAGED_BY_VALUE
    )


@dataclass
class Released:
    removed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)


def _holders(ec2: Ec2Port, source_group_id: str, appliance_group_id: str) -> list[str]:
    tags = ec2.security_group_tags([source_group_id]).get(source_group_id, {})
    return holders_of(tags, appliance_group_id)


def _shared_rules(ec2: Ec2Port, appliance_group_id: str, source_group_id: str) -> list[IngressRule]:
    try:
        return [r for r in ec2.ingress_rules(appliance_group_id) if _is_managed_shared(r, source_group_id)]
    except SecurityGroupNotFoundError:
        return []


def release(ec2: Ec2Port, holder: str) -> Released:
    """Release every shared rule ``holder`` holds in this region (see the module for the order and why)."""
    key = rule_holder_tag(holder)
    released = Released()
    for source_group_id, tags in sorted(ec2.security_group_tags(tag_key=key).items()):
        appliance_group_id = tags.get(key, "")
        try:
            ec2.untag_security_group(source_group_id, [key])
        except SecurityGroupNotFoundError:
            continue  # the source group is gone, and with it every rule that referenced it
        rules = _shared_rules(ec2, appliance_group_id, source_group_id)
        if _holders(ec2, source_group_id, appliance_group_id):
            released.held += [r.rule_id for r in rules]
            continue
        for rule in rules:
            if ec2.revoke_ingress_rule(appliance_group_id, rule.rule_id):
                released.removed.append(rule.rule_id)
        arrived = _holders(ec2, source_group_id, appliance_group_id)
        if arrived and rules:
            logger.warning(
                "a wave took hold of shared rules while they were revoked: restored",
                extra={"source_group_id": source_group_id, "holders": arrived},
            )
            for rule in rules:
                restored = ec2.authorize_ingress(
                    appliance_group_id,
                    port=rule.from_port,
                    source_group_id=source_group_id,
                    description=shared_rule_description(source_group_id),
                    tags=dict(rule.tags),
                )
                released.restored.append(restored or rule.rule_id)
    return released
