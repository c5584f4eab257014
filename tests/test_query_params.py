"""The query parameters the routes read in one call (protocols.params.Params): the OpenAPI
schema still documents every one with its type and constraints, and every documented
bound is the one the route enforces, with the error FastAPI's own reading gave."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigatile.app import create_app
from gigatile.config import Settings

# Only the schema is read here: any existing folder does as the source.
SCHEMA = create_app(Settings.from_env({"GIGATILE_SOURCE": str(Path(__file__).parent)})).openapi()

INTEGER = {"type": "integer"}
QUALITY = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 100}, {"type": "null"}]}
FORMAT = {"type": "string", "maxLength": 8, "default": "jpeg"}
PAGE = {"type": "integer", "minimum": 0, "maximum": 65535, "default": 0}
IMAGE_ID = {"type": "string", "minLength": 1, "maxLength": 1024}
TILE = {
    "path": (True, IMAGE_ID),
    "level": (True, {**INTEGER, "minimum": 0}),
    "x": (True, {**INTEGER, "minimum": 0}),
    "y": (True, {**INTEGER, "minimum": 0}),
    "tile_size": (False, {**INTEGER, "minimum": 64, "maximum": 1024, "default": 256}),
    "quality": (False, QUALITY),
    "format": (False, FORMAT),
    "page": (False, PAGE),
    "v": (False, {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]}),
}
SIDE = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "null"}]}
# path → {query key: (required, what its schema must hold)}, in the order documented.
EXPECTED = {
    "/api/v1/image/meta": {
        "path": (True, IMAGE_ID),
        "tile_size": (False, {**INTEGER, "minimum": 64, "maximum": 1024, "default": 256}),
        "page": (False, PAGE),
    },
    "/api/v1/image/tile": TILE,
    "/api/v1/image/tile/{stretch}": TILE,
    "/api/v1/image/thumbnail": {
        "path": (True, IMAGE_ID),
        "width": (False, SIDE),
        "height": (False, SIDE),
        "fit": (False, {"enum": ["contain", "cover"], "type": "string", "default": "contain"}),
        "format": (False, FORMAT),
        "quality": (False, QUALITY),
        "page": (False, PAGE),
        "icc": (False, {"enum": ["srgb", "keep"], "type": "string", "default": "srgb"}),
    },
    "/api/v1/image/associated/{name}": {
        "path": (True, IMAGE_ID),
        "format": (False, FORMAT),
        "quality": (False, QUALITY),
    },
    "/dzi/{path}": {
        "tile_size": (False, {"anyOf": [{"type": "integer", "minimum": 64, "maximum": 1024}, {"type": "null"}]}),
        "overlap": (False, {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2}, {"type": "null"}]}),
        "format": (False, FORMAT),
        "quality": (False, QUALITY),
        "page": (False, PAGE),
        "stretch": (False, {"anyOf": [{"type": "string", "maxLength": 300}, {"type": "null"}]}),
    },
}


def query_parameters(path: str) -> list[dict]:
    return [p for p in SCHEMA["paths"][path]["get"]["parameters"] if p["in"] == "query"]


def holds(schema: dict, wanted: dict) -> bool:
    """`schema` says at least what `wanted` says (descriptions and titles may be added)."""
    if "anyOf" in wanted:
        return len(schema.get("anyOf", ())) == len(wanted["anyOf"]) and all(
            holds(s, w) for s, w in zip(schema["anyOf"], wanted["anyOf"], strict=True)
        )
    return wanted.items() <= schema.items()


@pytest.mark.parametrize("path", EXPECTED)
def test_the_schema_documents_every_query_parameter_with_its_type_and_bounds(path):
    documented = query_parameters(path)
    assert [p["name"] for p in documented] == list(EXPECTED[path])
    for parameter in documented:
        required, wanted = EXPECTED[path][parameter["name"]]
        assert parameter["required"] is required, parameter
        assert holds(parameter["schema"], wanted), parameter


def test_described_parameters_keep_their_description():
    path = {p["name"]: p for p in query_parameters("/api/v1/image/tile")}["path"]
    assert path["description"] == path["schema"]["description"] == "image id (key under the prefix)"


# A documented bound, crossed: (route, good query, key, value) → the message FastAPI gave.
CROSSED = [
    ("/api/v1/image/tile", "level", "-1", "level: Input should be greater than or equal to 0"),
    ("/api/v1/image/tile", "tile_size", "1025", "tile_size: Input should be less than or equal to 1024"),
    ("/api/v1/image/tile", "quality", "0", "quality: Input should be greater than or equal to 1"),
    ("/api/v1/image/tile", "format", "x" * 9, "format: String should have at most 8 characters"),
    ("/api/v1/image/tile", "page", "65536", "page: Input should be less than or equal to 65535"),
    ("/api/v1/image/tile", "v", "x" * 201, "v: String should have at most 200 characters"),
    (
        "/api/v1/image/tile",
        "x",
        "abc",
        "x: Input should be a valid integer, unable to parse string as an integer",
    ),
    ("/api/v1/image/tile/bands:1", "y", "-1", "y: Input should be greater than or equal to 0"),
    ("/api/v1/image/meta", "tile_size", "63", "tile_size: Input should be greater than or equal to 64"),
    ("/api/v1/image/thumbnail", "width", "0", "width: Input should be greater than or equal to 1"),
    ("/api/v1/image/thumbnail", "fit", "fill", "fit: Input should be 'contain' or 'cover'"),
    ("/api/v1/image/thumbnail", "icc", "cmyk", "icc: Input should be 'srgb' or 'keep'"),
    ("/api/v1/image/associated/label", "quality", "101", "quality: Input should be less than or equal to 100"),
    ("/dzi/pyr.tif.dzi", "overlap", "3", "overlap: Input should be less than or equal to 2"),
    ("/dzi/pyr.tif_files/13/0_0.jpeg", "tile_size", "63", "tile_size: Input should be greater than or equal to 64"),
    ("/dzi/pyr.tif.dzi", "stretch", "x" * 301, "stretch: String should have at most 300 characters"),
]
GOOD = {"path": "pyr.tif", "level": "5", "x": "1", "y": "1", "width": "64"}


@pytest.mark.parametrize(("url", "key", "value", "message"), CROSSED, ids=[f"{u}:{k}" for u, k, _, _ in CROSSED])
def test_a_crossed_bound_is_400_naming_the_key(client, url, key, value, message):
    query = {} if url.startswith("/dzi/") else dict(GOOD)
    response = client.get(url, params={**query, key: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"code": "invalid_parameter", "message": message}


def test_several_bad_parameters_are_named_together(client):
    response = client.get("/api/v1/image/tile", params={"level": "-1", "x": "a"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "path: Field required; level: Input should be greater than or equal to 0; "
        "x: Input should be a valid integer, unable to parse string as an integer"
    )


def test_unknown_keys_are_ignored_and_defaults_apply(client):
    plain = client.get("/api/v1/image/tile", params={**GOOD, "unknown": "1"})
    explicit = client.get("/api/v1/image/tile", params={**GOOD, "tile_size": "256", "format": "jpeg", "page": "0"})
    assert plain.status_code == explicit.status_code == 200
    assert plain.headers["etag"] == explicit.headers["etag"] and plain.content == explicit.content
