"""Bounded runs of the request simulator and the soak (full sizes: `python -m
infra.bench simulate|soak`, figures in docs/reliability.md)."""

from __future__ import annotations

import pytest

from infra.bench.reliability import Stack, simulate, soak


@pytest.fixture
def stack(tmp_path_factory, monkeypatch):
    for key in (
        "AWS_ENDPOINT_URL_S3",
        "GIGATILE_SOURCE",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_METRICS_DISABLED",
        "POWERTOOLS_TRACE_DISABLED",
    ):
        monkeypatch.setenv(key, "")  # Stack sets them; monkeypatch puts the old values back
    stack = Stack(tmp_path_factory.mktemp("reliability"), jitter_ms=4)
    yield stack
    stack.close()


def test_sixteen_clients_get_exactly_the_serial_bytes(stack):
    result = simulate(stack, clients=16, tiles=40)
    assert result["requests"] == 640 and result["reference_non_200"] == 0
    assert result["mismatches"] == 0 and result["transport_errors"] == 0, result


def test_soak_keeps_memory_and_handles_flat(stack):
    result = soak(stack, requests=3000)
    assert result["non_200"] == 0
    warm, end = result["after_warm_up"], result["end"]
    assert end["fds"] <= warm["fds"] + 2 and end["threads"] <= warm["threads"] + 2, result
    assert end["open_image_mib"] <= 128 and end["block_cache_mib"] <= 64
    # Before the watchdog and the periodic malloc_trim this grew ~11 MiB per 1,000 tiles.
    assert result["rss_drift_percent"] < 5, result
