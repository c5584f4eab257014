"""Asynchronous Lambda invokes (the tiler asking the converter for a pyramid): the one other
AWS client, kept here beside S3's so that nothing outside sources/ imports boto3. botocore
is imported on first use: a tiler that never asks pays nothing at cold start."""

from __future__ import annotations

import json
import threading


class InvokeFailed(Exception):
    """The Lambda API refused the invoke or could not be reached."""


class AsyncInvoker:
    def __init__(self, function: str):
        self.function = function
        self._client = None
        self._lock = threading.Lock()

    def _lambda(self):
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                # Short timeouts: an unreachable Lambda API must not hold the viewer's request.
                config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
                self._client = boto3.client("lambda", config=config)
            return self._client

    def invoke(self, event: dict) -> None:
        """Send `event` as an asynchronous ("Event") invoke."""
        from botocore.exceptions import BotoCoreError, ClientError

        payload = json.dumps(event).encode()
        try:
            self._lambda().invoke(FunctionName=self.function, InvocationType="Event", Payload=payload)
        except (BotoCoreError, ClientError) as exc:
            raise InvokeFailed(type(exc).__name__) from exc
