"""A health sweep reads the vault's protected items one page per request, not one request per item."""

from __future__ import annotations

import time

from functions.gateways.site_recovery import AzureSiteRecoveryGateway
from local.site_recovery import Operation, SiteRecoveryEmulator
from shared.site_recovery import ProtectedItemsPageRequest, ProtectedItemSummary, VaultRef
from tests.site_recovery.conftest import DISKS


def test_sweep_over_1000_items_makes_one_request_per_page(
    gateway: AzureSiteRecoveryGateway, emulator: SiteRecoveryEmulator, vault: VaultRef
) -> None:
    for index in range(1000):
        name = f"vm{index:04d}"
        emulator.register_machine(name, f"10.1.{index // 250}.{index % 250}", f"bios-{index:04d}", "linux", disks=DISKS)
        emulator.seed_protected_item(name)
    emulator.clock.sleep(8 * 3600)
    emulator.stall_replication("vm0007")
    emulator.clock.sleep(3600)
    emulator.clear_requests()

    started = time.perf_counter()
    items: list[ProtectedItemSummary] = []
    token: str | None = None
    pages = 0
    while True:
        page = gateway.list_protected_items_page(ProtectedItemsPageRequest(vault=vault, continuation_token=token))
        pages += 1
        items.extend(page.items)
        token = page.continuation_token
        if token is None:
            break
    elapsed = time.perf_counter() - started

    page_size = emulator.estate.page_size
    assert len(items) == 1000 and len({i.item.item_name for i in items}) == 1000
    assert pages == 1000 // page_size
    assert emulator.count_requests() == pages
    assert emulator.count_requests(operation=Operation.LIST_VAULT_ITEMS) == pages
    assert all(i.unknown_values == () for i in items)
    stalled = [i for i in items if i.replication_health == "Critical"]
    assert [i.friendly_name for i in stalled] == ["vm0007"]
    assert stalled[0].rpo_seconds is not None and stalled[0].rpo_seconds >= 3600
    assert elapsed < 10
