"""CloudFront forwards only the query keys a cache policy names: a key a route reads but its
behaviour's policy leaves out would be dropped, and every variant served the same cached
bytes. Checked for every route of the app against template.yaml."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from gigatile.app import create_app
from gigatile.config import Settings
from infra.lambda_layout import load_template

# Read from the request rather than declared as parameters.
IMPLICIT_KEYS = {"token"}
MAX_KEYS_PER_POLICY = 10  # CloudFront's quota

# Only the schema is read: any existing folder does as the source.
APP = create_app(Settings.from_env({"GIGATILE_SOURCE": str(Path(__file__).parent)}))
RESOURCES = load_template()["Resources"]
DISTRIBUTION = RESOURCES["Distribution"]["Properties"]["DistributionConfig"]


def policy_keys(behaviour: dict) -> list[str]:
    policy = RESOURCES[behaviour["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
    config = policy["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"]
    assert config["QueryStringBehavior"] == "whitelist"
    return config["QueryStrings"]


def behaviour_for(path: str) -> dict:
    """The first cache behaviour whose pattern matches, as CloudFront picks it."""
    for behaviour in DISTRIBUTION.get("CacheBehaviors", []):
        if fnmatch.fnmatchcase(path, behaviour["PathPattern"]):
            return behaviour
    return DISTRIBUTION["DefaultCacheBehavior"]


ROUTES = [
    (path.replace("{path}", "x/y.tif").replace("{image_id}", "y.tif"), op)
    for path, ops in APP.openapi()["paths"].items()
    for op in ops.values()
]


@pytest.mark.parametrize(("path", "operation"), ROUTES, ids=[path for path, _ in ROUTES])
def test_every_query_key_a_route_reads_is_in_its_cache_key(path, operation):
    read = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    keys = policy_keys(behaviour_for(path))
    assert read | IMPLICIT_KEYS <= set(keys), f"{path}: missing {sorted((read | IMPLICIT_KEYS) - set(keys))}"


def test_policies_are_within_cloudfronts_quota():
    behaviours = [DISTRIBUTION["DefaultCacheBehavior"], *DISTRIBUTION.get("CacheBehaviors", [])]
    # The template's own policies; /static/* uses a managed one (by id) that keys on the path alone.
    for behaviour in behaviours:
        if isinstance(behaviour["CachePolicyId"], dict):
            assert len(policy_keys(behaviour)) <= MAX_KEYS_PER_POLICY
    assert behaviour_for("/api/v1/image/thumbnail")["CachePolicyId"] == {"Ref": "ThumbnailCachePolicy"}
