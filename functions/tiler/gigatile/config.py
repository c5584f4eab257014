"""Settings: read from the environment once at start (`Settings.from_env`), validated, and
then handed to what needs them (the app keeps them; FastAPI dependencies pass them on)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A setting in the environment is missing or malformed."""


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """The one boolean rule: 1/true/yes/on or 0/false/no/off, any case; empty = default."""
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in TRUE or raw in FALSE:
        return raw in TRUE
    raise ConfigError(f"{name} must be one of {'/'.join(TRUE)} or {'/'.join(FALSE)}, got {raw!r}")


def env_int(name: str, default: int, lo: int, hi: int, environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


@dataclass(frozen=True)
class Source:
    """Where images live: an S3 bucket + prefix, or a local folder."""

    kind: str  # "s3" or "local"
    bucket: str = ""
    prefix: str = ""  # "" or ends with "/"
    folder: Path | None = None

    @classmethod
    def parse(cls, value: str) -> Source:
        if value.startswith("s3://"):
            bucket, _, prefix = value[5:].partition("/")
            if not bucket:
                raise ConfigError("GIGATILE_SOURCE s3://bucket/prefix needs a bucket")
            prefix = prefix.strip("/")
            return cls("s3", bucket=bucket, prefix=f"{prefix}/" if prefix else "")
        if "://" in value:
            raise ConfigError(f"GIGATILE_SOURCE must be s3://… or a folder, got {value!r}")
        folder = Path(value).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"GIGATILE_SOURCE folder does not exist: {value}")
        return cls("local", folder=folder)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.kind == "s3" else str(self.folder)


@dataclass(frozen=True)
class Settings:
    source: Source
    cors_origin: str
    # When set, every request must carry it as X-Origin-Verify (CloudFront adds it), so
    # viewers cannot bypass the CDN by calling the API directly.
    origin_secret: str
    # Cache lifetimes (seconds): tiles in browsers and in the CDN, and metadata.
    max_age: int
    s_maxage: int
    meta_max_age: int
    # How long a learnt source version (ETag) is trusted before it is checked again.
    version_ttl: int
    block_size: int
    open_read_bytes: int
    block_cache_bytes: int
    open_image_cache_bytes: int
    # Largest image (in pixels) decoded whole when a source is not tiled.
    max_decode_pixels: int
    # Largest header size accepted at all (refuses decompression bombs).
    max_image_pixels: int
    # What one request may read from the store: GETs and bytes (a hostile file must not make
    # a request read gigabytes); beyond either, 413 read_budget_exceeded.
    max_request_gets: int
    max_request_read_bytes: int
    max_renders: int
    # Time budget of one request, below the Lambda timeout: beyond it, 504.
    deadline_ms: int
    # DeepZoom layout when the request does not name one.
    dz_tile_size: int
    dz_overlap: int
    # Largest output of a region request (IIIF): a side, and an area, advertised in info.json.
    max_output_side: int
    max_output_pixels: int
    # Largest encoded body: Lambda's 6 MB response limit, less base64 and headers.
    max_response_bytes: int
    # Base of absolute URLs (IIIF ids) when the app sits behind a CDN, e.g. https://tiles.example.org
    public_url: str
    # Serve a stored JPEG tile as it is when a request maps exactly onto it (no re-encode).
    passthrough: bool
    # Derived pyramids (`<prefix><source key>@<etag>.tif`, "" = off), the converter's switch
    # (on: full-resolution tiles of large non-tiled sources answer 503 + Retry-After while
    # it works, instead of 413), the converter function to invoke for a source that has no
    # pyramid yet ("" = wait for upload events only), its threshold and its JPEG quality.
    pyramid_prefix: str
    converter: bool
    convert_on_demand: str
    convert_min_pixels: int
    convert_quality: int
    # Signed access: HMAC keys (the first signs, all verify); empty: open access.
    signing_keys: tuple[str, ...]
    # libvips worker threads per render (renders are already parallel across requests).
    vips_concurrency: int
    # Lambda: create pyvips and the boto3 client during the init phase, not on the first request.
    warm_on_init: bool
    # Lambda: Powertools' Tracer with in-code X-Ray subsegments (the handler, boto3 calls).
    # Off, Lambda's active tracing still records the function's segment, and the init skips
    # importing the X-Ray SDK (about 0.1 s of CPU).
    xray_subsegments: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every GIGATILE_* setting; an unknown or malformed one is a
        ConfigError naming it (a typo must fail at start, not be silently ignored)."""
        env = os.environ if environ is None else environ
        known = {f"GIGATILE_{name.upper()}" for name in ENV_NAMES}
        unknown = sorted(k for k in env if k.startswith("GIGATILE_") and k not in known)
        if unknown:
            raise ConfigError(f"unknown setting {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return _read(env)


def _signing_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if any(len(k) < 32 for k in keys):
        raise ConfigError("GIGATILE_SIGNING_KEYS: each key must be at least 32 characters")
    return keys


def _default_source() -> str:
    # Where `make demo` keeps its generated sample.
    return str(Path.cwd() / ".cache" / "demo")


# Each variable's name without the GIGATILE_ prefix (where it differs from the field's).
ENV_NAMES = (
    "source", "cors_origin", "origin_secret", "max_age", "s_maxage", "meta_max_age", "version_ttl",
    "block_size", "open_read_kb", "block_cache_mb", "image_cache_mb", "max_decode_pixels",
    "max_image_pixels", "max_request_gets", "max_request_read_mb", "max_renders", "deadline_ms",
    "dz_tile_size", "dz_overlap", "max_output_side", "max_output_pixels", "max_response_bytes", "public_url",
    "passthrough", "pyramid_prefix", "converter", "convert_on_demand", "convert_min_pixels", "convert_quality",
    "signing_keys", "vips_concurrency", "warm_on_init", "xray_subsegments",
)  # fmt: skip


def _read(env: Mapping[str, str]) -> Settings:
    cpus = os.cpu_count() or 1

    def integer(name: str, default: int, lo: int, hi: int) -> int:
        return env_int(f"GIGATILE_{name}", default, lo, hi, env)

    def flag(name: str, default: bool) -> bool:
        return env_bool(f"GIGATILE_{name}", default, env)

    return Settings(
        source=Source.parse(env.get("GIGATILE_SOURCE") or _default_source()),
        cors_origin=env.get("GIGATILE_CORS_ORIGIN", "*"),
        origin_secret=env.get("GIGATILE_ORIGIN_SECRET", ""),
        max_age=integer("MAX_AGE", 86400, 0, 31536000),
        s_maxage=integer("S_MAXAGE", 86400, 0, 31536000),
        meta_max_age=integer("META_MAX_AGE", 300, 0, 31536000),
        version_ttl=integer("VERSION_TTL", 300, 0, 86400),
        block_size=integer("BLOCK_SIZE", 256 * 1024, 4096, 16 * 1024 * 1024),
        open_read_bytes=integer("OPEN_READ_KB", 512, 4, 65536) * 1024,
        block_cache_bytes=integer("BLOCK_CACHE_MB", 64, 1, 4096) * 1024 * 1024,
        open_image_cache_bytes=integer("IMAGE_CACHE_MB", 128, 1, 8192) * 1024 * 1024,
        max_decode_pixels=integer("MAX_DECODE_PIXELS", 64_000_000, 1, 10**12),
        max_image_pixels=integer("MAX_IMAGE_PIXELS", 20_000_000_000, 1, 10**13),
        # A tile costs one GET, a cold open a few; a IIIF region at the 16 Mpx output limit
        # reads up to ~1,000 tiles of its source level, and 1,000 GETs of S3's first-byte
        # latency (10–20 ms) fill the 8 s deadline. 256 MB is four 64 Mpx decodes' worth of
        # compressed bytes and what a 1,769 MB function can pull from S3 within the deadline.
        max_request_gets=integer("MAX_REQUEST_GETS", 1000, 1, 10**6),
        max_request_read_bytes=integer("MAX_REQUEST_READ_MB", 256, 1, 10**6) * 1024 * 1024,
        max_renders=integer("MAX_RENDERS", cpus, 1, 256),
        deadline_ms=integer("DEADLINE_MS", 8000, 10, 900_000),
        dz_tile_size=integer("DZ_TILE_SIZE", 256, 64, 1024),
        dz_overlap=integer("DZ_OVERLAP", 0, 0, 2),
        max_output_side=integer("MAX_OUTPUT_SIDE", 10000, 64, 65535),
        max_output_pixels=integer("MAX_OUTPUT_PIXELS", 16_000_000, 4096, 10**9),
        max_response_bytes=integer("MAX_RESPONSE_BYTES", 4_400_000, 65536, 10**9),
        public_url=env.get("GIGATILE_PUBLIC_URL", "").rstrip("/"),
        passthrough=flag("PASSTHROUGH", True),
        pyramid_prefix=env.get("GIGATILE_PYRAMID_PREFIX", "_pyramids/"),
        converter=flag("CONVERTER", False) or bool(env.get("GIGATILE_CONVERT_ON_DEMAND")),
        convert_on_demand=env.get("GIGATILE_CONVERT_ON_DEMAND", ""),
        convert_min_pixels=integer("CONVERT_MIN_PIXELS", 16_000_000, 0, 10**13),
        convert_quality=integer("CONVERT_QUALITY", 85, 1, 100),
        signing_keys=_signing_keys(env.get("GIGATILE_SIGNING_KEYS", "")),
        vips_concurrency=integer("VIPS_CONCURRENCY", 1, 1, 64),
        warm_on_init=flag("WARM_ON_INIT", False),
        xray_subsegments=flag("XRAY_SUBSEGMENTS", False),
    )
