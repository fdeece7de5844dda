"""Shared rules: security group rules that serve every VM whose first security group is the same source group.

* the appliance's 443/9443 rules whose source is a security group (``rule_source: security_group``), on the
  appliance's group;
* the discovery rules (22 Linux / 5985 Windows from the discovery appliance's IP, ``appliance.discovery_ip``), on
  the *source group itself*. They are shared whatever the rule source: ``rule_source`` only says what the
  appliance's rules allow, while the discovery rule always lands on the source's first group, and every VM in that
  group (in any wave) reaches the discovery appliance through that one rule.

Every VM whose first group is ``sg-src`` uses the same rules, whichever wave it belongs to, so no VM's ledger may
own them. They are held per wave instead, and the holders are recorded where they outlive the rules: as tags on
the *source group*, one key per wave (:func:`rule_holder_tag`), whose value names the wave's appliance group.
Tag keys are independent, so two waves adding and removing their own keys never overwrite each other. The
replication rules on an appliance group are held by the holders naming that appliance group; the source group's
discovery rules by any holder of the source group (whichever appliance it names).

* acquire (prepare_network, for each VM): tag the source group with the wave's key first, then add the rules
  (an ``InvalidPermission.Duplicate`` answer means they are already there: adopted, not an error);
* release (revert_changes with ``release_holder``, once per wave at its end): remove the wave's key; for each
  kind of rule, if none of its holders is left, revoke the managed rules; then read the holders again: a wave
  that tagged the group between our read and our revoke may have found the rules present (a duplicate) just
  before we removed them, so its rules are restored. Rules not marked managed-by (someone else's, there before
  the pipeline) are never revoked.

A VM that fails or is cancelled never touches the shared rules (its ledger marks them with the holder); a wave
that ends without releasing (its orchestration terminated) leaves its key, so the rules stay rather than vanish
under a running VM: the tag says which wave to clean up after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambdas.gateways.ports import Ec2Port, IngressRule
from aws_lambdas.runtime import logger
from shared.aws_contracts import (
    MANAGED_BY_TAG,
    MANAGED_BY_VALUE,
    RulePurpose,
    SecurityGroupNotFoundError,
    holders_of,
    rule_holder_tag,
)
from shared.facts import Platform

REPLICATION_PORTS = (443, 9443)
DISCOVERY_PORTS = {Platform.LINUX: 22, Platform.WINDOWS: 5985}


def shared_rule_description(purpose: RulePurpose, source_group_id: str) -> str:
    return f"ec2-to-azure {purpose.value}, shared: holders tagged on {source_group_id}"


def acquire(ec2: Ec2Port, *, holder: str, appliance_group_id: str, source_group_id: str) -> None:
    """Record ``holder`` on the source group before its rules are added or adopted (see the module)."""
    ec2.tag_security_group(source_group_id, {rule_holder_tag(holder): appliance_group_id})


def _is_managed(rule: IngressRule) -> bool:
    return (
        rule.protocol == "tcp" and rule.from_port == rule.to_port and rule.tags.get(MANAGED_BY_TAG) == MANAGED_BY_VALUE
    )


def _is_managed_replication(rule: IngressRule, source_group_id: str) -> bool:
    """A replication rule the pipeline added on the appliance group from ``source_group_id``."""
    return (
        _is_managed(rule)
        and rule.source_group_id == source_group_id
        and not rule.cidr
        and rule.from_port in REPLICATION_PORTS
    )


def _is_managed_discovery(rule: IngressRule) -> bool:
    """A discovery rule the pipeline added on a source group (from a /32: the discovery appliance's IP)."""
    return (
        _is_managed(rule)
        and rule.cidr.endswith("/32")
        and not rule.source_group_id
        and rule.from_port in DISCOVERY_PORTS.values()
    )


@dataclass
class Released:
    removed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)


def _holder_tags(ec2: Ec2Port, source_group_id: str) -> dict[str, str]:
    return ec2.security_group_tags([source_group_id]).get(source_group_id, {})


@dataclass(frozen=True)
class _Held:
    """One kind of shared rule of a source group: where the rules are, which holders hold them, the rules."""

    purpose: RulePurpose
    group_id: str
    held_for: str | None  # the appliance group the holders name; None: every holder of the source group
    rules: list[IngressRule]


def _managed_rules(ec2: Ec2Port, group_id: str, keep: Callable[[IngressRule], bool]) -> list[IngressRule]:
    try:
        return [r for r in ec2.ingress_rules(group_id) if keep(r)]
    except SecurityGroupNotFoundError:
        return []


def _held_rules(ec2: Ec2Port, appliance_group_id: str, source_group_id: str) -> list[_Held]:
    return [
        _Held(
            RulePurpose.REPLICATION,
            appliance_group_id,
            appliance_group_id,
            _managed_rules(ec2, appliance_group_id, lambda r: _is_managed_replication(r, source_group_id)),
        ),
        _Held(
            RulePurpose.DISCOVERY, source_group_id, None, _managed_rules(ec2, source_group_id, _is_managed_discovery)
        ),
    ]


def release(ec2: Ec2Port, holder: str) -> Released:
    """Release every shared rule ``holder`` holds in this region (see the module for the order and why)."""
    key = rule_holder_tag(holder)
    released = Released()
    for source_group_id, tags in sorted(ec2.security_group_tags(tag_key=key).items()):
        appliance_group_id = tags.get(key, "")
        try:
            ec2.untag_security_group(source_group_id, [key])
        except SecurityGroupNotFoundError:
            continue  # the source group is gone, and with it every rule on it or that referenced it
        shared = _held_rules(ec2, appliance_group_id, source_group_id)
        remaining = _holder_tags(ec2, source_group_id)
        revoked: list[_Held] = []
        for held in shared:
            if holders_of(remaining, held.held_for):
                released.held += [r.rule_id for r in held.rules]
                continue
            for rule in held.rules:
                if ec2.revoke_ingress_rule(held.group_id, rule.rule_id):
                    released.removed.append(rule.rule_id)
            if held.rules:
                revoked.append(held)
        if not revoked:
            continue
        arrived = _holder_tags(ec2, source_group_id)
        for held in revoked:
            holders = holders_of(arrived, held.held_for)
            if not holders:
                continue
            logger.warning(
                "a wave took hold of shared rules while they were revoked: restored",
                extra={"source_group_id": source_group_id, "purpose": held.purpose.value, "holders": holders},
            )
            for rule in held.rules:
                restored = ec2.authorize_ingress(
                    held.group_id,
                    port=rule.from_port,
                    cidr=rule.cidr,
                    source_group_id=rule.source_group_id,
                    description=shared_rule_description(held.purpose, source_group_id),
                    tags=dict(rule.tags),
                )
                released.restored.append(restored or rule.rule_id)
    return released
