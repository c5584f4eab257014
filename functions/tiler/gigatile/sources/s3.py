"""S3 as a store: ranged GETs pinned to one ETag, sent as plain HTTP requests of a presigned URL.

A ranged GET through botocore costs ≈ 2 × the CPU of the same GET sent with urllib3
(signing, event hooks, header dicts, response parsing; docs/performance.md). So each key
gets one presigned GetObject URL, and each ranged GET is that URL with `Range` and
`If-Match` headers, over one urllib3 pool kept across warm invocations. A SigV4 query
signature covers `host` only: S3 accepts other standard headers unsigned (the AWS SDK for
Java's presigned-URL downloader adds its own Range and If-Match the same way).

The URLs are signed without a botocore client (`UrlSigner`): creating one costs ≈ 15 MiB
of RSS (botocore's endpoints.json, the S3 model, the endpoint rules) that a tile never
needs and that stays resident even after the client is dropped. The bucket's URL comes
from botocore's S3 endpoint rules, evaluated once, and each URL is signed by botocore's
`S3SigV4QueryAuth`; a test holds the URLs equal to the client's own presigned URLs.
Listing and the converter's writes use a boto3 client, made when first needed.
"""

from __future__ import annotations

import contextlib
import heapq
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import botocore.httpsession
import botocore.session
import urllib3
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.endpoint_provider import VALID_HOST_LABEL_RE, EndpointProvider
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from urllib3.util import parse_url

from ..errors import Forbidden, ImageNotFound, SourceChanged, UpstreamError, UpstreamUnavailable
from .base import Entry, ObjectVersion, Store

# Codes S3 uses for "try again later"; after the bounded retries they become 503.
_THROTTLED = {"SlowDown", "ServiceUnavailable", "Throttling", "RequestTimeout", "503"}
# What botocore's standard retry mode retries, and how long it waits before attempt n + 1:
# rand(0, 1) × base × 2^(n-1), base 1 s after throttling and 50 ms after other errors.
ATTEMPTS = 3  # the first try included
_RETRIED_STATUS = {500, 502, 503, 504}
_RETRIED_CODES = {"SlowDown", "Throttling", "RequestTimeout", "RequestTimeoutException", "InternalError"}
_THROTTLING_BASE, _TRANSIENT_BASE = 1.0, 0.05
# Three attempts of at most 2 + 2 s stay inside the default 8 s request deadline.
TIMEOUT = urllib3.Timeout(connect=2, read=2)
# A presigned URL is valid for URL_EXPIRES but used for URL_REUSE at most: less than the
# 10 min before expiry in which botocore must refresh expiring credentials (assumed roles,
# container and SSO credentials) before it signs (RefreshableCredentials'
# _mandatory_refresh_timeout), so the credentials a URL was signed with outlive its use.
# Lambda's role credentials come in the environment, valid for the sandbox's lifetime.
URL_EXPIRES = 3600
URL_REUSE = 300.0
URL_KEYS = 4096  # URLs kept (one per key read recently)
_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_REGION = re.compile(rb"<Region>([^<]*)</Region>")
_KEEPALIVE = (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # as botocore's tcp_keepalive


def _config(max_connections: int) -> Config:
    return Config(
        max_pool_connections=max_connections,
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        connect_timeout=2,
        read_timeout=2,
        tcp_keepalive=True,
        # SigV4 presigned URLs (a bare client may presign with the retired SigV2).
        signature_version="s3v4",
    )


def make_client(max_connections: int, region: str | None = None, session=None):
    """The endpoint comes from boto3's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL."""
    import boto3  # listing and writes only: a tile never needs boto3 (≈ 3 MiB imported)

    return boto3.session.Session(botocore_session=session).client(
        "s3", config=_config(max_connections), region_name=region
    )


class UrlSigner:
    """Presigned GetObject URLs of one bucket, as its botocore client would sign them.

    The bucket's URL comes from botocore's own S3 endpoint rules, given the settings a
    client would give them (its region, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL or the
    config file's, addressing style, FIPS, dual-stack, us-east-1's global endpoint), once;
    a client itself would keep botocore's endpoints.json, the S3 model and the rules
    alive (≈ 12 MiB of peak RSS over the bench, docs/performance.md). The signature is
    botocore's `S3SigV4QueryAuth` with the session's credentials (refreshed by botocore
    as they expire)."""

    def __init__(self, bucket: str, region: str | None = None):
        session = botocore.session.get_session()
        # Certificates as botocore verifies them: AWS_CA_BUNDLE, else its bundle.
        self.ca_certs = session.get_config_variable("ca_bundle") or botocore.httpsession.get_cert_path(True)
        self.credentials = session.get_credentials()
        region = region or session.get_config_variable("region") or "us-east-1"
        s3 = session.get_config_variable("s3") or {}
        endpoint_url = None
        if not session.get_config_variable("ignore_configured_endpoint_urls"):
            endpoint_url = ConfiguredEndpointProvider(
                full_config=session.full_config, scoped_config=session.get_scoped_config(), client_name="s3"
            ).provide()
        accelerate = bool(s3.get("use_accelerate_endpoint", False))
        # As botocore.args.ClientArgsCreator.compute_endpoint_resolver_builtin_defaults:
        # a configured endpoint means path addressing unless "virtual" is asked for.
        if accelerate:
            path_style = False
        elif endpoint_url:
            path_style = s3.get("addressing_style") != "virtual"
        else:
            path_style = s3.get("addressing_style") == "path"
        loader = session.get_component("data_loader")
        partitions = loader.load_data("partitions")
        dual_stack = bool(s3.get("use_dualstack_endpoint") or session.get_config_variable("use_dualstack_endpoint"))
        use_global = s3.get("us_east_1_regional_endpoint", "legacy") == "legacy" and region == "us-east-1"
        sign_region = region
        if _presigns_globally(bucket, region, s3, path_style or dual_stack, partitions):
            region, use_global = "aws-global", True
        rules = EndpointProvider(loader.load_service_model("s3", "endpoint-rule-set-1"), partitions)
        endpoint = rules.resolve_endpoint(
            Bucket=bucket,
            Region=region,
            UseFIPS=not endpoint_url and bool(session.get_config_variable("use_fips_endpoint")),
            UseDualStack=not endpoint_url and dual_stack,
            Endpoint=endpoint_url,
            ForcePathStyle=path_style,
            Accelerate=accelerate,
            UseGlobalEndpoint=use_global,
        )
        # "https://bucket.s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:4569/bucket"
        self.base = endpoint.url.rstrip("/")
        # Presigned URLs are signed for the client's region whichever host they name.
        self.region = sign_region

    def url(self, key: str, expires: int) -> str:
        # The key's path as botocore serialises S3's greedy {Key+} label.
        request = AWSRequest(method="GET", url=f"{self.base}/{quote(key, safe='/~')}")
        S3SigV4QueryAuth(self.credentials, "s3", self.region, expires=expires).add_auth(request)
        return request.url


def _parse_size(content_range: str | None, length: int) -> int:
    # "bytes 0-262143/97300194" → 97300194
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    return length


def _error_code(body: bytes) -> str:
    found = _CODE.search(body[:4096])
    return found.group(1).decode("utf-8", "replace") if found else ""


def _presigns_globally(bucket: str, region: str, s3: dict, excluded: bool, partitions: dict) -> bool:
    """Whether botocore presigns for S3's global endpoint (bucket.s3.amazonaws.com) in
    `region`: its signers._should_use_global_endpoint and handlers'
    customize_endpoint_resolver_builtins, for the aws partition and virtual addressing
    (`excluded`: path addressing or dual-stack asked for)."""
    partition = next(
        (p["id"] for p in partitions["partitions"] if region in p["regions"] or re.match(p["regionRegex"], region)),
        None,
    )
    return (
        partition == "aws"
        and not (s3.get("us_east_1_regional_endpoint") == "regional" and region == "us-east-1")
        and s3.get("addressing_style") != "virtual"
        and not excluded
        and VALID_HOST_LABEL_RE.match(bucket) is not None
        and not bucket.startswith("arn:")
        and not bucket.endswith("--x-s3")  # S3 Express directory buckets
    )


class S3Store(Store):
    def __init__(self, bucket: str, prefix: str, max_connections: int = 16):
        self.bucket = bucket
        self.prefix = prefix
        self.name = f"s3://{bucket}"
        self.max_connections = max_connections
        self._client = None
        self._region: str | None = None  # the bucket's, once S3 named another than ours
        self._signer: UrlSigner | None = None
        self._http: urllib3.PoolManager | None = None
        # key → (connection pool of the URL's host, the URL's path and query, reuse until)
        self._urls: dict[str, tuple[HTTPConnectionPool, str, float]] = {}
        self._client_lock = threading.Lock()

    def client(self):
        """The boto3 client of listing and writes, created on first use and kept."""
        with self._client_lock:
            if self._client is None:
                self._client = make_client(self.max_connections, region=self._region)
            return self._client

    def signer(self) -> UrlSigner:
        """Created on first use and kept, with the connection pool of the ranged GETs:
        keep-alive connections are the cheapest GET there is."""
        with self._client_lock:
            if self._signer is None:
                try:
                    self._signer = UrlSigner(self.bucket, self._region)
                except BotoCoreError as exc:  # a bad endpoint URL, no region
                    raise UpstreamError(f"S3 request could not be signed: {type(exc).__name__}") from exc
            if self._http is None:
                self._http = urllib3.PoolManager(
                    num_pools=4,
                    maxsize=self.max_connections,
                    timeout=TIMEOUT,
                    retries=False,
                    ca_certs=self._signer.ca_certs,
                    socket_options=[*urllib3.connection.HTTPConnection.default_socket_options, _KEEPALIVE],
                )
            return self._signer

    def warm(self) -> None:
        # The signer's client resolves the endpoint (botocore's rules, 5–10 ms) and the first
        # signature loads hashing and quoting code: one now, of a key nothing reads
        # (presigning sends no request). And the process's first host name lookup loads
        # the resolver and Python's idna codec (≈ 10 ms of CPU): one now for S3's host, not
        # in the first request.
        with contextlib.suppress(UpstreamError, OSError):  # no credentials, no DNS: the first read says so
            pool, _ = self._url(self.prefix + "gigatile-warm-up")
            socket.getaddrinfo(pool.host, pool.port, type=socket.SOCK_STREAM)

    def key_for(self, image_id: str) -> str:
        return self.prefix + image_id

    def fetch(self, key: str, start: int, end: int, etag: str | None) -> tuple[bytes, ObjectVersion]:
        headers = {"Range": f"bytes={start}-{end}"}
        if etag is not None:
            headers["If-Match"] = f'"{etag}"'
        status, answer, data = self._get(key, headers)
        if status not in (200, 206):
            return self._refused(status, _error_code(data), key)
        version = ObjectVersion(
            size=_parse_size(answer.get("Content-Range"), len(data)),
            etag=answer.get("ETag", "").strip('"'),
            last_modified=_http_date(answer.get("Last-Modified")),
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

    def _url(self, key: str, renew: bool = False) -> tuple[HTTPConnectionPool, str]:
        """The presigned GetObject URL of `key`, signed again after URL_REUSE, as the pool of
        its host and its path: urllib3 parses a whole URL character by character (≈ 60 µs
        for one of 300 characters, each GET)."""
        now = time.monotonic()
        kept = self._urls.get(key)
        if kept is not None and kept[2] > now and not renew:
            return kept[0], kept[1]
        try:
            url = self.signer().url(key, URL_EXPIRES)
        except BotoCoreError as exc:  # no credentials, a bad endpoint URL
            raise UpstreamError(f"S3 request could not be signed: {type(exc).__name__}") from exc
        parsed = parse_url(url)
        pool = self._pool().connection_from_host(parsed.host, parsed.port, parsed.scheme)
        with self._client_lock:
            if len(self._urls) >= URL_KEYS:
                del self._urls[next(iter(self._urls))]  # the oldest
            self._urls[key] = (pool, parsed.request_uri, now + URL_REUSE)
        return pool, parsed.request_uri

    def _get(self, key: str, headers: dict[str, str]):
        """(status, headers, body) of one GET, retried as botocore's standard mode retries;
        a body cut off halfway or stalled past the read timeout gets one more GET."""
        (pool, url), renewed, relocated = self._url(key), False, False
        attempt, broken_bodies = 1, 0
        while True:
            try:
                # enforce_content_length: a short body is an error (urllib3 1.26, the Lambda
                # runtime's, does not check by default).
                resp = pool.urlopen("GET", url, headers=headers, preload_content=False, enforce_content_length=True)
            except urllib3.exceptions.HTTPError as exc:  # no answer: refused, reset, timed out
                if attempt == ATTEMPTS:
                    raise UpstreamUnavailable(f"S3 unreachable: {type(exc).__name__}") from exc
                _back_off(attempt, _TRANSIENT_BASE)
                attempt += 1
                continue
            try:
                data = resp.read(decode_content=False)  # the stored bytes, as boto3 gives them
            except (ProtocolError, ReadTimeoutError) as exc:
                broken_bodies += 1
                if broken_bodies == 2:
                    raise UpstreamError(f"S3 broke off the response body twice ({type(exc).__name__})") from exc
                continue
            finally:
                resp.release_conn()
            status = resp.status
            region = _bucket_region(status, resp.headers, data)
            if region and not relocated:
                # Signed for another region than the bucket's (botocore's own requests
                # follow such a redirect): sign for the bucket's region from now on.
                self._relocate(region)
                (pool, url), relocated = self._url(key, renew=True), True
                continue
            if status == 403 and not renewed:
                # A kept URL no longer accepted (credentials rotated early, a clock jump):
                # sign again once before saying Forbidden.
                (pool, url), renewed = self._url(key, renew=True), True
                continue
            code = _error_code(data) if status >= 300 else ""
            if attempt < ATTEMPTS and (status in _RETRIED_STATUS or code in _RETRIED_CODES):
                _back_off(attempt, _THROTTLING_BASE if code in _THROTTLED else _TRANSIENT_BASE)
                attempt += 1
                continue
            return status, resp.headers, data

    def _relocate(self, region: str) -> None:
        with self._client_lock:
            self._region, self._signer, self._client = region, None, None
            self._urls.clear()

    def _pool(self) -> urllib3.PoolManager:
        if self._http is None:
            self.signer()
        assert self._http is not None
        return self._http

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
        return self._refused(status, code, key)

    def _refused(self, status: int, code: str, key: str):
        """The domain error for an S3 error response (an empty object for 416)."""
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


def _bucket_region(status: int, headers, body: bytes) -> str | None:
    """The bucket's region when S3 says the request went to, or was signed for, another:
    301 PermanentRedirect, or 400 with the region expected."""
    if status not in (301, 400):
        return None
    found = _REGION.search(body[:4096])
    return headers.get("x-amz-bucket-region") or (found.group(1).decode() if found else None)


def _http_date(value: str | None):
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def _back_off(attempt: int, base: float) -> None:
    time.sleep(random.random() * base * 2 ** (attempt - 1))
