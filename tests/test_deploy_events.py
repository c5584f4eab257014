"""Upload events as AWS delivers them to the converter: an S3 notification and the
EventBridge "Object Created" event, each carrying the key URL-encoded as S3 encodes it
(spaces as "+", "+" as "%2B", UTF-8 as %XX). Keys with spaces, plus signs and
non-ASCII letters round-trip: the converter's handler finds the uploaded object on the
S3 server and writes its pyramid under the same key."""

from __future__ import annotations

import copy
import itertools
import json
from urllib.parse import quote_plus, unquote

import pytest

from conftest import BUCKET, PREFIX
from gigatile.conversion.on_demand import conversion_event
from infra.events import EVENTS, LambdaContext

NAMES = ["red flower.jpg", "ünïcødé/草 地.png", "a+b (1)=x&y.jpg"]
RUNS = itertools.count()
CONVERTER = LambdaContext("gigatile-converter")


def s3_encoded(key: str) -> str:
    return quote_plus(key, safe="/")


def notification(key: str, size: int, etag: str) -> dict:
    event = json.loads((EVENTS / "s3-put.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = BUCKET
    record["object"].update(key=s3_encoded(key), size=size, eTag=etag)
    return event


def eventbridge(key: str, size: int, etag: str) -> dict:
    event = json.loads((EVENTS / "eventbridge-s3-object-created.json").read_text())
    event["resources"] = [f"arn:aws:s3:::{BUCKET}"]
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"].update(key=s3_encoded(key), size=size, etag=etag)
    return event


@pytest.fixture
def uploaded(configure, s3, tmp_path):
    """Each name uploaded as a small image the converter takes (no size threshold), in a
    folder of its own per test (the S3 server lives for the session)."""
    from infra.local_stack import pattern

    configure(GIGATILE_CONVERT_MIN_PIXELS=0)
    objects = {}
    folder = f"{PREFIX}/run {next(RUNS)}"
    for i, name in enumerate(NAMES):
        key = f"{folder}/{name}"
        path = tmp_path / f"{i}{key[-4:]}"
        pattern(600, 400, seed=i).write_to_file(str(path))
        s3.bucket_client.upload_file(str(path), BUCKET, key)
        head = s3.bucket_client.head_object(Bucket=BUCKET, Key=key)
        objects[key] = (head["ContentLength"], head["ETag"].strip('"'))
    return objects


@pytest.mark.parametrize("form", [notification, eventbridge], ids=["s3-notification", "eventbridge"])
def test_encoded_keys_round_trip_through_the_converter(uploaded, s3, form):
    from gigatile.conversion.converter import handler

    for key, (size, etag) in uploaded.items():
        event = form(key, size, etag)
        assert key not in json.dumps(event, ensure_ascii=False)  # the payload holds the encoded key only
        (result,) = handler(copy.deepcopy(event), CONVERTER)["results"]
        assert result["key"] == key
        assert result["status"] == "converted", result.get("reason")
        assert result["target"] == f"_pyramids/{key}@{etag}.tif"
        derived = s3.bucket_client.head_object(Bucket=BUCKET, Key=result["target"])
        assert derived["Metadata"]["source-etag"] == etag
        assert unquote(derived["Metadata"]["source-key"]) == key  # S3 metadata is ASCII: percent-encoded
        # Delivered twice (retries, or both forms): one conversion.
        assert handler(event, CONVERTER)["results"][0]["reason"] == "already converted"


def test_the_tilers_own_requests_carry_the_key_as_stored(uploaded):
    from gigatile.conversion.converter import handler

    key = next(k for k in uploaded if "+" in k)  # a "+" must not be decoded a second time
    (result,) = handler(conversion_event(BUCKET, key), CONVERTER)["results"]
    assert result["key"] == key and result["status"] == "converted", result
