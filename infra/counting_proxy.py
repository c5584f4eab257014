"""A small HTTP proxy in front of the local S3 server that records every request.

Tests and benchmarks point AWS_ENDPOINT_URL_S3 at it to count S3 GETs and bytes from
the outside, independently of gigatile's own counters. It can add a fixed delay per
request (S3's first-byte latency) and inject faults into the next GETs: `faults` is a
list consumed one per GET, of "slowdown" (503 SlowDown), "internal" (500 InternalError),
"denied" (403 AccessDenied, as S3 answers a presigned URL past its expiry), "moved" (301
PermanentRedirect to a bucket in eu-west-1), "reset" (the connection closes halfway
through the body: a short body) and "stall"
(half the body, then nothing for 3 s: beyond gigatile's 2 s read timeout).

Another process (a benchmark's measured child) can read and reset the counts over HTTP:
`GET /__proxy/stats` → {"gets", "bytes", "heads"} since `POST /__proxy/reset`; such
control requests are not forwarded nor counted.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Record:
    method: str
    path: str
    range: str | None
    status: int
    bytes: int
    if_match: str | None = None
    etag: str | None = None
    began: float = 0.0  # time.monotonic() when the request arrived, and when its reply was sent
    ended: float = 0.0


def sequential_rounds(records: list[Record]) -> int:
    """The longest chain of requests each sent after the one before it was answered: the
    round trips a client waited for one after another (requests in flight together, a
    parallel prefetch, count once)."""
    chain: dict[int, int] = {}  # request index → longest chain ending with it
    ordered = sorted(records, key=lambda r: r.began)
    for i, record in enumerate(ordered):
        before = [chain[j] for j in range(i) if ordered[j].ended <= record.began]
        chain[i] = 1 + max(before, default=0)
    return max(chain.values(), default=0)


class CountingProxy:
    def __init__(self, upstream: str, delay_ms: float = 0.0, jitter_ms: float = 0.0):
        target = urlsplit(upstream)
        self.records: list[Record] = []
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms  # plus a random 0…jitter_ms per request (reorders replies)
        self.faults: list[str] = []
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm on, a small
            # body then waits for the client's delayed ACK (40 ms on Linux).
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _record(self, status: int, size: int, etag: str | None = None):
                # Taken before the reply is written: the client has it a moment later.
                ended = time.monotonic()
                with lock:
                    proxy.records.append(
                        Record(
                            self.command,
                            self.path,
                            self.headers.get("Range"),
                            status,
                            size,
                            self.headers.get("If-Match"),
                            etag,
                            self.began,
                            ended,
                        )
                    )

            def _error(self, status: int, code: str, region: str | None = None):
                body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code></Error>".encode()
                self._record(status, len(body))
                self.send_response(status)
                if region:
                    self.send_header("x-amz-bucket-region", region)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _control(self):
                gets = proxy.gets()
                body = json.dumps(
                    {
                        "gets": len(gets),
                        "bytes": sum(r.bytes for r in gets),
                        "heads": sum(r.method == "HEAD" for r in list(proxy.records)),
                    }
                ).encode()
                if self.path == "/__proxy/reset":
                    proxy.reset()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self):
                self.began = time.monotonic()
                if self.path.startswith("/__proxy/"):
                    return self._control()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with lock:
                    fault = proxy.faults.pop(0) if self.command == "GET" and proxy.faults else None
                if fault == "slowdown":
                    return self._error(503, "SlowDown")
                if fault == "internal":
                    return self._error(500, "InternalError")
                if fault == "denied":
                    return self._error(403, "AccessDenied")
                if fault == "moved":
                    return self._error(301, "PermanentRedirect", region="eu-west-1")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                if proxy.delay_ms or proxy.jitter_ms:
                    time.sleep((proxy.delay_ms + random.uniform(0, proxy.jitter_ms)) / 1000)
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self._record(resp.status, len(data), resp.getheader("ETag"))
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault == "stall":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    time.sleep(3)
                    self.close_connection = True
                elif fault == "reset":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                elif self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def gets(self, key_part: str = "") -> list[Record]:
        return [r for r in list(self.records) if r.method == "GET" and key_part in r.path]

    def reset(self) -> None:
        self.records.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
