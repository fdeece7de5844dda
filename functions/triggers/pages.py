"""Reading a vault's protected items page by page, shared by the health sweep and the replication watch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from shared import site_recovery as sr


async def protected_items(gateway: Any, vault: sr.VaultRef, counts: dict[str, int]) -> AsyncIterator[Any]:
    """Every protected item of ``vault``, one Site Recovery request per page (counted in ``counts["pages"]``); the
    blocking SDK call runs off the event loop."""
    token: str | None = None
    while True:
        page = await asyncio.to_thread(
            gateway.list_protected_items_page, sr.ProtectedItemsPageRequest(vault=vault, continuation_token=token)
        )
        counts["pages"] += 1
        for item in page.items:
            yield item
        token = page.continuation_token
        if not token:
            return
