"""The transport floor of `python -m infra.bench request-path`: an ASGI app that answers
every request with the same 7 KiB body (about a pass-through tile's size), doing nothing
else, served under the same uvicorn settings and client as `gigatile serve`."""

from __future__ import annotations

BODY = bytes(range(256)) * 28  # 7 KiB
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"image/jpeg"), (b"content-length", str(len(BODY)).encode())],
}
END = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":  # lifespan: nothing to start
        return
    await send(START)
    await send(END)
