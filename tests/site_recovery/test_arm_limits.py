"""ARM's subscription throttling on the wire: token buckets per subscription, principal and operation kind, shared
by the Site Recovery (and Compute) emulator and the ARM resources emulator, on the virtual clock, seen through the
real azure-core pipelines (Microsoft, "Understand how Azure Resource Manager throttles requests")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from functions.gateways.azure_resources import ArmResourceReader
from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.arm_limits import ArmLimits, ArmRateLimiter, BucketLimit
from local.azure_resources import AzureEstate, AzureFaults, AzureResourcesEmulator, build_emulated_arm_client
from local.clock import VirtualClock
from local.site_recovery import SiteRecoveryEmulator, build_emulated_client
from shared.errors import TransientError
from shared.site_recovery import DiscoverTopologySpec, VaultRef

from .conftest import APPLIANCE

SMALL = ArmLimits(
    reads=BucketLimit(size=5, refill_per_second=1),
    writes=BucketLimit(size=3, refill_per_second=0.5),
    deletes=BucketLimit(size=2, refill_per_second=0.5),
)
READS = "x-ms-ratelimit-remaining-subscription-reads"


def _vault_path(emulator: SiteRecoveryEmulator, rest: str = "/replicationFabrics") -> str:
    e = emulator.estate
    return f"{emulator.vault_id}{rest}?api-version={e.api_version}"


def _both(clock: VirtualClock, limits: ArmLimits = SMALL) -> tuple[SiteRecoveryEmulator, AzureResourcesEmulator]:
    shared = ArmRateLimiter(clock, limits)
    return (
        SiteRecoveryEmulator(clock=clock, arm_limits=shared),
        AzureResourcesEmulator(clock=clock, arm_limits=shared),
    )


def test_the_default_buckets_are_microsofts_figures() -> None:
    limits = ArmLimits()
    assert (limits.reads.size, limits.reads.refill_per_second) == (250, 25)
    assert (limits.writes.size, limits.writes.refill_per_second) == (200, 10)
    assert (limits.deletes.size, limits.deletes.refill_per_second) == (200, 10)


def test_a_read_burst_empties_the_bucket_then_429_with_retry_after_and_arms_body() -> None:
    clock = VirtualClock()
    emulator, _ = _both(clock)
    client = build_emulated_client(emulator, retry_total=0)
    remaining = []
    for _ in range(5):
        response = client.send_request(HttpRequest("GET", _vault_path(emulator)))
        assert response.status_code == 200
        remaining.append(response.headers[READS])
    assert remaining == ["4", "3", "2", "1", "0"]
    refused = client.send_request(HttpRequest("GET", _vault_path(emulator)))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert READS not in refused.headers
    error = refused.json()["error"]
    assert error["code"] == "SubscriptionRequestsThrottled"
    assert f"Number of 'read' requests for subscription '{emulator.estate.subscription_id}'" in error["message"]
    assert "https://aka.ms/arm-throttling" in error["message"]
    # a refused request takes no token: one second of refill lets exactly one more read through
    clock.advance(1)
    assert client.send_request(HttpRequest("GET", _vault_path(emulator))).headers[READS] == "0"
    assert client.send_request(HttpRequest("GET", _vault_path(emulator))).status_code == 429
    clock.advance(60)  # refilled to the bucket's size, no further
    assert client.send_request(HttpRequest("GET", _vault_path(emulator))).headers[READS] == "4"


def test_the_typed_sdk_call_sees_the_throttle_as_an_http_error_when_it_may_not_retry() -> None:
    clock = VirtualClock()
    emulator, _ = _both(clock)
    client = build_emulated_client(emulator, retry_total=0)
    e = emulator.estate
    for _ in range(5):
        client.replication_fabrics.list(e.resource_group, e.vault_name).__next__()
    with pytest.raises(HttpResponseError) as raised:
        client.replication_fabrics.get(e.resource_group, e.vault_name, e.fabrics[0].name)
    assert raised.value.status_code == 429
    assert raised.value.error is not None and raised.value.error.code == "SubscriptionRequestsThrottled"


def test_the_sdk_retry_policy_sleeps_retry_after_on_the_virtual_clock_and_gets_through() -> None:
    clock = VirtualClock()
    emulator, _ = _both(clock)
    client = build_emulated_client(emulator)  # the SDK's default retries
    e = emulator.estate
    started = clock.now()
    for _ in range(8):
        client.replication_fabrics.get(e.resource_group, e.vault_name, e.fabrics[0].name)
    counts = emulator.arm_limits.counts()["reads"]
    assert counts.throttled >= 3
    assert counts.requests == 8 + counts.throttled
    assert clock.now() - started >= timedelta(seconds=3)  # only sleeping on Retry-After moved the clock


def test_writes_and_deletes_have_their_own_buckets_and_headers() -> None:
    clock = VirtualClock()
    emulator, _ = _both(clock)
    client = build_emulated_client(emulator, retry_total=0)
    item = _vault_path(emulator, "/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/x")
    writes = [client.send_request(HttpRequest("PATCH", item, json={})) for _ in range(4)]
    assert [w.headers.get("x-ms-ratelimit-remaining-subscription-writes") for w in writes[:3]] == ["2", "1", "0"]
    assert writes[3].status_code == 429 and writes[3].headers["Retry-After"] == "2"  # 0.5 token a second
    deletes = [client.send_request(HttpRequest("DELETE", item)) for _ in range(3)]
    assert [d.headers.get("x-ms-ratelimit-remaining-subscription-deletes") for d in deletes[:2]] == ["1", "0"]
    assert deletes[2].status_code == 429
    read = client.send_request(HttpRequest("GET", _vault_path(emulator)))
    assert read.status_code == 200 and read.headers[READS] == "4"
    counts = emulator.arm_limits.counts()
    assert (counts["writes"].requests, counts["writes"].throttled) == (4, 1)
    assert (counts["deletes"].requests, counts["deletes"].throttled) == (3, 1)
    assert (counts["reads"].requests, counts["reads"].throttled) == (1, 0)


def test_one_limiter_for_both_emulators_same_subscription_same_principal() -> None:
    clock = VirtualClock()
    site_recovery, arm = _both(clock)
    arm.add_resource_group(f"/subscriptions/{site_recovery.estate.subscription_id}/resourceGroups/rg-x")
    arm_client = build_emulated_arm_client(arm, retry_total=0)
    group = f"/subscriptions/{site_recovery.estate.subscription_id}/resourceGroups/rg-x?api-version=2021-04-01"
    answers = [arm_client.send_request(HttpRequest("GET", arm_client.format_url(group))) for _ in range(5)]
    assert [a.headers[READS] for a in answers] == ["4", "3", "2", "1", "0"]
    vault = build_emulated_client(site_recovery, retry_total=0).send_request(
        HttpRequest("GET", _vault_path(site_recovery))
    )
    assert vault.status_code == 429  # the ARM emulator's reads emptied the vault's bucket too
    # another subscription has its own bucket
    other = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-y?api-version=2021-04-01"
    assert arm_client.send_request(HttpRequest("GET", arm_client.format_url(other))).headers[READS] == "4"
    assert site_recovery.arm_limits.counts()["reads"].throttled == 1


def test_the_readiness_gateway_waits_retry_after_and_a_refusal_it_may_not_retry_is_transient() -> None:
    clock = VirtualClock()
    _, arm = _both(clock, ArmLimits(reads=BucketLimit(size=1, refill_per_second=0.01)))
    arm.add_resource_group("/subscriptions/s/resourceGroups/rg")
    params = {"api-version": "2021-04-01"}
    patient = ArmResourceReader(build_emulated_arm_client(arm))  # the gateway's own retries (3)
    assert patient._get("/subscriptions/s/resourceGroups/rg", params, "rg")[0] == 403  # past the front door
    started = clock.now()
    assert patient._get("/subscriptions/s/resourceGroups/rg", params, "rg")[0] == 403  # past the front door
    assert clock.now() - started == timedelta(seconds=100)  # Retry-After: one token at 0.01 a second
    impatient = ArmResourceReader(build_emulated_arm_client(arm, retry_total=0))
    with pytest.raises(TransientError) as raised:
        impatient._get("/subscriptions/s/resourceGroups/rg", params, "rg")
    assert "SubscriptionRequestsThrottled" in str(raised.value)
    assert arm.arm_limits.counts()["reads"].throttled == 2


def test_the_planted_throttle_faults_still_answer_after_the_front_door() -> None:
    clock = VirtualClock()
    shared = ArmRateLimiter(clock)
    arm = AzureResourcesEmulator(AzureEstate(faults=AzureFaults(throttled_requests=1)), clock=clock, arm_limits=shared)
    arm.add_resource_group("/subscriptions/s/resourceGroups/rg")
    client = build_emulated_arm_client(arm, retry_total=0)
    first = client.send_request(HttpRequest("GET", client.format_url("/subscriptions/s/resourceGroups/rg")))
    assert first.status_code == 429 and first.json()["error"]["code"] == "TooManyRequests"
    assert first.headers[READS] == "249"  # ARM let it through; the provider refused it
    assert shared.counts()["reads"].throttled == 0


def test_the_site_recovery_gateway_types_a_throttle_it_may_not_retry_as_transient() -> None:
    clock = VirtualClock()
    emulator, _ = _both(clock, ArmLimits(reads=BucketLimit(size=1, refill_per_second=1)))
    e = emulator.estate
    vault = VaultRef(subscription_id=e.subscription_id, resource_group=e.resource_group, vault_name=e.vault_name)
    gateway = AzureSiteRecoveryGateway(build_emulated_client(emulator, retry_total=0))
    with pytest.raises(TransientError) as raised:
        gateway.discover_topology(DiscoverTopologySpec(vault=vault, appliance=APPLIANCE))
    assert raised.value.code == "SubscriptionRequestsThrottled"
