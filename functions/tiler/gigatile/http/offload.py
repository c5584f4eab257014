"""Run blocking endpoints on gigatile's own long-lived thread pool.

FastAPI runs a plain `def` endpoint through anyio's worker threads, which belong to the
task that runs the event loop. Mangum runs every Lambda invocation as a new task, so
anyio started (and stopped) a new thread for every request: ~1 ms of a 3 ms warm tile.
These threads live as long as the process, and uvicorn keeps its concurrency.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor

_POOL = ThreadPoolExecutor(max_workers=4 * (os.cpu_count() or 1) + 4, thread_name_prefix="gigatile")


def offload(endpoint):
    """An async endpoint that runs `endpoint` on the pool; FastAPI reads the parameters of
    the wrapped function (functools.wraps)."""

    @functools.wraps(endpoint)
    async def run(*args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POOL, functools.partial(endpoint, *args, **kwargs))

    return run
