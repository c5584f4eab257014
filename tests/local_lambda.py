"""A loopback stand-in for the Lambda Invoke API that runs handlers in this process.

What `sam local start-lambda` does with Docker, without it: boto3's `invoke` (pointed here
with AWS_ENDPOINT_URL_LAMBDA) reaches a real HTTP server, which calls the named function's
real handler with the payload. "Event" invocations answer 202 at once and run in a
thread, like Lambda's asynchronous queue; "RequestResponse" answers the handler's result.
Each invocation is recorded (function, payload, result or error) for tests to look at.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from infra.events import LambdaContext

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


@dataclass
class Invocation:
    function: str
    payload: dict
    result: object = None
    error: str | None = None
    done: bool = False


class LocalLambda:
    def __init__(self, functions: dict[str, Callable[[dict, object], object]]):
        self.functions = functions
        self.invocations: list[Invocation] = []
        self._threads: list[threading.Thread] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def run(self, invocation: Invocation) -> None:
        try:
            handler = self.functions[invocation.function]
            invocation.result = handler(invocation.payload, LambdaContext(invocation.function))
        except Exception as exc:  # what Lambda would report as a function error
            invocation.error = f"{type(exc).__name__}: {exc}"
        invocation.done = True

    def wait(self, timeout: float = 60) -> None:
        """Until every asynchronous invocation so far has finished."""
        for thread in list(self._threads):
            thread.join(timeout)

    def stop(self) -> None:
        self.wait()
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        local = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                m = INVOKE_PATH.match(self.path.split("?")[0])
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                name = m and unquote(m["name"]).split(":")[-1]  # a name or an ARN
                if not m or name not in local.functions:
                    missing = {"Type": "User", "message": "Function not found"}
                    return self._reply(404, missing, "ResourceNotFoundException")
                invocation = Invocation(name, json.loads(body or b"{}"))
                local.invocations.append(invocation)
                if self.headers.get("X-Amz-Invocation-Type") == "Event":
                    thread = threading.Thread(target=local.run, args=(invocation,), daemon=True)
                    local._threads.append(thread)
                    thread.start()
                    return self._reply(202, None)
                local.run(invocation)
                failed = invocation.error is not None
                return self._reply(200, {"errorMessage": invocation.error} if failed else invocation.result)

            def _reply(self, status: int, body, error_type: str | None = None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler
