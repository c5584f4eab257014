"""/api/v1/image/thumbnail against `vips thumbnail` (libvips' own) on the same files, read
from the S3 server on loopback: JPEG, PNG with alpha, WebP, CMYK JPEG, 16-bit PNG, and the
EXIF orientation, ICC profiles, metadata, cache headers and limits around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local_stack import pattern
from tests.conftest import BUCKET, PREFIX
from tests.helpers import decode, psnr

THUMB = "/api/v1/image/thumbnail"
W, H = 1600, 1200


@pytest.fixture(scope="module")
def thumb_files(s3, tmp_path_factory) -> dict[str, Path]:
    """Files made by libvips from one picture, uploaded under thumbs/."""
    from gigatile.vips import vips

    pyvips = vips()
    folder = tmp_path_factory.mktemp("thumbs")
    picture = pattern(W, H, seed=5)
    alpha = (pyvips.Image.xyz(W, H)[0] * 255 / W).cast("uchar")
    # Saturated colours, where Display P3 and sRGB values differ most.
    vivid = ((picture - 127) * 3 + 127).cast("uchar").copy(interpretation="srgb")
    upright = picture.copy()
    upright.set_type(pyvips.GValue.gint_type, "orientation", 6)  # "turn 90° clockwise to view"
    writers = {
        "photo.jpg": lambda p: picture.jpegsave(p, Q=92),
        "alpha.png": lambda p: picture.bandjoin(alpha).pngsave(p),
        "photo.webp": lambda p: picture.webpsave(p, Q=92),
        # CMYK through libvips' built-in CMYK profile, which the JPEG then carries.
        "cmyk.jpg": lambda p: picture.icc_export(output_profile="cmyk").jpegsave(p, Q=92),
        "deep.png": lambda p: (picture.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16").pngsave(p),
        # Display P3 values with their profile: the same colours as vivid.jpg once converted.
        "vivid.jpg": lambda p: vivid.jpegsave(p, Q=92),
        "p3.jpg": lambda p: vivid.icc_export(output_profile="p3").jpegsave(p, Q=92),
        "rotated.jpg": lambda p: upright.jpegsave(p, Q=92),
    }
    files = {}
    for name, write in writers.items():
        path = folder / name
        write(str(path))
        s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/thumbs/{name}")
        files[name] = path
    return files


def vips_thumbnail(path: Path, width: int, height: int, fit: str):
    from gigatile.vips import vips

    crop = "centre" if fit == "cover" else "none"
    image = vips().Image.thumbnail(str(path), width, height=height, size="down", crop=crop)
    return comparable(image.copy_memory())


def comparable(image):
    """8-bit sRGB, flattened onto grey when transparent: what a viewer shows. (Colour under
    alpha 0 is invisible, and libvips' thumbnail keeps premultiplied pixels in 8 bits.)"""
    if image.format != "uchar" or image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    return image.flatten(background=128) if image.hasalpha() else image


def get_thumbnail(client, name: str, **params):
    response = client.get(THUMB, params={"path": f"thumbs/{name}", **params})
    assert response.status_code == 200, response.text
    return response, decode(response.content)


@pytest.mark.parametrize("name", ["photo.jpg", "alpha.png", "photo.webp", "cmyk.jpg", "deep.png", "rotated.jpg"])
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
    assert read < images["pyr.tif"].stat().st_size / 10
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
