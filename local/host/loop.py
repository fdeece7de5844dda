"""The one event loop (in its own thread) that runs the client API server and every ``async def`` function.

The Durable SDK keeps one module-wide aiohttp session bound to the loop that created it, so every host in the
process shares this loop; it is started on first use and lives as long as the process (a daemon thread).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def shared_loop() -> asyncio.AbstractEventLoop:
    """The process-wide loop, started on first use."""
    global _loop  # noqa: PLW0603
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="local-host-loop", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


def run_on_loop(coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the shared loop and wait for its result (never call from the loop thread)."""
    loop = shared_loop()
    if threading.current_thread().name == "local-host-loop":
        raise RuntimeError("run_on_loop called from the loop thread; await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)


def close_sdk_session(timeout: float = 5.0) -> None:
    """Close the Durable SDK's module-wide aiohttp session on the shared loop (no "Unclosed client session").

    A process that used a local host calls this once before it exits; the SDK opens a new session if used again.
    """
    if _loop is None or _loop.is_closed():
        return
    from azure.durable_functions.models.utils import http_utils  # noqa: PLC0415 - the SDK's own closer

    run_on_loop(http_utils._close_session(), timeout)  # the SDK offers no public close
