"""S3 as a store: ranged GETs pinned to one ETag, over one reused boto3 client."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from ..errors import Forbidden, ImageNotFound, SourceChanged, UpstreamError, UpstreamUnavailable
from .base import Entry, ObjectVersion, Store

# Codes S3 uses for "try again later"; after botocore's own bounded retries they become 503.
_THROTTLED = {"SlowDown", "ServiceUnavailable", "Throttling", "RequestTimeout", "503"}


def make_client(max_connections: int):
    """The endpoint comes from boto3's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL."""
    config = Config(
        max_pool_connections=max_connections,
        retries={"mode": "standard", "total_max_attempts": 3},  # the first try included
        # Three attempts of at most 2 + 2 s stay inside the default 8 s request deadline.
        connect_timeout=2,
        read_timeout=2,
        tcp_keepalive=True,
    )
    return boto3.session.Session().client("s3", config=config)


def _parse_size(content_range: str | None, length: int) -> int:
    # "bytes 0-262143/97300194" → 97300194
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    return length


class S3Store(Store):
    def __init__(self, bucket: str, prefix: str, max_connections: int = 16):
        self.bucket = bucket
        self.prefix = prefix
        self.name = f"s3://{bucket}"
        self.max_connections = max_connections
        self._client = None
        self._client_lock = threading.Lock()

    def client(self):
        """Created on first use and kept: keep-alive connections are the cheapest GET there is."""
        with self._client_lock:
            if self._client is None:
                self._client = make_client(self.max_connections)
            return self._client

    def warm(self) -> None:
        self.client()

    def key_for(self, image_id: str) -> str:
        return self.prefix + image_id

    def fetch(self, key: str, start: int, end: int, etag: str | None) -> tuple[bytes, ObjectVersion]:
        args = {"Bucket": self.bucket, "Key": key, "Range": f"bytes={start}-{end}"}
        if etag is not None:
            args["IfMatch"] = f'"{etag}"'
        try:
            resp, data = self._get_and_read(args)
        except ClientError as exc:
            return self._client_error(exc, key)
        except (ConnectionError, HTTPClientError) as exc:
            raise UpstreamUnavailable(f"S3 unreachable: {type(exc).__name__}") from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"S3 read failed: {type(exc).__name__}") from exc
        version = ObjectVersion(
            size=_parse_size(resp.get("ContentRange"), resp.get("ContentLength", len(data))),
            etag=resp.get("ETag", "").strip('"'),
            last_modified=resp.get("LastModified"),
        )
        expected = min(end, version.size - 1) - start + 1
        if len(data) != expected:
            raise UpstreamError(f"S3 returned {len(data)} bytes, expected {expected}")
        return data, version

    def list(self, folder: str, page_size: int = 1000) -> Iterator[Entry]:
        """ListObjectsV2 with Delimiter "/", one page (up to `page_size` keys) per call as
        the caller iterates; `folder` is a key prefix as key_for gives ("" or ending "/")."""
        args = {"Bucket": self.bucket, "Prefix": folder, "Delimiter": "/", "MaxKeys": page_size}
        while True:
            try:
                page = self.client().list_objects_v2(**args)
            except ClientError as exc:
                self._client_error(exc, folder)
            except (ConnectionError, HTTPClientError) as exc:
                raise UpstreamUnavailable(f"S3 unreachable: {type(exc).__name__}") from exc
            except BotoCoreError as exc:
                raise UpstreamError(f"S3 listing failed: {type(exc).__name__}") from exc
            objects = (
                Entry(
                    o["Key"][len(folder) :],
                    ObjectVersion(o.get("Size", 0), o.get("ETag", "").strip('"'), o.get("LastModified")),
                )
                for o in page.get("Contents", [])
                if o["Key"] != folder  # the folder's own marker object ("folder/")
            )
            folders = (Entry(p["Prefix"][len(folder) :].rstrip("/"), None) for p in page.get("CommonPrefixes", []))
            # Each list is in key order; so is the page, merged (a folder's key ends with "/").
            yield from heapq.merge(objects, folders, key=lambda e: e.name + ("" if e.version else "/"))
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    def _get_and_read(self, args: dict):
        # botocore retries a failed request, but not a body cut off halfway (a reset
        # connection) or stalled past the read timeout: that gets one more GET here.
        for attempt in (1, 2):
            resp = self.client().get_object(**args)
            try:
                return resp, resp["Body"].read()
            except (ResponseStreamingError, ReadTimeoutError) as exc:
                if attempt == 2:
                    raise UpstreamError(f"S3 broke off the response body twice ({type(exc).__name__})") from exc

    # -- writes (the converter's): keys here are whole keys, not ids under the prefix ----
    def exists(self, key: str) -> bool:
        try:
            self.fetch(key, 0, 0, None)
            return True
        except (ImageNotFound, Forbidden):  # S3 says 403 for a missing key without ListBucket
            return False

    def put_if_absent(self, key: str) -> bool:
        """Write an empty object at `key` unless one is there (a conditional PUT)."""
        try:
            self.client().put_object(Bucket=self.bucket, Key=key, Body=b"", IfNoneMatch="*")
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            return False

    def put(self, key: str) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=b"")

    def modified_at(self, key: str) -> float | None:
        """When `key` was last written (epoch seconds), or None if it is not there."""
        try:
            return self.client().head_object(Bucket=self.bucket, Key=key)["LastModified"].timestamp()
        except ClientError:
            return None

    def delete(self, key: str) -> None:
        self.client().delete_object(Bucket=self.bucket, Key=key)

    def upload(self, path: str, key: str, content_type: str, metadata: dict | None = None) -> None:
        """A local file to `key` (upload_file switches to a multipart upload above 8 MB)."""
        extra = {"ContentType": content_type, **({"Metadata": metadata} if metadata else {})}
        self.client().upload_file(path, self.bucket, key, ExtraArgs=extra)

    def _client_error(self, exc: ClientError, key: str):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("NoSuchKey", "NotFound", "404") or status == 404:
            raise ImageNotFound(f"no such image: {key}") from None
        if code == "PreconditionFailed" or status == 412:
            raise SourceChanged(f"{key} changed while being read") from None
        if code == "InvalidRange" or status == 416:
            # S3 refuses any range of an empty object.
            return b"", ObjectVersion(size=0, etag="", last_modified=None)
        if code in ("AccessDenied", "403") or status == 403:
            raise Forbidden(f"not allowed to read {key}") from None
        if code in _THROTTLED or status == 503:
            raise UpstreamUnavailable(f"S3 is throttling or unavailable ({code})") from None
        raise UpstreamError(f"S3 error {code or status}") from None
