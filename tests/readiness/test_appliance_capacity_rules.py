"""The appliance's remaining capacity (pure): at most 200 protected machines per replication appliance (Microsoft's
appliance support matrix), read from the fabric's ``protectedItemCount``; the wave's effective parallelism and the
readiness gap of a full appliance."""

from __future__ import annotations

from shared.appliance_capacity import APPLIANCE_MAX_PROTECTED, ParallelLimit, effective_parallelism
from shared.azure_migrate import ProcessServer
from shared.readiness import GapKind
from shared.site_recovery_gaps import site_recovery_findings

from .test_site_recovery_rules import APPLIANCE, FABRIC, VAULT, _facts


def _counted(count: int | None, health: str = "Normal") -> ProcessServer:
    return ProcessServer(
        id="ps-1", name="aws-appliance", ip_addresses=("10.0.1.4",), health=health, protected_item_count=count
    )


def test_effective_parallelism_is_the_smaller_of_max_parallel_and_the_room_left() -> None:
    assert APPLIANCE_MAX_PROTECTED == 200
    capped = effective_parallelism(10, [198])
    assert (capped.value, capped.limited_by) == (2, ParallelLimit.APPLIANCE_CAPACITY)
    assert (capped.max_parallel, capped.appliance_protected, capped.appliance_limit) == (10, 198, 200)
    assert effective_parallelism(10, [190]).limited_by is ParallelLimit.MAX_PARALLEL  # exactly 10 left
    assert effective_parallelism(10, [191]).value == 9
    assert effective_parallelism(3, [100]).value == 3
    assert effective_parallelism(10, [150, 195]).value == 5  # the fullest vault's count binds
    unknown = effective_parallelism(10, [None])
    assert (unknown.value, unknown.limited_by, unknown.appliance_protected) == (10, ParallelLimit.MAX_PARALLEL, None)
    assert effective_parallelism(10, []).value == 10


def test_a_full_appliance_is_a_readiness_gap_naming_it_the_limit_and_the_count() -> None:
    findings = site_recovery_findings(_facts(process_servers=(_counted(200),)), vault_id=VAULT, appliance=APPLIANCE)
    assert len(findings.gaps) == 1
    gap = findings.gaps[0]
    assert gap.kind is GapKind.APPLIANCE and gap.resource_id == FABRIC
    assert "10.0.1.4" in gap.what
    assert "already protects 200 machines" in gap.why and "at most 200" in gap.why
    assert "add a replication appliance" in gap.fix


def test_room_for_one_more_or_no_count_is_no_gap_and_an_unhealthy_full_appliance_has_one_gap() -> None:
    for count in (199, 0, None):
        facts = _facts(process_servers=(_counted(count),))
        assert site_recovery_findings(facts, vault_id=VAULT, appliance=APPLIANCE).gaps == (), count
    unhealthy = _facts(process_servers=(_counted(250, "Critical"),))
    gaps = site_recovery_findings(unhealthy, vault_id=VAULT, appliance=APPLIANCE).gaps
    assert len(gaps) == 1 and "not healthy" in gaps[0].why
