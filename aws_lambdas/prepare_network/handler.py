"""Lambda ``prepare_network``: scoped, tagged security group rules for replication (and discovery).

* the appliance's group allows TCP 443 and 9443 from each source (its private IP /32 or its security group);
  rules from a security group are shared by every VM in that group, in any wave: the event's holder (the wave)
  is recorded on the source group first and the ledger marks the rules with it (:mod:`aws_lambdas.shared_rules`);
* with a discovery appliance, each source's group allows 22 (Linux) or 5985 (Windows) from that IP /32 only;
  that rule is on the source's own group whatever the rule source, so every VM in the group (in any wave) shares
  it: it is held by the event's holder too, never owned by one VM.

Rules that already exist are recorded as pre-existing and never touched by revert; rules this migration added
earlier (same migration id tag) are reported as created again, so a retry returns the same ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from aws_lambdas.gateways.ports import Ec2Port, IngressRule, InstanceDescription
from aws_lambdas.runtime import Invocation, lambda_function, logger, metrics
from aws_lambdas.shared_rules import DISCOVERY_PORTS, REPLICATION_PORTS, acquire, shared_rule_description
from shared.aws_contracts import (
    MANAGED_BY_TAG,
    MANAGED_BY_VALUE,
    MIGRATION_ID_TAG,
    InstanceNotFoundError,
    PrepareNetworkEvent,
    PrepareNetworkResult,
    RulePurpose,
    RuleSourceKind,
    SecurityGroupRuleChange,
)
from shared.errors import InvalidRequestError, TransientError


def _matches(rule: IngressRule, port: int, cidr: str, source_group_id: str) -> bool:
    return (
        rule.protocol == "tcp"
        and rule.from_port == port
        and rule.to_port == port
        and rule.cidr == cidr
        and rule.source_group_id == source_group_id
    )


@dataclass
class RuleEnsurer:
    ec2: Ec2Port
    migration_id: str
    created: list[SecurityGroupRuleChange] = field(default_factory=list)
    pre_existing: list[SecurityGroupRuleChange] = field(default_factory=list)
    _rules: dict[str, list[IngressRule]] = field(default_factory=dict)

    def rules(self, group_id: str, *, refresh: bool = False) -> list[IngressRule]:
        if refresh or group_id not in self._rules:
            self._rules[group_id] = self.ec2.ingress_rules(group_id)
        return self._rules[group_id]

    def ensure(
        self,
        group_id: str,
        *,
        port: int,
        instance_id: str,
        purpose: RulePurpose,
        cidr: str = "",
        source_group_id: str = "",
        holder: str | None = None,
    ) -> None:
        """Add the rule, or record the one already there. A shared rule (``holder``) already there is pre-existing
        only when the pipeline did not make it (no managed-by tag): one made for another VM or wave is shared.
        The holders of a shared rule are tagged on its source group: ``source_group_id`` for a replication rule
        from a group, else ``group_id`` (a discovery rule is on the source group itself)."""
        # Add first, list only on a duplicate: listing reads every rule of a group that holds two per VM in flight.
        known = self._rules.get(group_id, [])
        existing = next((r for r in known if _matches(r, port, cidr, source_group_id)), None)
        if existing is None:
            tags = {MIGRATION_ID_TAG: self.migration_id, MANAGED_BY_TAG: MANAGED_BY_VALUE}
            description = (
                shared_rule_description(purpose, source_group_id or group_id)
                if holder
                else f"ec2-to-azure {purpose.value} {self.migration_id}"
            )[:255]
            rule_id = self.ec2.authorize_ingress(
                group_id, port=port, cidr=cidr, source_group_id=source_group_id, description=description, tags=tags
            )
            if rule_id is not None:
                self._record(
                    group_id=group_id,
                    rule_id=rule_id,
                    port=port,
                    instance_id=instance_id,
                    purpose=purpose,
                    cidr=cidr,
                    source_group_id=source_group_id,
                    pre_existing=False,
                    holder=holder,
                )
                self._rules.setdefault(group_id, []).append(
                    IngressRule(
                        rule_id, group_id, "tcp", port, port, cidr=cidr, source_group_id=source_group_id, tags=tags
                    )
                )
                return
            # InvalidPermission.Duplicate: the rule is already there (AWS identifies a rule by protocol, ports and
            # source, never by its description), added before us or between our read and our write. Not an error:
            # read again to learn whose it is.
            existing = next(
                (r for r in self.rules(group_id, refresh=True) if _matches(r, port, cidr, source_group_id)), None
            )
            if existing is None:
                raise TransientError(
                    f"rule tcp/{port} reported duplicate but not listed yet", code="RuleNotVisible", resource=group_id
                )
        made_by = existing.tags.get(MIGRATION_ID_TAG)
        managed = existing.tags.get(MANAGED_BY_TAG) == MANAGED_BY_VALUE
        # A per-VM replication rule another migration made and left for the replication it kept: this request
        # adopts that replication, so it takes the rule over (and removes it when it ends).
        adopted = not holder and managed and purpose is RulePurpose.REPLICATION and made_by != self.migration_id
        ours = managed if holder else (made_by == self.migration_id or adopted)
        self._record(
            group_id=group_id,
            rule_id=existing.rule_id,
            port=port,
            instance_id=instance_id,
            purpose=purpose,
            cidr=cidr,
            source_group_id=source_group_id,
            pre_existing=not ours,
            holder=holder if ours else None,
            adopted_from=made_by if adopted else None,
        )

    def _record(
        self,
        *,
        group_id: str,
        rule_id: str,
        port: int,
        instance_id: str,
        purpose: RulePurpose,
        cidr: str,
        source_group_id: str,
        pre_existing: bool,
        holder: str | None = None,
        adopted_from: str | None = None,
    ) -> None:
        if any(c.rule_id == rule_id for c in (*self.created, *self.pre_existing)):
            return  # one rule can serve several sources (a shared security group)
        change = SecurityGroupRuleChange(
            group_id=group_id,
            rule_id=rule_id,
            port=port,
            cidr=cidr,
            source_group_id=source_group_id,
            instance_id=instance_id,
            purpose=purpose,
            pre_existing=pre_existing,
            holder=holder,
            adopted_from=adopted_from,
        )
        (self.pre_existing if pre_existing else self.created).append(change)


def _sources(event: PrepareNetworkEvent, invocation: Invocation) -> list[InstanceDescription]:
    described = invocation.gateways.ec2.describe_instances(event.instance_ids)
    missing = [i for i in event.instance_ids if i not in described or described[i].state == "terminated"]
    if missing:
        raise InstanceNotFoundError(f"instances not found: {', '.join(missing)}", resource=",".join(missing))
    return [described[i] for i in event.instance_ids]


def _first_group(source: InstanceDescription) -> str:
    if not source.security_group_ids:
        raise InvalidRequestError("instance has no security group", resource=source.instance_id)
    return source.security_group_ids[0]


@lambda_function("prepare_network", PrepareNetworkEvent)
def prepare_network(event: PrepareNetworkEvent, invocation: Invocation) -> PrepareNetworkResult:
    ec2 = invocation.gateways.ec2
    ensurer = RuleEnsurer(ec2, event.migration_id)
    appliance_group = event.appliance_security_group_id
    sources = _sources(event, invocation)
    # Shared rules (aws_lambdas.shared_rules): replication rules from a security group, and the discovery rules,
    # which land on the source's own group whatever the rule source (private_ip only scopes the appliance's rules).
    # The event's validation guarantees a holder for both.
    replication_holder = event.holder if event.source_kind is RuleSourceKind.SECURITY_GROUP else None
    discovery_holder = event.holder if event.discovery_appliance_ip else None
    if event.holder is not None and (replication_holder or discovery_holder):
        for group_id in dict.fromkeys(_first_group(source) for source in sources):  # the holder first, then the rules
            acquire(ec2, holder=event.holder, appliance_group_id=appliance_group, source_group_id=group_id)
    for source in sources:
        if event.source_kind is RuleSourceKind.PRIVATE_IP:
            if not source.private_ip:
                raise InvalidRequestError("instance has no private IP", resource=source.instance_id)
            scope = {"cidr": f"{source.private_ip}/32"}
        else:
            scope = {"source_group_id": _first_group(source)}
        for port in REPLICATION_PORTS:
            ensurer.ensure(
                appliance_group,
                port=port,
                instance_id=source.instance_id,
                purpose=RulePurpose.REPLICATION,
                holder=replication_holder,
                **scope,
            )
    if event.discovery_appliance_ip:
        for source in sources:
            ensurer.ensure(
                _first_group(source),
                port=DISCOVERY_PORTS[source.platform],
                instance_id=source.instance_id,
                purpose=RulePurpose.DISCOVERY,
                cidr=f"{event.discovery_appliance_ip}/32",
                holder=discovery_holder,
            )
    metrics.add_metric(name="RulesCreated", unit=MetricUnit.Count, value=len(ensurer.created))
    logger.info(
        "security group rules ensured",
        extra={
            "rules_created": [c.rule_id for c in ensurer.created],
            "rules_pre_existing": [c.rule_id for c in ensurer.pre_existing],
        },
    )
    return PrepareNetworkResult(created=ensurer.created, pre_existing=ensurer.pre_existing)


lambda_handler = prepare_network
