"""S3 faults injected by the proxy between gigatile and the S3 server: every tile returned
is byte-identical to the fault-free one, or the request fails with a clean 5xx, and the
instance recovers."""

from __future__ import annotations

import pytest

TILE = "/api/v1/image/tile"


def tile(client, x, y):
    return client.get(TILE, params={"path": "pyr.tif", "level": 5, "x": x, "y": y, "format": "png"})


@pytest.fixture
def reference(configure):
    client = configure()
    return {xy: tile(client, *xy).content for xy in [(0, 0), (3, 4), (6, 8), (9, 12)]}


@pytest.mark.parametrize(
    "faults,first_status",
    [
        (["slowdown"], 503),  # retried by botocore (standard mode)
        (["internal"], 500),
        (["slowdown", "internal"], 503),
        (["reset"], 206),  # body cut halfway: one more GET by gigatile
        (["stall"], 206),  # body stalls past the read timeout: one more GET
    ],
)
def test_transient_faults_are_retried_and_tiles_are_identical(configure, s3, reference, faults, first_status):
    client = configure()
    assert tile(client, 0, 0).content == reference[(0, 0)]  # opens the image and level
    s3.proxy.reset()
    s3.proxy.faults = list(faults)
    resp = tile(client, 3, 4)
    assert resp.status_code == 200, resp.text
    assert resp.content == reference[(3, 4)]
    statuses = [r.status for r in s3.proxy.gets()]
    assert statuses[0] == first_status and len(statuses) == len(faults) + 1
    assert tile(client, 6, 8).content == reference[(6, 8)]


@pytest.mark.parametrize(
    "faults,status,code",
    [
        (["slowdown"] * 3, 503, "upstream_unavailable"),  # botocore's 3 attempts used up
        (["internal"] * 3, 502, "upstream_error"),
        (["reset"] * 2, 502, "upstream_error"),
        (["stall"] * 2, 502, "upstream_error"),  # 2 × 2 s read timeouts, within the 8 s deadline
    ],
)
def test_persistent_faults_fail_cleanly_and_the_instance_recovers(configure, s3, reference, faults, status, code):
    client = configure()
    assert tile(client, 0, 0).content == reference[(0, 0)]
    s3.proxy.faults = list(faults)
    s3.proxy.reset()
    resp = tile(client, 9, 12)
    assert resp.status_code == status, [r.status for r in s3.proxy.records]
    assert resp.json()["error"]["code"] == code
    assert resp.headers["cache-control"] == "no-store"
    s3.proxy.faults = []
    assert tile(client, 9, 12).content == reference[(9, 12)]
    assert tile(client, 3, 4).content == reference[(3, 4)]


def test_object_deleted_while_served_is_404(configure, s3, images):
    s3.bucket_client.upload_file(str(images["pyr.tif"]), "gigatile-test", "imgs/doomed.tif")
    client = configure()
    ok = client.get(TILE, params={"path": "doomed.tif", "level": 5, "x": 0, "y": 0})
    assert ok.status_code == 200
    s3.bucket_client.delete_object(Bucket="gigatile-test", Key="imgs/doomed.tif")
    gone = client.get(TILE, params={"path": "doomed.tif", "level": 5, "x": 5, "y": 5})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "image_not_found"
