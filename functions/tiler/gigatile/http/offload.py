"""Run blocking endpoints on gigatile's own long-lived thread pool, or inline on Lambda.

FastAPI runs a plain `def` endpoint through anyio's worker threads, which belong to the
task that runs the event loop. Mangum runs every Lambda invocation as a new task, so
anyio started (and stopped) a new thread for every request: ~1 ms of a 3 ms warm tile.
These threads live as long as the process, and uvicorn keeps its concurrency.

On Lambda an execution environment serves one request at a time, so there is nothing
to run concurrently: the handler calls `run_inline()` and endpoints run on the event
loop's own thread, saving the two thread hand-offs per request (measured by
`python -m infra.bench request-path`). A context variable, not a global, so that only the
handler's invocations run inline (tests serve the same app under uvicorn beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
from concurrent.futures import ThreadPoolExecutor

_POOL = ThreadPoolExecutor(max_workers=4 * (os.cpu_count() or 1) + 4, thread_name_prefix="gigatile")
_INLINE = contextvars.ContextVar("gigatile_inline", default=False)


@contextlib.contextmanager
def inline():
    """Within, offloaded endpoints run on the event loop's thread (the tasks an ASGI
    adapter starts inside copy this context)."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


def offload(endpoint):
    """An async endpoint that runs `endpoint` on the pool (or inline, see `inline`);
    FastAPI reads the parameters of the wrapped function (functools.wraps)."""

    @functools.wraps(endpoint)
    async def run(*args, **kwargs):
        if _INLINE.get():
            return endpoint(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POOL, functools.partial(endpoint, *args, **kwargs))

    return run
