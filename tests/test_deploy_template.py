"""template.yaml read as CloudFormation will read it, for the values each parameter can
take: the IAM statements decide what the functions may read, list and write (a tiny
evaluator of Allow statements, with StringLike conditions); CloudFront's account-wide
names differ between stacks; the converter's failures reach the queue; the authorizer's
and the CloudFront function's code run on sample events (the latter under node)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gigatile.config import Source
from infra.events import EVENTS

ROOT = Path(__file__).resolve().parents[1]


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)
TEMPLATE = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]


class Stack:
    """The template's values for one set of parameters, region and stack id."""

    def __init__(self, region: str = "us-east-1", name: str = "gigatile", uuid: str = "", **parameters: str):
        uuid = uuid or "1c2fa620-982a-11e3-aff7-50e2416294e0"
        self.values = {k: str(v.get("Default", "")) for k, v in PARAMETERS.items()} | parameters
        self.values |= {
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:123456789012:stack/{name}/{uuid}",
            "ImagesBucket": f"{name}-imagesbucket-abc123",
        }
        self.conditions = {k: self(v) for k, v in TEMPLATE["Conditions"].items()}

    def __call__(self, node):  # noqa: C901 (one branch per intrinsic)
        if isinstance(node, list):
            return [self(n) for n in node]
        if not isinstance(node, dict):
            return node
        (kind, arg), *more = node.items()
        intrinsic = kind == "Ref" or kind.startswith("Fn::") or (kind == "Condition" and isinstance(arg, str))
        if more or not intrinsic:
            return {k: self(v) for k, v in node.items()}
        if kind == "Ref":
            return self.values.get(arg, f"<{arg}>")
        if kind == "Condition":
            return self.conditions[arg]
        if kind == "Fn::Equals":
            a, b = self(arg)
            return a == b
        if kind == "Fn::Not":
            return not self(arg[0])
        if kind == "Fn::If":
            name, yes, no = arg
            return self(yes if self.conditions[name] else no)
        if kind == "Fn::Select":
            index, items = self(arg)
            return items[int(index)]
        if kind == "Fn::Split":
            sep, text = self(arg)
            return text.split(sep)
        if kind == "Fn::GetAtt":
            return f"<{'.'.join(arg)}>"
        if kind == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self(v) for k, v in arg[1].items()})
            scope = self.values | extra

            def value(match: re.Match) -> str:
                name = match.group(1)
                if name in scope:
                    return str(scope[name])
                return f"<{name}>"  # a resource's Ref or attribute

            return re.sub(r"\$\{([^}!]+)\}", value, text)
        raise AssertionError(f"no evaluator for {kind}")

    def resource(self, name: str) -> dict:
        return self(RESOURCES[name]["Properties"])

    def statements(self, function: str) -> list[dict]:
        return [s for policy in self.resource(function)["Policies"] for s in policy["Statement"]]

    def bucket(self) -> str:
        return self.values["SourceBucket"] or self.values["ImagesBucket"]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def allowed(statements: list[dict], action: str, resource: str, context: dict | None = None) -> bool:
    """Whether any Allow statement grants it: wildcards in actions and resources as IAM
    matches them, StringLike conditions against the request context (a missing key fails)."""
    context = context or {}
    for s in statements:
        assert s["Effect"] == "Allow"
        if not any(fnmatch.fnmatchcase(action, a) for a in _listed(s["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _listed(s["Resource"])):
            continue
        conditions = s.get("Condition", {})
        assert set(conditions) <= {"StringLike"}, conditions
        like = conditions.get("StringLike", {})
        if all(
            key in context and any(fnmatch.fnmatchcase(context[key], p) for p in _listed(v)) for key, v in like.items()
        ):
            return True
    return False


def can_get(statements: list[dict], stack: Stack, key: str) -> bool:
    return allowed(statements, "s3:GetObject", f"arn:aws:s3:::{stack.bucket()}/{key}")


def knows_missing(statements: list[dict], stack: Stack, key: str) -> bool:
    """S3 answers a missing key 404 (not 403) when the caller may list it."""
    return allowed(statements, "s3:ListBucket", f"arn:aws:s3:::{stack.bucket()}", {"s3:prefix": key})


# ---------------------------------------------------------------------------- SourcePrefix

PREFIX_PATTERN = PARAMETERS["SourcePrefix"]["AllowedPattern"]


@pytest.mark.parametrize("value", ["", "images", "scans/2024", "a.b-c_d/e", "_pyramidsX", "images_pyramids"])
def test_source_prefix_accepts(value):
    assert re.fullmatch(PREFIX_PATTERN, value)


@pytest.mark.parametrize(
    "value", ["/images", "images/", "/", "a//b", "_pyramids", "_pyramids/x", "a b", "ima*", "a?b", "é", "a/../b/"]
)
def test_source_prefix_refuses(value):
    assert not re.fullmatch(PREFIX_PATTERN, value)


def test_every_default_is_valid_and_nothing_is_asked_hidden():
    """`sam deploy --guided` repeats a NoEcho question on an empty answer; a default that
    breaks its own constraint fails at deploy."""
    for name, p in PARAMETERS.items():
        assert not p.get("NoEcho"), name
        assert "Default" in p, name
        default = p["Default"]
        if "AllowedPattern" in p:
            assert re.fullmatch(p["AllowedPattern"], str(default)), name
        if "AllowedValues" in p:
            assert default in p["AllowedValues"], name
        if p["Type"] == "Number":
            assert p.get("MinValue", default) <= default <= p.get("MaxValue", default), name


# ------------------------------------------------------------------------------ IAM policy

PREFIXES = [("images", "images/"), ("scans/2024", "scans/2024/"), ("", "")]


@pytest.mark.parametrize("bucket", ["", "existing-bucket"])
@pytest.mark.parametrize(("prefix", "key_prefix"), PREFIXES)
def test_tiler_reads_and_lists_only_its_prefix_and_pyramids(bucket, prefix, key_prefix):
    stack = Stack(SourceBucket=bucket, SourcePrefix=prefix)
    tiler = stack.statements("TilerFunction")
    env = stack.resource("TilerFunction")["Environment"]["Variables"]
    source = Source.parse(env["GIGATILE_SOURCE"])
    assert (source.bucket, source.prefix) == (stack.bucket(), key_prefix)  # the app reads what IAM grants

    image, pyramid = f"{key_prefix}case 1/slide.tif", f"_pyramids/{key_prefix}case 1/slide.tif@abc.tif"
    for key in (image, pyramid):
        assert can_get(tiler, stack, key), key
        assert knows_missing(tiler, stack, key), key  # a missing image is 404, not 403
    assert not allowed(tiler, "s3:PutObject", f"arn:aws:s3:::{stack.bucket()}/{image}")
    assert not allowed(tiler, "s3:DeleteObject", f"arn:aws:s3:::{stack.bucket()}/{pyramid}")
    assert not allowed(tiler, "s3:GetObject", f"arn:aws:s3:::another-bucket/{image}")
    if prefix:
        for outside in ("other/slide.tif", f"{prefix}-old/slide.tif", f"{prefix}.tif", "_pyramids/other/x.tif"):
            assert not can_get(tiler, stack, outside), outside
            assert not knows_missing(tiler, stack, outside), outside
    # Listing is only ever of the source bucket, and never without a prefix in the request.
    assert not allowed(tiler, "s3:ListBucket", f"arn:aws:s3:::{stack.bucket()}")
    assert not allowed(tiler, "s3:ListBucket", "arn:aws:s3:::another-bucket", {"s3:prefix": image})
    actions = {a for s in tiler for a in _listed(s["Action"])}
    assert actions == {"s3:GetObject", "s3:ListBucket", "lambda:InvokeFunction"}
    invoke = [s for s in tiler if s["Action"] == "lambda:InvokeFunction"]
    assert [s["Resource"] for s in invoke] == ["<ConverterFunction.Arn>"]


@pytest.mark.parametrize(("prefix", "key_prefix"), PREFIXES)
def test_converter_writes_only_pyramids(prefix, key_prefix):
    stack = Stack(SourcePrefix=prefix)
    converter = stack.statements("ConverterFunction")
    image, pyramid = f"{key_prefix}big.jpg", f"_pyramids/{key_prefix}big.jpg@abc.tif"
    assert can_get(converter, stack, image) and can_get(converter, stack, pyramid)
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert allowed(converter, action, f"arn:aws:s3:::{stack.bucket()}/{pyramid}")
        assert allowed(converter, action, f"arn:aws:s3:::{stack.bucket()}/{pyramid}.converting")
        assert not allowed(converter, action, f"arn:aws:s3:::{stack.bucket()}/{image}")
    assert knows_missing(converter, stack, pyramid)
    if prefix:
        assert not allowed(converter, "s3:PutObject", f"arn:aws:s3:::{stack.bucket()}/_pyramids/other/x.tif")


@pytest.mark.parametrize(("prefix", "key_prefix"), PREFIXES)
def test_upload_events_of_the_prefix_start_the_converter_and_its_own_output_never_does(prefix, key_prefix):
    stack = Stack(SourcePrefix=prefix)
    pattern = stack.resource("ConverterFunction")["Events"]["ImageUploaded"]["Properties"]["Pattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [stack.bucket()]

    def matches(key: str) -> bool:  # EventBridge's prefix / anything-but-prefix filters
        for rule in pattern["detail"]["object"]["key"]:
            if "prefix" in rule and key.startswith(rule["prefix"]):
                return True
            if "anything-but" in rule and not key.startswith(rule["anything-but"]["prefix"]):
                return True
        return False

    assert matches(f"{key_prefix}scan.jpg")
    assert not matches(f"_pyramids/{key_prefix}scan.jpg@abc.tif")
    if prefix:
        assert not matches("other/scan.jpg")


# ------------------------------------------------------------------------------ names


def cloudfront_names(stack: Stack) -> dict[str, str]:
    names = {}
    for logical, resource in RESOURCES.items():
        if resource["Type"].startswith("AWS::CloudFront::") and resource["Type"] != "AWS::CloudFront::Distribution":
            properties = stack.resource(logical)
            config = next((v for k, v in properties.items() if k.endswith("Config") and "Name" in v), properties)
            names[logical] = config["Name"]
    return names


def test_cloudfront_names_differ_between_regions_and_stacks():
    same_name_two_regions = [
        Stack("us-east-1", uuid="11111111-1111-1111-1111-111111111111"),
        Stack("eu-west-1", uuid="22222222-2222-2222-2222-222222222222"),
    ]
    two_in_one_region = [Stack(name="tiles-a", uuid="33333333-3333-3333-3333-333333333333")]
    stacks = (
        same_name_two_regions
        + two_in_one_region
        + [Stack(name="x" * 128, uuid="4" * 8 + "-4444-4444-4444-" + "4" * 12)]
    )
    seen: set[str] = set()
    for stack in stacks:
        names = cloudfront_names(stack)
        assert set(names) >= {"TileCachePolicy", "DeepZoomCachePolicy", "ThumbnailCachePolicy", "ViewerHostFunction"}
        uuid = stack.values["AWS::StackId"].rsplit("/", 1)[1]
        for logical, name in names.items():
            assert uuid in name, logical
            assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name), name  # CloudFront Functions' limit, the tightest
        assert not seen & set(names.values())
        seen |= set(names.values())


# ---------------------------------------------------------------- routes and the authorizer


def test_get_head_and_options_reach_the_tiler_through_the_authorizer():
    stack = Stack()
    events = stack.resource("TilerFunction")["Events"]
    assert sorted(e["Properties"]["Method"] for e in events.values()) == ["GET", "HEAD", "OPTIONS"]
    assert {e["Properties"]["Path"] for e in events.values()} == {"/{proxy+}"}
    api = stack.resource("HttpApi")
    assert "CorsConfiguration" not in api  # the app answers CORS
    authorizer = api["Auth"]["Authorizers"][api["Auth"]["DefaultAuthorizer"]]
    assert authorizer["Identity"]["Headers"] == ["X-Origin-Verify"]
    assert authorizer["FunctionArn"] == "<OriginAuthorizerFunction.Arn>"
    # One secret: what CloudFront sends is what the authorizer and the app expect.
    secret = "{{resolve:secretsmanager:<OriginSecret>}}"
    origin = stack.resource("Distribution")["DistributionConfig"]["Origins"][0]
    assert origin["OriginCustomHeaders"] == [{"HeaderName": "X-Origin-Verify", "HeaderValue": secret}]
    assert stack.resource("OriginAuthorizerFunction")["Environment"]["Variables"]["ORIGIN_SECRET"] == secret
    assert stack.resource("TilerFunction")["Environment"]["Variables"]["GIGATILE_ORIGIN_SECRET"] == secret
    assert RESOURCES["OriginSecret"]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32


def test_the_authorizer_admits_only_the_cdn_header(monkeypatch):
    monkeypatch.setenv("ORIGIN_SECRET", "s3cret" * 8)
    scope: dict = {}
    exec(RESOURCES["OriginAuthorizerFunction"]["Properties"]["InlineCode"], scope)  # noqa: S102 (the template's code)
    base = json.loads((EVENTS / "http-api-v2.json").read_text())  # HTTP API payload 2.0: lower-case headers

    def decide(headers: dict) -> dict:
        return scope["handler"]({**base, "type": "REQUEST", "headers": headers}, None)

    assert decide({"x-origin-verify": "s3cret" * 8}) == {"isAuthorized": True}
    assert decide({"x-origin-verify": "s3cret" * 7}) == {"isAuthorized": False}
    assert decide({"x-origin-verify": ""}) == {"isAuthorized": False}
    assert decide({}) == {"isAuthorized": False}


def test_signing_keys_come_from_a_named_secret_or_are_off():
    off = Stack().resource("TilerFunction")["Environment"]["Variables"]["GIGATILE_SIGNING_KEYS"]
    on = Stack(SigningKeysSecret="gigatile/keys").resource("TilerFunction")["Environment"]["Variables"]
    assert off == ""
    assert on["GIGATILE_SIGNING_KEYS"] == "{{resolve:secretsmanager:gigatile/keys}}"


# ----------------------------------------------------------------------- converter failures


def test_failed_and_timed_out_conversions_reach_the_queue():
    stack = Stack()
    converter = stack.resource("ConverterFunction")
    invoke = converter["EventInvokeConfig"]
    # On-failure destinations get every asynchronous failure once retries are spent: an
    # error raised, a timeout, an out-of-memory end, an event too old.
    assert invoke["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": "<ConversionDeadLetters.Arn>"}
    assert invoke["MaximumRetryAttempts"] == 2 and invoke["MaximumEventAgeInSeconds"] <= 6 * 3600
    assert "DeadLetterQueue" not in converter  # one place to look
    rule = converter["Events"]["ImageUploaded"]["Properties"]
    assert rule["DeadLetterConfig"] == {"Arn": "<ConversionDeadLetters.Arn>"}  # events EventBridge cannot deliver
    policy = stack.resource("ConversionDeadLettersPolicy")["PolicyDocument"]["Statement"]
    assert policy == [
        {
            "Sid": "UndeliveredUploadEvents",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "<ConversionDeadLetters.Arn>",
            "Condition": {"ArnEquals": {"aws:SourceArn": "<ConverterFunctionImageUploaded.Arn>"}},
        }
    ]
    assert allowed(stack.statements("ConverterFunction"), "sqs:SendMessage", "<ConversionDeadLetters.Arn>")


def test_dead_multipart_uploads_of_pyramids_are_aborted():
    rules = Stack().resource("ImagesBucket")["LifecycleConfiguration"]["Rules"]
    abort = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert abort and abort[0]["Status"] == "Enabled" and abort[0]["Prefix"] == "_pyramids/"
    assert abort[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7


# ------------------------------------------------------------------------------ CloudFront


def test_origin_errors_are_not_kept_at_cloudfront():
    config = Stack().resource("Distribution")["DistributionConfig"]
    ttl = {r["ErrorCode"]: r["ErrorCachingMinTTL"] for r in config["CustomErrorResponses"]}
    assert ttl == {500: 0, 501: 0, 502: 0, 503: 1, 504: 0}
    assert all("ResponsePagePath" not in r for r in config["CustomErrorResponses"])  # the app's JSON body stays


def test_static_files_get_a_cache_control():
    stack = Stack()
    config = stack.resource("Distribution")["DistributionConfig"]
    static = next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/static/*")
    assert static["ResponseHeadersPolicyId"] == "<StaticFilesHeaders>"
    headers = stack.resource("StaticFilesHeaders")["ResponseHeadersPolicyConfig"]["CustomHeadersConfig"]["Items"]
    assert [(h["Header"], h["Override"]) for h in headers] == [("Cache-Control", False)]
    assert "max-age=" in headers[0]["Value"]


def test_the_layer_is_for_the_runtime_it_is_built_for():
    runtimes = {r["Properties"]["Runtime"] for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::Function"}
    assert RESOURCES["PyvipsLayer"]["Properties"]["CompatibleRuntimes"] == sorted(runtimes) == ["python3.12"]
    for makefile in ("layers/pyvips/Makefile", "functions/tiler/Makefile"):
        assert "PYTHON_VERSION ?= 3.12" in (ROOT / makefile).read_text(), makefile


NODE = shutil.which("node")
ACCEPTS = [
    ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "avif"),  # Chrome, Firefox
    ("image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,*/*;q=0.5", "avif"),  # Safari 17
    ("image/webp,*/*", "webp"),  # older Safari, Edge
    ("image/png,image/*;q=0.8,*/*;q=0.5", "jpeg"),
    ("*/*", "jpeg"),
    (None, "jpeg"),  # no Accept at all (curl, some bots)
]


@pytest.mark.skipif(NODE is None, reason="node (installed by `make test` with the S3 server) is missing")
def test_viewer_function_normalises_accept_and_keeps_the_host(tmp_path):
    """The CloudFront Function's own code (template.yaml), run by node on viewer-request
    events: Accept becomes one of three cache-key values, Host becomes X-Forwarded-Host."""
    code = RESOURCES["ViewerHostFunction"]["Properties"]["FunctionCode"]
    sample = json.loads((EVENTS / "cloudfront-function-viewer-request.json").read_text())
    events = []
    for accept, _ in ACCEPTS:
        event = json.loads(json.dumps(sample))
        if accept is None:
            del event["request"]["headers"]["accept"]
        else:
            event["request"]["headers"]["accept"] = {"value": accept}
        events.append(event)
    script = tmp_path / "run.js"
    script.write_text(code + "\nconsole.log(JSON.stringify(" + json.dumps(events) + ".map(handler)));\n")
    out = subprocess.run([NODE, str(script)], capture_output=True, text=True, check=True)
    requests = json.loads(out.stdout)
    for request, (accept, expected) in zip(requests, ACCEPTS, strict=True):
        assert request["headers"]["x-image-format"] == {"value": expected}, accept
        assert request["headers"]["x-forwarded-host"] == {"value": "tiles.example.org"}
        assert request["uri"] == sample["request"]["uri"] and request["querystring"] == sample["request"]["querystring"]


def test_every_skipped_checkov_rule_is_justified():
    """`make sam-check` runs checkov on the template; a rule skipped is explained beside it."""
    skipped = [
        (logical, skip)
        for logical, resource in RESOURCES.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skipped
    for logical, skip in skipped:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), logical
        assert len(skip.get("comment", "")) > 30, (logical, skip["id"])
