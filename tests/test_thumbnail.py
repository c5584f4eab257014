"""/api/v1/image/thumbnail against `vips thumbnail` (libvips' own) on the same files, read
from the S3 server on loopback: JPEG, PNG with alpha, WebP, CMYK JPEG, 16-bit PNG, and the
EXIF orientation, ICC profiles, metadata, cache headers and limits around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.pixels import decode, psnr
from infra.thumbnail_samples import HEIGHT as H
from infra.thumbnail_samples import WIDTH as W
from infra.thumbnail_samples import comparable, vips_thumbnail, write_samples
from tests.conftest import BUCKET, PREFIX

THUMB = "/api/v1/image/thumbnail"


@pytest.fixture(scope="module")
def thumb_files(s3, tmp_path_factory) -> dict[str, Path]:
    files = write_samples(tmp_path_factory.mktemp("thumbs"))
    for name, path in files.items():
        s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/thumbs/{name}")
    return files


def get_thumbnail(client, name: str, **params):
    response = client.get(THUMB, params={"path": f"thumbs/{name}", **params})
    assert response.status_code == 200, response.text
    return response, decode(response.content)


@pytest.mark.parametrize(
    "name", ["photo.jpg", "alpha.png", "photo.webp", "cmyk.jpg", "deep.png", "rotated.jpg", "p3.jpg"]
)
@pytest.mark.parametrize(("fit", "width", "height"), [("contain", 300, 300), ("cover", 300, 200), ("contain", 500, 0)])
def test_matches_vips_thumbnail(client, thumb_files, name, fit, width, height):
    params = {"width": width, "fit": fit, "format": "png"} | ({"height": height} if height else {})
    response, ours = get_thumbnail(client, name, **params)
    reference = vips_thumbnail(thumb_files[name], width, height or 10_000_000, fit)
    assert (ours.width, ours.height) == (reference.width, reference.height)
    assert (response.headers["x-image-width"], response.headers["x-image-height"]) == (
        str(ours.width),
        str(ours.height),
    )
    assert ours.bands == (4 if name == "alpha.png" else 3)
    assert psnr(comparable(ours), reference) >= 35


def test_exif_orientation_is_applied_and_dropped(client, thumb_files):
    _, turned = get_thumbnail(client, "rotated.jpg", width=300, height=300, format="jpeg")
    _, plain = get_thumbnail(client, "photo.jpg", width=300, height=300, format="jpeg")
    assert (turned.width, turned.height) == (225, 300)  # portrait: the stored image is 1600 × 1200
    assert psnr(turned, plain.rot("d90")) >= 35
    assert not {"exif-data", "orientation", "icc-profile-data", "xmp-data"} & set(turned.get_fields())


def test_icc_profiles_are_converted_to_srgb_or_kept(client, thumb_files):
    _, plain = get_thumbnail(client, "vivid.jpg", width=400, format="png")
    _, converted = get_thumbnail(client, "p3.jpg", width=400, format="png")
    _, kept = get_thumbnail(client, "p3.jpg", width=400, format="png", icc="keep")
    assert "icc-profile-data" not in converted.get_fields()
    assert "icc-profile-data" in kept.get_fields()  # P3 values, with the profile that says so
    # Converted, the P3 file looks like the sRGB original; its raw values do not.
    assert psnr(converted, plain) >= 35
    assert psnr(kept, plain) < psnr(converted, plain) - 5
    _, photo = get_thumbnail(client, "photo.jpg", width=400, format="png")
    _, cmyk = get_thumbnail(client, "cmyk.jpg", width=400, format="png")
    assert cmyk.interpretation == "srgb" and cmyk.bands == 3
    assert psnr(cmyk, photo) >= 35


def test_never_enlarges_and_cover_needs_no_second_side(client, thumb_files):
    _, big = get_thumbnail(client, "photo.jpg", width=5000, height=5000)
    assert (big.width, big.height) == (W, H)
    _, wide = get_thumbnail(client, "photo.jpg", width=160, fit="cover")
    assert (wide.width, wide.height) == (160, 120)
    _, tall = get_thumbnail(client, "photo.jpg", height=60)
    assert (tall.width, tall.height) == (80, 60)


def test_formats_and_quality(client, thumb_files):
    sizes = {}
    for fmt, media in [("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp"), ("avif", "image/avif")]:
        response, image = get_thumbnail(client, "alpha.png", width=200, format=fmt)
        assert response.headers["content-type"] == media
        assert image.bands == (3 if fmt == "jpeg" else 4)  # JPEG flattened onto white
        sizes[fmt] = len(response.content)
    low, _ = get_thumbnail(client, "photo.jpg", width=400, quality=30)
    high, _ = get_thumbnail(client, "photo.jpg", width=400, quality=95)
    assert len(low.content) < len(high.content) / 2


def test_cache_headers_and_conditional_requests(client, thumb_files):
    response, _ = get_thumbnail(client, "photo.jpg", width=200)
    etag = response.headers["etag"]
    assert "max-age" in response.headers["cache-control"]
    again = client.get(THUMB, params={"path": "thumbs/photo.jpg", "width": 200}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other, _ = get_thumbnail(client, "photo.jpg", width=201)
    assert other.headers["etag"] != etag


def test_pyramids_are_read_at_the_smallest_adequate_level(client, s3, images):
    """A 256 px thumbnail of the 3000 × 5000 pyramid reads its small levels, not level 0."""
    s3.proxy.reset()
    response = client.get(THUMB, params={"path": "pyr.tif", "width": 256, "height": 256})
    assert response.status_code == 200
    read = sum(r.bytes for r in s3.proxy.gets("pyr.tif"))
    # Level 0 is 80 % of the file; the open reads the header, the first IFD's window and
    # the file's tail (where the small levels lie) in 256 KiB blocks: ~17 % of this small file.
    assert read < images["pyr.tif"].stat().st_size / 4
    assert decode(response.content).height == 256


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "invalid_parameter"),  # neither width nor height
        ({"width": 0}, 400, "invalid_parameter"),
        ({"width": 100, "fit": "stretch"}, 400, "invalid_parameter"),
        ({"width": 100, "icc": "cmyk"}, 400, "invalid_parameter"),
        ({"width": 100, "format": "gif"}, 400, "invalid_parameter"),
        ({"width": 100, "quality": 0}, 400, "invalid_parameter"),
        ({"width": 100, "page": 1}, 404, "page_not_found"),  # a JPEG has one page
        ({"width": 100, "path": "thumbs/nope.jpg"}, 404, "image_not_found"),
        ({"width": 100, "path": "truncated.jpg"}, 415, "unsupported_image"),
    ],
)
def test_bad_requests(client, thumb_files, params, status, code):
    response = client.get(THUMB, params={"path": "thumbs/photo.jpg"} | params)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert client.get(THUMB, params={"path": "thumbs/photo.jpg", "width": 64}).status_code == 200


def test_output_limits(configure, thumb_files):
    client = configure(GIGATILE_MAX_OUTPUT_SIDE=500)
    response = client.get(THUMB, params={"path": "thumbs/photo.jpg", "width": 1000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert client.get(THUMB, params={"path": "thumbs/photo.jpg", "width": 500}).status_code == 200


def test_a_broken_icc_profile_is_ignored(client, s3, tmp_path):
    """A JPEG whose APP2 profile is garbage: libvips drops it at load, the thumbnail is made
    from the stored values (200, not a 415), with or without conversion."""
    from gigatile.vips import vips
    from infra.local_stack import pattern

    pyvips = vips()
    image = pattern(400, 300, seed=2).copy()
    image.set_type(pyvips.GValue.blob_type, "icc-profile-data", bytes(range(256)) * 3)
    image.jpegsave(str(tmp_path / "badicc.jpg"), Q=90)
    s3.bucket_client.upload_file(str(tmp_path / "badicc.jpg"), BUCKET, f"{PREFIX}/thumbs/badicc.jpg")
    for icc in ("srgb", "keep"):
        _, thumb = get_thumbnail(client, "badicc.jpg", width=100, icc=icc)
        assert (thumb.width, thumb.height) == (100, 75)
        assert "icc-profile-data" not in thumb.get_fields()
