"""Query parameters shared by the protocols, declared once, and read in one call.

A route's query parameters are the fields of a `Params` model: `Model.read(request)`
validates them all in one pydantic call, and `Model.openapi()` documents them in the
route's OpenAPI operation. FastAPI reads each parameter it is given separately, ≈ 5 µs
for every declared parameter of every request, sent or not (docs/performance.md,
"Request path"): the simple tile's nine were a fifth of a pass-through tile's handler
time. The validation is pydantic's either way: same types, constraints, defaults and
error messages (a failure is the RequestValidationError FastAPI would raise, answered
by http/errors.py).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Self

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidParameter
from ..imaging.plan import StretchRequest
from ..service import Tiler


class Params(BaseModel):
    """A route's query parameters, one field each (the alias, if any, is the key)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def read(cls, request: Request) -> Self:
        """The request's parameters, or the RequestValidationError FastAPI raises for its
        own query parameters (locations under "query"), so that errors read alike."""
        try:
            return cls.model_validate(request.query_params)
        except ValidationError as exc:
            errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None

    @classmethod
    def openapi(cls) -> dict[str, Any]:
        """The `openapi_extra` of a route reading these: one query parameter per field,
        with its JSON schema (type, constraints, default) as FastAPI would write it."""
        schema = cls.model_json_schema()
        assert "$defs" not in schema, "parameter types are inline schemas"  # no references to resolve
        required = set(schema.get("required", ()))
        parameters = []
        for name, field in schema["properties"].items():
            parameter = {"name": name, "in": "query", "required": name in required, "schema": field}
            if "description" in field:
                parameter["description"] = field["description"]
            parameters.append(parameter)
        return {"parameters": parameters}


ImageId = Annotated[
    str, Field(alias="path", min_length=1, max_length=1024, description="image id (key under the prefix)")
]
TileSize = Annotated[int, Field(ge=64, le=1024)]
Quality = Annotated[int | None, Field(ge=1, le=100, description="default 90, or a stored tile's own")]
Page = Annotated[int, Field(ge=0, le=65535, description="frame of a GIF or animated WebP, page of a multi-page TIFF")]
Format = Annotated[str, Field(max_length=8)]

STRETCH_HELP = (
    "display stretch of non-8-bit data: `bands:3,2,1;range:0,3000` — bands (1-based, 1 or 3 of them) "
    "and/or value ranges (min,max once for all bands, or once per band); default: the image's own (meta)"
)
MAX_STRETCH = 300
# ASCII digits only: str.isdigit() and re's \d accept "²" and "١", which int() then refuses.
NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?$", re.ASCII)
BAND = re.compile(r"^\d{1,3}$", re.ASCII)
MAX_BANDS = 255


def parse_stretch(text: str | None) -> StretchRequest | None:
    """`bands:B[,B,B];range:MIN,MAX[,MIN,MAX,MIN,MAX]`, either part optional, validated
    strictly (400): whether the bands exist is checked against the image when rendering."""
    if text is None:
        return None

    def bad(reason: str) -> InvalidParameter:
        return InvalidParameter(f"stretch: {reason} (expected e.g. `bands:3,2,1;range:0,3000`)")

    if not text or len(text) > MAX_STRETCH:
        raise bad(f"empty or longer than {MAX_STRETCH} characters")
    parts: dict[str, list[str]] = {}
    for part in text.split(";"):
        name, sep, value = part.partition(":")
        if not sep or name not in ("bands", "range"):
            raise bad(f"{part!r} is not `bands:…` or `range:…`")
        if name in parts:
            raise bad(f"`{name}` given twice")
        parts[name] = value.split(",")
    bands = None
    if "bands" in parts:
        if not all(BAND.match(b) and 1 <= int(b) <= MAX_BANDS for b in parts["bands"]):
            raise bad(f"bands are band numbers 1…{MAX_BANDS}")
        if len(parts["bands"]) not in (1, 3):
            raise bad("give 1 band (grey) or 3 (red, green, blue)")
        bands = tuple(int(b) - 1 for b in parts["bands"])
    ranges = None
    if "range" in parts:
        values = parts["range"]
        if not all(NUMBER.match(v) for v in values) or len(values) % 2:
            raise bad("a range is min,max as finite decimal numbers, once or once per band")
        numbers = [float(v) for v in values]
        if not all(math.isfinite(n) for n in numbers):
            raise bad("range values must be finite")
        ranges = tuple(zip(numbers[::2], numbers[1::2], strict=True))
        if not all(lo < hi for lo, hi in ranges):
            raise bad("each range's min must be below its max")
        if bands is not None and len(ranges) not in (1, len(bands)):
            raise bad(f"{len(ranges)} ranges for {len(bands)} bands (give 1 or {len(bands)})")
    return StretchRequest(bands, ranges)


Stretch = Annotated[str | None, Field(max_length=MAX_STRETCH, description=STRETCH_HELP)]


def tiler_of(request: Request) -> Tiler:
    """The app's one Tiler (and through it, its Settings), made by create_app. Read from the
    app rather than injected as a FastAPI dependency: FastAPI solves a dependency anew on
    every request, a measurable share of a pass-through tile (docs/performance.md)."""
    return request.app.state.tiler
