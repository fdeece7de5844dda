"""Listing orchestration instances through the Durable HTTP API, every page of it.

The extension answers an instance query one page at a time: ``OrchestrationStatusQueryCondition.PageSize`` is 100
unless the query says ``top``, and ``HttpApiHandler`` returns the next page's token in the ``x-ms-continuation-token``
response header, read back from the same request header. The Python SDK's ``get_status_by`` sends one request and
returns its page, so a wave of more than 100 running VMs would be seen only in part. The timers list here instead,
with the SDK's own query options on the client binding's base URL, following the token to the last page.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import aiohttp
import azure.durable_functions as df
from azure.durable_functions.models.RpcManagementOptions import RpcManagementOptions

from shared.errors import MigrationError

CONTINUATION_HEADER = "x-ms-continuation-token"
#: Instances per request (the extension's default page size, said explicitly).
PAGE_SIZE = 100


async def list_instances(
    client: Any,
    *,
    statuses: Sequence[df.OrchestrationRuntimeStatus],
    prefix: str | None = None,
    show_input: bool = True,
) -> list[dict[str, Any]]:
    """Every instance matching the query, as the HTTP API's JSON (``instanceId``, ``customStatus``, ``input``…)."""
    base_url = client._orchestration_bindings.rpc_base_url
    url = RpcManagementOptions(runtime_status=list(statuses), instance_id_prefix=prefix).to_url(base_url)
    url += f"{'&' if '?' in url else '?'}top={PAGE_SIZE}{'' if show_input else '&showInput=false'}"
    found: list[dict[str, Any]] = []
    token: str | None = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=240)) as session:
        while True:
            headers = {CONTINUATION_HEADER: token} if token else {}
            async with session.get(url, headers=headers) as response:
                body = await response.json(content_type=None) if response.status == HTTPStatus.OK else None
                if not isinstance(body, list):
                    raise MigrationError(f"listing the orchestration instances answered {response.status}")
                found.extend(item for item in body if isinstance(item, dict))
                token = response.headers.get(CONTINUATION_HEADER) or None
            if not token:
                return found
