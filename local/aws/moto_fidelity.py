"""Where moto answers differently from AWS in ways the pipeline depends on, make it answer as AWS does.

* A security group rule is identified by its protocol, port range and source (AWS: "Security group rules",
  *Rule characteristics*); its description is not part of its identity. AWS refuses a second ingress rule that
  differs from an existing one only by its description with ``InvalidPermission.Duplicate``; moto compares a
  source group pair's whole dict, description included, and adds the rule a second time. Shared rules
  (``rule_source: security_group``) rely on that refusal: it is how a VM learns the rule is already there.

:func:`behave_as_aws` patches this process's moto: the moto server the local stack starts calls it
(local/aws/server.py), and so does every in-process (``mock_aws``) estate (:func:`local.aws.seed.seed_estate`
and the AWS tests' fixtures). Applied once per process.
"""

from __future__ import annotations

import functools
from typing import Any

#: Keys of a rule's source group pair that say *which* group it is (moto fills UserId / OwnerId in itself).
_IDENTITY_KEYS = ("GroupId", "GroupName", "UserId", "OwnerId", "VpcId", "VpcPeeringConnectionId")


def _pair(source_group: dict[str, Any]) -> dict[str, Any]:
    return {key: source_group[key] for key in _IDENTITY_KEYS if key in source_group}


def _same_rule(self: Any, other: Any) -> bool:
    """moto's ``SecurityGroupRule.__eq__`` with a source group compared without its description."""
    if self.ip_protocol != other.ip_protocol:
        return False
    for key in ("CidrIp", "CidrIpv6"):
        if key in self.ip_range and self.ip_range.get(key) != other.ip_range.get(key):
            return False
    if _pair(self.source_group) != _pair(other.source_group):
        return False
    if self.prefix_list_id != other.prefix_list_id:
        return False
    return bool(self.ip_protocol == "-1" or (self.from_port == other.from_port and self.to_port == other.to_port))


@functools.cache
def behave_as_aws() -> None:
    """Patch moto's EC2 to refuse a rule that differs from an existing one only by its description."""
    from moto.ec2.models.security_groups import SecurityGroupRule  # noqa: PLC0415 - moto only where emulated

    SecurityGroupRule.__eq__ = _same_rule  # type: ignore[method-assign]
