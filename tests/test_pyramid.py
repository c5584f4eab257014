"""Upload → pyramid → tiles: the `gigatile pyramid` CLI, the converter Lambda handler fed
`sam local generate-event s3 put` payloads against the S3 server, and the tiler switching
to the derived pyramid of the exact source version."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from conftest import BUCKET, PREFIX
from gigatile.cli import main as cli
from gigatile.vips import vips
from infra.events import LambdaContext
from infra.local_stack import make_striped_scan
from infra.pixels import psnr

EVENT = json.loads((Path(__file__).parent / "events" / "s3-put.json").read_text())
TILE = "/api/v1/image/tile"
CONVERTER = LambdaContext("gigatile-converter")


def s3_event(key: str) -> dict:
    event = copy.deepcopy(EVENT)
    event["Records"][0]["s3"]["bucket"]["name"] = BUCKET
    event["Records"][0]["s3"]["object"]["key"] = key.replace(" ", "+")
    return event


def eventbridge_event(key: str) -> dict:  # the "Object Created" shape S3 sends to EventBridge
    return {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1}},
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    from infra.local_stack import pattern

    path = tmp_path_factory.mktemp("baseline") / "scan.jpg"
    pattern(3000, 2000, seed=12, grain=4).jpegsave(str(path), Q=90)
    return path


def test_cli_converts_a_local_file(baseline, tmp_path, capsys):
    out = tmp_path / "scan.tif"
    cli(["pyramid", str(baseline), str(out)])
    printed = capsys.readouterr().out
    assert "100%" in printed and "5 levels" in printed and "Mpx/s" in printed
    pyramid = vips().Image.new_from_file(str(out))
    source = vips().Image.new_from_file(str(baseline))
    assert (pyramid.width, pyramid.height) == (3000, 2000)
    assert pyramid.get("n-subifds") == 4 and pyramid.get("tile-width") == 256
    assert psnr(pyramid, source) >= 35


ODD = (3001, 1875)  # odd sides at every level: 1501 × 938, 751 × 469, 376 × 235, 188 × 118


@pytest.fixture(scope="module")
def odd_source(tmp_path_factory):
    """A lossless 3001 × 1875 source (PNG) and its pixels."""
    import numpy as np

    from infra.local_stack import pattern

    path = tmp_path_factory.mktemp("odd") / "odd.png"
    image = pattern(*ODD, seed=7, grain=4)
    image.pngsave(str(path))
    return path, np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(ODD[1], ODD[0], 3))


def _halve(pixels):
    """The rounded mean of each 2 × 2 block, an odd last row or column repeated."""
    import numpy as np

    h, w = pixels.shape[:2]
    a = np.pad(pixels.astype(np.int32), ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2] + 2) // 4


def _psnr(a, b) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("compression", ["deflate", "jpeg", "webp"])
def test_converted_levels_are_ceil_halved_means_with_directories_first(odd_source, tmp_path, compression):
    """Read by tifffile (every tile of every level decoded, edge tiles too): each reduced
    level is ceil(W / 2^k) × ceil(H / 2^k), a SubIFD of page 0 marked reduced, and the 2 × 2
    mean of the level above; every directory and tag value lies before the first tile."""
    import io

    import numpy as np
    import tifffile
    from PIL import Image

    from gigatile.conversion.pyramid import convert

    path, source = odd_source
    out = tmp_path / "odd.tif"
    done = convert(vips().Image.new_from_file(str(path), access="sequential"), out, compression=compression)
    width, height = ODD
    expected = [(-(-height // 2**k), -(-width // 2**k), 3) for k in range(5)]  # the IIIF / DeepZoom sizes
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        levels = [level.asarray() for level in tif.series[0].levels]
        subifds = page.pages
        assert [level.shape for level in levels] == expected and done.levels == 5
        assert 330 in page.tags and len(subifds) == 4 and all(sub.subfiletype == 1 for sub in subifds)
        assert {p.compression.name.lower() for p in [page, *subifds]} == {
            compression.replace("deflate", "adobe_deflate")
        }
        ifds = [page, *subifds]
        first_tile = min(min(p.dataoffsets) for p in ifds)
        directories_end = max(t.valueoffset + t.valuebytecount for p in ifds for t in p.tags)
        assert directories_end <= first_tile
        if compression == "jpeg":  # each level's YCbCrSubsampling is its tiles' own, as Pillow reads them
            for ifd in ifds:
                tif.filehandle.seek(ifd.dataoffsets[0])
                tile = tif.filehandle.read(ifd.databytecounts[0])
                _, h, v, _ = Image.open(io.BytesIO(ifd.jpegtables[:-2] + tile[2:])).layer[0]
                assert ifd.tags[530].value == (h, v)
    if compression == "deflate":
        # Lossless: full resolution is the source, and each level the exact rounded mean of
        # the source with its edge pixels repeated out to 188 · 2⁴ × 118 · 2⁴ (what libvips'
        # pyramid of the padded image is), cut to size; inside its last row and column,
        # that is the 2 × 2 mean of the level above.
        assert np.array_equal(levels[0], source)
        padded = np.pad(source, ((0, 118 * 16 - height), (0, 188 * 16 - width), (0, 0)), mode="edge")
        for k, level in enumerate(levels[1:], 1):
            padded = _halve(padded)
            assert np.array_equal(level, padded[: level.shape[0], : level.shape[1]]), k
            assert np.array_equal(level[:-1, :-1], _halve(levels[k - 1])[:-1, :-1]), k
    else:
        # Lossy at Q85: each level against the source or the 2 × 2 mean of the level above as
        # decoded (both sides carry the codec's error). This picture codes at 36–41 dB a
        # level; 35 dB leaves a margin for libjpeg/libwebp versions. (The geometry, to the
        # pixel, is the lossless case's: the same padding and cut whatever the codec.)
        assert _psnr(levels[0], source) >= 35
        for k, level in enumerate(levels[1:], 1):
            assert _psnr(level, _halve(levels[k - 1])) >= 35, k


def test_a_source_libvips_cannot_finish_fails_as_before_and_leaves_nothing(tmp_path):
    """A truncated JPEG: libvips' own error, as before the rewrite, and neither a partial
    pyramid nor libvips' staging file left beside the output."""
    from infra.local_stack import pattern

    whole = pattern(1200, 900, seed=3, grain=4).jpegsave_buffer(Q=90)
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    from gigatile.conversion.pyramid import convert

    image = vips().Image.new_from_file(str(tmp_path / "cut.jpg"), access="sequential", fail_on="truncated")
    with pytest.raises(vips().Error, match="premature end of JPEG"):
        convert(image, tmp_path / "cut.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.jpg"]


def test_upload_convert_serve(configure, s3, baseline):
    key = f"{PREFIX}/big/scan page.jpg"
    s3.bucket_client.upload_file(str(baseline), BUCKET, key)
    env = {
        "GIGATILE_MAX_DECODE_PIXELS": 1_000_000,  # a full decode of 6 Mpx is over budget
        "GIGATILE_CONVERTER": 1,
        "GIGATILE_CONVERT_MIN_PIXELS": 1_000_000,
    }
    client = configure(**env)
    params = {"path": "big/scan page.jpg", "level": 4, "x": 3, "y": 2}
    # Before: the 1/8 shrink-on-load level serves, full resolution says "come back later".
    assert client.get(TILE, params={**params, "level": 1, "x": 0, "y": 0}).status_code == 200
    pending = client.get(TILE, params=params)
    assert pending.status_code == 503 and pending.json()["error"]["code"] == "conversion_pending"
    assert pending.headers["retry-after"] == "60" and pending.headers["cache-control"] == "no-store"
    meta_before = client.get("/api/v1/image/meta", params={"path": "big/scan page.jpg"}).json()

    from gigatile.conversion.converter import handler

    (result,) = handler(s3_event(key), CONVERTER)["results"]
    assert result["status"] == "converted", result
    etag = s3.bucket_client.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    assert result["target"] == f"_pyramids/{key}@{etag}.tif"
    derived = s3.bucket_client.head_object(Bucket=BUCKET, Key=result["target"])
    assert derived["Metadata"]["source-etag"] == etag
    # Idempotent, never triggered by its own output, and the EventBridge form works too.
    assert handler(s3_event(key), CONVERTER)["results"][0]["reason"] == "already converted"
    assert handler(s3_event(result["target"]), CONVERTER)["results"][0]["status"] == "skipped"
    assert handler(eventbridge_event(key), CONVERTER)["results"][0]["reason"] == "already converted"

    # After: the same URL serves from the pyramid; metadata and URLs are unchanged.
    s3.proxy.reset()
    tile = client.get(TILE, params=params)
    assert tile.status_code == 200, tile.text
    meta_after = client.get("/api/v1/image/meta", params={"path": "big/scan page.jpg"}).json()
    assert meta_after.pop("source_levels") == 5 and meta_before.pop("source_levels") == 4
    assert meta_after == meta_before  # same size, format, version, levels
    source = vips().Image.new_from_file(str(baseline)).crop(3 * 256, 2 * 256, 256, 256)
    assert psnr(vips().Image.jpegload_buffer(tile.content), source) >= 30
    s3.proxy.reset()
    assert client.get(TILE, params={**params, "x": 5, "y": 4}).status_code == 200
    # A new full-resolution tile: at most one GET, of the pyramid, none of the JPEG.
    assert len(s3.proxy.gets()) <= 1 and not s3.proxy.gets("scan%20page.jpg?")


def test_a_flat_tiff_is_converted_and_its_pyramid_served(configure, s3, baseline, tmp_path):
    """One rule decides for the converter and the tiler: a large TIFF without stored levels
    (a tiled scan with no overviews) gets a derived pyramid, and the tiler reads it."""
    flat = tmp_path / "flat.tif"
    vips().Image.new_from_file(str(baseline)).tiffsave(str(flat), tile=True, compression="jpeg", Q=90)
    key = f"{PREFIX}/flat/scan.tif"
    s3.bucket_client.upload_file(str(flat), BUCKET, key)
    client = configure(GIGATILE_CONVERT_MIN_PIXELS=1_000_000)
    params = {"path": "flat/scan.tif", "level": 1, "x": 0, "y": 0}
    assert client.get("/api/v1/image/meta", params={"path": "flat/scan.tif"}).json()["source_levels"] == 1

    from gigatile.conversion.converter import handler

    (result,) = handler(s3_event(key), CONVERTER)["results"]
    assert result["status"] == "converted" and result["levels"] == 5, result
    client = configure(GIGATILE_CONVERT_MIN_PIXELS=1_000_000)  # a new container
    s3.proxy.reset()
    assert client.get("/api/v1/image/meta", params={"path": "flat/scan.tif"}).json()["source_levels"] == 5
    opened_pyramid = s3.proxy.gets("_pyramids")
    s3.proxy.reset()
    low = client.get(TILE, params=params)
    # The tile's bytes come from the pyramid the meta call opened (its open may already hold
    # this small level's tiles): not one read of the source object.
    source_reads = [r for r in s3.proxy.gets("flat/scan.tif") if "_pyramids" not in r.path]
    assert low.status_code == 200 and opened_pyramid and source_reads == []
    whole = vips().Image.new_from_file(str(baseline)).resize(1 / 8, kernel="lanczos3")
    assert psnr(vips().Image.jpegload_buffer(low.content), whole.crop(0, 0, 256, 250)) >= 30


def test_small_images_and_other_prefixes_are_not_converted(configure, s3):
    configure()
    from gigatile.conversion.converter import handler

    (small,) = handler(s3_event(f"{PREFIX}/photo.jpg"), CONVERTER)["results"]
    assert small["status"] == "skipped" and "under GIGATILE_CONVERT_MIN_PIXELS" in small["reason"]
    (tiled,) = handler(s3_event(f"{PREFIX}/pyr.tif"), CONVERTER)["results"]
    assert tiled["reason"] == "already a tiled pyramid"
    (broken,) = handler(s3_event(f"{PREFIX}/empty.tif"), CONVERTER)["results"]
    assert broken["reason"] == "not a readable image"  # final: no retry, no dead letter
    (html,) = handler(s3_event(f"{PREFIX}/page.html"), CONVERTER)["results"]
    assert html["reason"] == "not an image suffix"
    (outside,) = handler(s3_event("secret/hidden.jpg"), CONVERTER)["results"]
    assert outside["reason"] == "outside GIGATILE_SOURCE"


@pytest.fixture
def local_lambda():
    from gigatile.conversion.converter import handler
    from local_lambda import LocalLambda

    asked = []
    server = LocalLambda({"gigatile-converter": handler, "records-only": lambda event, context: asked.append(event)})
    yield server
    server.stop()


def test_on_demand_conversion(configure, s3, baseline, local_lambda, monkeypatch):
    """An image uploaded without an event (before the stack existed): opening it asks the
    converter function through the Lambda Invoke API; full resolution answers 503 until the
    pyramid exists; then every level is read from the pyramid."""
    from gigatile.conversion import policy

    key = f"{PREFIX}/backfill/old scan.jpg"
    s3.bucket_client.upload_file(str(baseline), BUCKET, key)
    client = configure(
        GIGATILE_MAX_DECODE_PIXELS=1_000_000,
        GIGATILE_CONVERT_MIN_PIXELS=1_000_000,
        GIGATILE_CONVERT_ON_DEMAND="arn:aws:lambda:us-east-1:123456789012:function:gigatile-converter",
        AWS_ENDPOINT_URL_LAMBDA=local_lambda.endpoint,
    )
    image = "backfill/old scan.jpg"
    assert client.get("/api/v1/image/meta", params={"path": image}).status_code == 200
    (asked,) = local_lambda.invocations  # asked when first opened, before any deep zoom
    assert asked.payload["source"] == "gigatile.tiler" and asked.payload["detail"]["object"]["key"] == key
    local_lambda.wait()
    assert asked.error is None and asked.result["results"][0]["status"] == "converted", asked.result

    # Low levels were served from the JPEG; a minute later the pyramid is looked for again.
    monkeypatch.setattr(policy, "PYRAMID_RECHECK_SECONDS", 0)
    s3.proxy.reset()
    low = client.get(TILE, params={"path": image, "level": 1, "x": 0, "y": 0})
    assert low.status_code == 200 and s3.proxy.gets("_pyramids")
    full = client.get(TILE, params={"path": image, "level": 4, "x": 1, "y": 1})
    assert full.status_code == 200, full.text
    source = vips().Image.new_from_file(str(baseline)).crop(256, 256, 256, 256)
    assert psnr(vips().Image.jpegload_buffer(full.content), source) >= 30
    assert len(local_lambda.invocations) == 1


def test_on_demand_asks_once_per_version_and_survives_a_missing_function(configure, s3, baseline, local_lambda):
    key = f"{PREFIX}/backfill/twice.jpg"
    s3.bucket_client.upload_file(str(baseline), BUCKET, key)
    env = {
        "GIGATILE_MAX_DECODE_PIXELS": 1_000_000,
        "GIGATILE_CONVERT_MIN_PIXELS": 1_000_000,
        "AWS_ENDPOINT_URL_LAMBDA": local_lambda.endpoint,
    }
    params = {"path": "backfill/twice.jpg", "level": 4, "x": 0, "y": 0}
    client = configure(**env, GIGATILE_CONVERT_ON_DEMAND="records-only")  # asked, never converts
    assert [client.get(TILE, params=params).status_code for _ in range(3)] == [503] * 3
    local_lambda.wait()
    assert len(local_lambda.invocations) == 1  # one request per source version per container

    # A function that does not exist: the viewer still gets 503 + Retry-After, nothing breaks,
    # and as nothing was remembered, the next request asks again.
    client = configure(**env, GIGATILE_CONVERT_ON_DEMAND="no-such-function")
    for _ in range(2):
        response = client.get(TILE, params=params)
        assert response.status_code == 503 and response.json()["error"]["code"] == "conversion_pending"
    assert client.get(TILE, params={**params, "level": 1}).status_code == 200


def test_one_run_converts_a_version_at_a_time(configure, s3, baseline, monkeypatch):
    """A run claims the work with a marker S3 writes only if absent: while another run holds
    a fresh claim, the converter skips; a claim older than any run can last is taken over;
    the claim is gone when the run ends."""
    from gigatile.conversion import converter

    key = f"{PREFIX}/claims/scan.jpg"
    s3.bucket_client.upload_file(str(baseline), BUCKET, key)
    configure(GIGATILE_CONVERT_MIN_PIXELS=1_000_000)
    etag = s3.bucket_client.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    claim = f"_pyramids/{key}@{etag}.tif.converting"
    s3.bucket_client.put_object(Bucket=BUCKET, Key=claim, Body=b"")  # another run at work

    (busy,) = converter.handler(s3_event(key), CONVERTER)["results"]
    assert busy["reason"] == "being converted by another run"

    monkeypatch.setattr(converter, "CLAIM_SECONDS", 0)  # that run died long ago
    (taken,) = converter.handler(s3_event(key), CONVERTER)["results"]
    assert taken["status"] == "converted", taken
    listed = s3.bucket_client.list_objects_v2(Bucket=BUCKET, Prefix=f"_pyramids/{PREFIX}/claims/")
    assert [o["Key"] for o in listed["Contents"]] == [f"_pyramids/{key}@{etag}.tif"]  # claim released


def _bytes_read(s3, key_part: str) -> int:
    return sum(record.bytes for record in s3.proxy.gets(key_part))


def test_a_striped_scan_asks_for_its_pyramid_after_reading_only_its_header(configure, s3, tmp_path):
    """A striped LZW file has no stored levels: over the decode budget every view below full
    resolution answers 503 + Retry-After with the converter on (413 with the fix without
    it), after reading its directories only; once converted, the pyramid. (Its
    full-resolution tiles read the strips they cover: test_strips.)"""
    scan = make_striped_scan(tmp_path / "scan.tif")
    key = f"{PREFIX}/striped/scan.tif"
    s3.bucket_client.upload_file(str(scan), BUCKET, key)
    size = scan.stat().st_size
    budget = {"GIGATILE_MAX_DECODE_PIXELS": 4_000_000, "GIGATILE_CONVERT_MIN_PIXELS": 1_000_000}
    views = [{"level": 0, "x": 0, "y": 0}, {"level": 3, "x": 1, "y": 1}, {"level": 5, "x": 10, "y": 8}]

    client = configure(**budget)  # no converter
    for view in views:
        refused = client.get(TILE, params={"path": "striped/scan.tif", **view})
        assert refused.status_code == 413, refused.text
        assert "convert" in refused.json()["error"]["message"]
    assert _bytes_read(s3, "striped/scan.tif") < min(1 << 20, size // 10)

    client = configure(**budget, GIGATILE_CONVERTER=1)
    for view in views:
        pending = client.get(TILE, params={"path": "striped/scan.tif", **view})
        assert pending.status_code == 503 and pending.json()["error"]["code"] == "conversion_pending"
        assert pending.headers["retry-after"]
    assert _bytes_read(s3, "striped/scan.tif") < min(1 << 20, size // 10)

    from gigatile.conversion.converter import handler

    (result,) = handler(s3_event(key), CONVERTER)["results"]
    assert result["status"] == "converted", result
    client = configure(**budget, GIGATILE_CONVERTER=1)  # a new container
    s3.proxy.reset()
    for view in views:
        assert client.get(TILE, params={"path": "striped/scan.tif", **view}).status_code == 200
    # The source's pixels are never read: only its opening reads (the head, whose ETag
    # names the pyramid, and the directory window at its end), then the pyramid's tiles.
    source = [r for r in s3.proxy.gets() if r.path.split("?")[0].endswith(f"/{key}")]
    assert len(source) <= 2 and sum(r.bytes for r in source) < min(1 << 20, size // 10), source
    assert any(f"_pyramids/{key}" in r.path for r in s3.proxy.gets())  # "@" is sent as %40
    low = client.get(TILE, params={"path": "striped/scan.tif", "level": 0, "x": 0, "y": 0, "format": "png"})
    whole = vips().Image.new_from_file(str(scan)).resize(1 / 64, kernel="lanczos3")  # level 0 of 6: 1/64
    got = vips().Image.new_from_buffer(low.content, "")
    assert (got.width, got.height) == (188, 141)
    assert psnr(got, whole.crop(0, 0, 188, 141)) >= 30


def test_a_one_level_tiled_tiff_over_the_budget_asks_for_its_pyramid(configure, s3, baseline, tmp_path):
    """A tiled TIFF without overviews reads its low zooms from full resolution: over the
    budget, 503 + Retry-After with the converter on, 413 naming the fix without."""
    flat = tmp_path / "flat.tif"
    vips().Image.new_from_file(str(baseline)).tiffsave(str(flat), tile=True, compression="jpeg", Q=90)
    s3.bucket_client.upload_file(str(flat), BUCKET, f"{PREFIX}/flat/budget.tif")
    budget = {"GIGATILE_MAX_DECODE_PIXELS": 1_000_000, "GIGATILE_CONVERT_MIN_PIXELS": 1_000_000}
    low = {"path": "flat/budget.tif", "level": 1, "x": 0, "y": 0}
    refused = configure(**budget).get(TILE, params=low)
    assert refused.status_code == 413 and "tiled pyramidal TIFF" in refused.json()["error"]["message"]
    pending = configure(**budget, GIGATILE_CONVERTER=1).get(TILE, params=low)
    assert pending.status_code == 503 and pending.headers["retry-after"]
    full = configure(**budget, GIGATILE_CONVERTER=1).get(TILE, params={**low, "level": 4})
    assert full.status_code == 200  # a tile at full resolution is one stored tile
