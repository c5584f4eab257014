"""Signed access: off by default; with keys, every route needs a token for its image."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from gigatile.cli import main as cli
from gigatile.errors import AccessDenied
from gigatile.http.signing import sign, verify

OLD, NEW = "o" * 32, "n" * 32
TILE = "/api/v1/image/tile"


def test_verify_rules():
    now = time.time()
    good = sign(NEW, "pyr.tif", int(now) + 60)
    verify((NEW,), good, "pyr.tif", now)
    verify((NEW, OLD), sign(OLD, "pyr.tif", int(now) + 60), "pyr.tif", now)  # rotation: old still good
    prefix = sign(NEW, "nested/", int(now) + 60)
    verify((NEW,), prefix, "nested/dir photo.jpg", now)
    for token, image, why in [
        (good, "photo.jpg", "another image"),
        (prefix, "pyr.tif", "outside the prefix"),
        (sign(NEW, "pyr.tif", int(now) - 1), "pyr.tif", "expired"),
        (sign(OLD, "pyr.tif", int(now) + 60), "pyr.tif", "key no longer accepted"),
        (good[:-1] + ("A" if good[-1] != "A" else "B"), "pyr.tif", "tampered signature"),
        (str(int(now) + 99999) + good[good.index(".") :], "pyr.tif", "tampered expiry"),
        (prefix.rsplit(".", 1)[0] + ".cHlyLnRpZg", "pyr.tif", "scope swapped for a non-prefix"),
        ("", "pyr.tif", "missing"),
        ("abc", "pyr.tif", "malformed"),
        ("1.2.3.4", "pyr.tif", "malformed"),
        ("x.y", "pyr.tif", "malformed expiry"),
    ]:
        with pytest.raises(AccessDenied):
            verify((NEW,), token, image, now)
            pytest.fail(why)


def test_routes_need_a_token_for_their_image(configure):
    client = configure(GIGATILE_SIGNING_KEYS=f"{NEW},{OLD}")
    token = sign(NEW, "pyr.tif", int(time.time()) + 300)
    other = sign(NEW, "photo.jpg", int(time.time()) + 300)
    urls = {
        "meta": "/api/v1/image/meta?path=pyr.tif",
        "tile": f"{TILE}?path=pyr.tif&level=5&x=1&y=1",
        "dzi": "/dzi/pyr.tif.dzi",
        "dz-tile": "/dzi/pyr.tif_files/13/1_1.jpeg",
        "info": "/iiif/3/pyr.tif/info.json",
        "iiif": "/iiif/3/pyr.tif/0,0,256,256/256,/0/default.jpg",
    }
    for name, url in urls.items():
        sep = "&" if "?" in url else "?"
        denied = client.get(url)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "access_denied", name
        assert client.get(f"{url}{sep}token={other}").status_code == 403, name
        assert client.get(f"{url}{sep}token={token}").status_code == 200, name


def test_iiif_path_token_stays_in_the_info_id(configure):
    client = configure(GIGATILE_SIGNING_KEYS=NEW)
    token = sign(NEW, "pyr.tif", int(time.time()) + 300)
    info = client.get(f"/iiif/3/t:{token}/pyr.tif/info.json")
    assert info.status_code == 200
    service = info.json()["id"]
    assert service.endswith(f"/iiif/3/t:{token}/pyr.tif")
    # A viewer appends region/size/rotation/quality to the id: the token rides along.
    path = service.split("/iiif/3/", 1)[1]
    assert client.get(f"/iiif/3/{path}/0,0,256,256/256,/0/default.jpg").status_code == 200
    assert client.get("/iiif/3/t:nonsense/pyr.tif/info.json").status_code == 403


def test_off_by_default_and_cli_mints_tokens(client, monkeypatch, capsys):
    assert client.get(f"{TILE}?path=pyr.tif&level=5&x=1&y=1").status_code == 200
    monkeypatch.setenv("GIGATILE_SIGNING_KEYS", NEW)
    cli(["token", "nested/", "--ttl", "60"])
    token = capsys.readouterr().out.strip()
    verify((NEW,), token, "nested/dir photo.jpg")
    assert quote(token, safe="") == token  # URL-safe as it is
