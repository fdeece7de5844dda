"""EC2's API request rate limits in the emulated AWS (local/aws/ec2_throttle.py), on the wire through boto3 against
moto's server: AWS's buckets, refilled on the pipeline's virtual clock, EC2's throttled answer, the counts, and a
Lambda throttled past botocore's retries failing with the transient type (without sleeping for real)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker
from pydantic import ValidationError

from local.aws import Estate, InstanceSpec, LocalLambdaRuntime, seed_estate, start_moto_server
from local.aws.ec2_throttle import BACKOFF_HEADER, TokenBucket, throttle_counts
from local.aws.estate import Ec2RateLimit
from local.aws.guest_bridge import GuestAgentServer
from local.aws.iam import lambda_role_credentials
from local.aws.seed import aws_client
from local.aws.server import MotoServer
from local.clock import VirtualClock
from local.scenario import Scenario
from local.wiring import _moto_server
from shared.aws_contracts import ThrottlingError, error_from_lambda_payload
from shared.errors import TransientError

REGION = "eu-west-1"
#: AWS's documented message for RequestLimitExceeded ("Error codes for the Amazon EC2 API").
MESSAGE = (
    "The maximum request rate permitted by the Amazon EC2 APIs has been exceeded for your account. For best "
    "results, use an increasing or variable sleep interval between requests. For more information, see Query API "
    "request rate."
)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def server(clock: VirtualClock) -> Iterator[MotoServer]:
    """moto's server with AWS's own figures, its buckets on the virtual clock (the parent's, over the bridge)."""
    agent = GuestAgentServer(now=clock.now)
    with agent.serving(), start_moto_server(guest_agent_url=agent.url) as moto:
        yield moto


def _caller(server: MotoServer, attempts: int = 1, key: str = "pipeline-caller") -> Any:
    """A caller that is not the estate's operator (whose seeding is not throttled)."""
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def _throttled(call: Any) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


def test_aws_buckets_burst_then_refill_on_the_virtual_clock(server: MotoServer, clock: VirtualClock) -> None:
    ec2 = _caller(server)
    vpc = aws_client("ec2", REGION, server.endpoint_url).create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]

    def tag() -> Any:
        return ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k", "Value": "v"}])

    for _ in range(100):  # CreateTags: a bucket of 100 ...
        tag()
    error = _throttled(tag)
    assert error.response["Error"] == {"Code": "RequestLimitExceeded", "Message": MESSAGE}
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # botocore's standard retry mode takes it for throttling (and so retries it with the throttling backoff)
    assert ThrottledRetryableChecker().is_retryable(RetryContext(attempt_number=1, parsed_response=error.response))

    time.sleep(1.2)  # real time refills nothing: the buckets run on the pipeline's clock
    _throttled(tag)
    clock.advance(0.5)  # ... refilled with 10 tokens every second, not continuously
    _throttled(tag)
    clock.advance(0.5)
    for _ in range(10):
        tag()
    _throttled(tag)
    clock.advance(3600)  # never more than the bucket holds
    for _ in range(100):
        tag()
    _throttled(tag)

    # DescribeInstances without a filter or pagination draws from its own, smaller bucket (50, refill 10) ...
    for _ in range(50):
        ec2.describe_instances()
    _throttled(ec2.describe_instances)
    # ... with a filter, from the non-mutating one (100, refill 20): not emptied by the unfiltered calls
    ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    clock.advance(1)  # 10 tokens a second
    for _ in range(10):
        ec2.describe_instances()
    _throttled(ec2.describe_instances)

    counts = throttle_counts(server.endpoint_url)
    assert counts["CreateTags"] == {"requests": 215, "throttled": 5}
    assert counts["DescribeInstances.Unfiltered"] == {"requests": 62, "throttled": 2}
    assert counts["DescribeInstances"] == {"requests": 1, "throttled": 0}


def test_security_group_rule_changes_share_nothing_and_hold_50_at_5_per_second(
    server: MotoServer, clock: VirtualClock
) -> None:
    """Each API has its own bucket (AWS evaluates them one by one); the account's buckets are shared by its callers;
    the estate's operator (seeding) is not throttled."""
    operator = aws_client("ec2", REGION, server.endpoint_url)
    vpc = operator.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    group = operator.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
    first, second = _caller(server, key="lambda-a"), _caller(server, key="lambda-b")

    def allow(ec2: Any, n: int) -> Any:
        permission = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": f"10.6.{n}.1/32"}]}
        return ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])

    for n in range(25):
        allow(first, n)
        allow(second, 100 + n)
    _throttled(lambda: allow(first, 200))
    rule = operator.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    ingress = [r["SecurityGroupRuleId"] for r in rule["SecurityGroupRules"] if not r["IsEgress"]]
    second.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=ingress[:1])  # its own bucket
    for n in range(3):
        allow(operator, 230 + n)  # not throttled
    clock.advance(1)  # 5 tokens a second
    for n in range(5):
        allow(first if n % 2 else second, 201 + n)
    _throttled(lambda: allow(second, 210))
    assert throttle_counts(server.endpoint_url)["AuthorizeSecurityGroupIngress"] == {"requests": 57, "throttled": 2}


def test_a_caller_backoff_refills_what_aws_would_during_the_sleep(server: MotoServer) -> None:
    """A request stamped with the SDK's (virtual) backoff meets the bucket as it would be after the sleep, and the
    bucket's time then never runs backwards for the next caller."""
    ec2 = _caller(server)
    backoff = {"seconds": "0"}
    ec2.meta.events.register(
        "before-send.ec2", lambda request, **_: request.headers.update({BACKOFF_HEADER: backoff["seconds"]})
    )
    for _ in range(50):
        ec2.describe_instances()
    _throttled(ec2.describe_instances)
    backoff["seconds"] = "1"  # 10 tokens a second
    for _ in range(10):
        ec2.describe_instances()
    _throttled(ec2.describe_instances)
    _throttled(ec2.describe_instances)  # the same second again: refilled once, not twice
    backoff["seconds"] = "0"  # the clock itself has not moved: nothing for a caller that did not wait
    _throttled(ec2.describe_instances)

    bucket = TokenBucket(capacity=2, refill=1)
    assert bucket.take(10.0) and bucket.take(10.0) and not bucket.take(10.0)
    assert not bucket.take(10.5) and bucket.take(11.0) and not bucket.take(11.5) and not bucket.take(10.0)
    assert bucket.take(15.0) and bucket.take(15.0) and not bucket.take(15.0)  # never more than it holds


def test_a_lambda_throttled_past_its_retries_fails_transient_without_sleeping(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = Estate(instances=[InstanceSpec(name="web-1")])
    agent = GuestAgentServer(now=clock.now)
    limits = {"AuthorizeSecurityGroupIngress": (2.0, 0.01), "DescribeInstances": (1.0, 10.0)}
    with agent.serving(), start_moto_server(guest_agent_url=agent.url, ec2_rate_limits=limits) as server:
        seeded = seed_estate(estate, server.endpoint_url)
        roles = lambda_role_credentials(server.endpoint_url, estate.region)
        runtime = LocalLambdaRuntime(server.endpoint_url, seeded.lambda_environment(), credentials=roles)
        ec2 = _caller(server)
        other = ec2.create_security_group(GroupName="other", Description="o", VpcId=seeded.vpc_id)["GroupId"]
        for n in range(2):  # another caller of the account empties the bucket
            permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": f"10.0.9.{n}/32"}]}
            ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[permission])
        slept: list[float] = []
        monkeypatch.setattr(time, "sleep", slept.append)
        event = {
            "migration_id": "vm-throttled",
            "instance_ids": [seeded.instances["web-1"].instance_id],
            "appliance_security_group_id": seeded.appliance.security_group_id,
        }
        try:
            payload = runtime.invoke("prepare_network", event)
            assert payload.get("errorType") == "ThrottlingError", payload
            error = error_from_lambda_payload(payload)
            assert isinstance(error, ThrottlingError) and isinstance(error, TransientError)
            assert error.code == "RequestLimitExceeded"
            assert not [s for s in slept if s > 0], "botocore slept for real between retries"
            counts = throttle_counts(server.endpoint_url)["AuthorizeSecurityGroupIngress"]
            assert counts == {"requests": 2 + 5, "throttled": 5}  # botocore's 5 attempts, all throttled

            clock.advance(300)  # the orchestrator's retry waits on a durable timer; the bucket refills meanwhile
            filtered = [{"Name": "instance-id", "Values": [seeded.instances["web-1"].instance_id]}]
            ec2.describe_instances(Filters=filtered)  # empties the lookup's bucket (1, refilled 10 a second)
            random.seed(20261207)  # botocore's jitter (ExponentialBackoff draws from random.random): repeatable
            result = runtime.invoke("prepare_network", event)
            # the lookup was throttled, and its retry, after botocore's (virtual) backoff of a second or more, met
            # the bucket refilled: the clock did not move, the invocation's own backoff did
            assert "errorType" not in result, result
            assert len(result["created"]) == 2
            assert throttle_counts(server.endpoint_url)["DescribeInstances"]["throttled"] >= 1
            assert not [s for s in slept if s > 0]
        finally:
            runtime.close()


def test_the_limits_are_configured_by_bucket_name_only() -> None:
    estate = Estate(ec2_rate_limits={"CreateTags": {"capacity": 2, "refill_per_second": 1}})
    assert estate.ec2_rate_limits["CreateTags"].capacity == 2
    with pytest.raises(ValidationError, match="no EC2 rate limit named CreateTag"):
        Estate(ec2_rate_limits={"CreateTag": {"capacity": 2, "refill_per_second": 1}})
    with pytest.raises(ValidationError):
        Estate(ec2_rate_limits={"CreateTags": {"capacity": 2, "refill_per_second": 0}})


def test_a_scenario_plants_its_buckets_in_the_stacks_moto_server(tmp_path: Path, clock: VirtualClock) -> None:
    scenario = Scenario(
        name="throttle",
        estate=Estate(ec2_rate_limits={"CreateTags": Ec2RateLimit(capacity=2, refill_per_second=1)}),
        request={},
    )
    agent = GuestAgentServer(now=clock.now)
    with agent.serving(), _moto_server(scenario, tmp_path, agent.url, None) as server:  # IAM enforced there
        iam = aws_client("iam", REGION, server.endpoint_url)
        iam.create_user(UserName="caller")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="caller", PolicyName="ec2", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="caller")["AccessKey"]
        ec2 = boto3.client(
            "ec2",
            region_name=REGION,
            endpoint_url=server.endpoint_url,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        vpc = aws_client("ec2", REGION, server.endpoint_url).create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
        for _ in range(2):
            ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k", "Value": "v"}])
        _throttled(lambda: ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k", "Value": "v"}]))
        for _ in range(50):  # the other buckets keep AWS's figures
            ec2.describe_instances()
        _throttled(ec2.describe_instances)
