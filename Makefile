# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3
STAMP  := $(VENV)/.installed
# The S3 server of the benchmark (npm registry); defined here, before the rules that need it.
S3RVER := build/s3rver/node_modules/.bin/s3rver
# The web viewers of the viewer tests and the demo's switch (npm registry), under build/viewers.
VIEWERS := build/viewers/.installed

.PHONY: viewers install demo test test-fast lint format bench clean sam-check sam-build vendor system-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[binary,server,demo,test,bench]'
	touch $(STAMP)

install: $(STAMP)

## make demo: local S3 server + generated 30,000 × 50,000 sample + tiler and viewer on :8000
## (with every viewer of the page's switch: OpenSeadragon, Mirador, Leaflet-IIIF, OpenLayers)
demo: install $(VIEWERS)
	$(PY) infra/demo.py

## make test: lint, then the whole test suite (real S3 server on loopback, real libvips,
## the viewer in Debian's headless Chromium, installed here when missing)
test: install lint system-packages $(S3RVER) $(VIEWERS)
	$(VENV)/bin/pytest -q

## make test-fast: lint, then the unit tier in under a minute (pytest -m "not slow"): no
## browser, fuzzers, schemathesis, benchmark, soak, conversions or long parametrized
## matrices; which tests and why: SLOW in tests/conftest.py. CI runs `make test`.
test-fast: install lint
	$(VENV)/bin/pytest -q -m "not slow"

# Debian's Chromium for the viewer test, libmagic for the IIIF validator, and IIPImage
# (iipimage-server, run behind lighttpd) with wrk for the side-by-side benchmark and its
# smoke test; installed when missing.
IIPSRV := /usr/lib/iipimage-server/iipsrv.fcgi
system-packages:
	@command -v chromium >/dev/null && ldconfig -p | grep -q libmagic.so.1 && test -x $(IIPSRV) && \
	  command -v lighttpd >/dev/null && command -v wrk >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq chromium libmagic1 iipimage-server lighttpd wrk >/dev/null; }

## make vendor: OpenSeadragon from the npm registry into the package (committed; rerun to update)
OSD_VERSION := 6.1.1
OSD_DIR     := functions/tiler/gigatile/static/openseadragon
vendor:
	rm -rf build/npm $(OSD_DIR) && mkdir -p build/npm $(OSD_DIR)
	cd build/npm && npm pack --silent openseadragon@$(OSD_VERSION) >/dev/null
	tar -xzf build/npm/openseadragon-$(OSD_VERSION).tgz -C build/npm
	cp build/npm/package/build/openseadragon/openseadragon.min.js build/npm/package/LICENSE.txt $(OSD_DIR)/
	cp -R build/npm/package/build/openseadragon/images $(OSD_DIR)/
	echo $(OSD_VERSION) > $(OSD_DIR)/VERSION

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## make bench: gigatile vs a naive source, whole-object Pillow, rio-tiler on a COG and static
## dzsave tiles, at 0 and 20 ms per S3 request; then side by side with IIPImage (iipsrv) over
## HTTP, the request path and Lambda cost, and the cold start of the x86_64 sam build (built
## by `make sam-build ARCH=x86_64` when there is none; pyenv's python3.12); writes
## docs/benchmarks.md, .json and .png, docs/iipsrv.json, docs/request-path.json,
## docs/cold-start.json (profiles in build/profiles/)
$(S3RVER):
	command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	mkdir -p build/s3rver
	npm install --silent --no-audit --no-fund --prefix build/s3rver s3rver@3.7.1

## build/viewers: the viewers tests/test_viewers.py drives and the demo page offers, each
## package's own tarball (exact version, checked by npm against the registry's integrity
## hash) unpacked as build/viewers/NAME-VERSION/; their dist bundles need no dependencies
VIEWER_PACKAGES := openseadragon@5.0.1 openseadragon@6.1.1 mirador@3.4.3 mirador@4.0.0 \
                   leaflet@1.9.4 leaflet-iiif@3.0.0 ol@10.11.0
$(VIEWERS): Makefile
	command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	rm -rf build/viewers && mkdir -p build/viewers/packs
	set -e; for spec in $(VIEWER_PACKAGES); do \
	  name=$${spec%@*}; version=$${spec##*@}; \
	  (cd build/viewers/packs && npm pack --silent "$$spec" >/dev/null); \
	  mkdir -p "build/viewers/$$name-$$version"; \
	  tar -xzf "build/viewers/packs/$$name-$$version.tgz" -C "build/viewers/$$name-$$version" --strip-components=1; \
	done
	rm -rf build/viewers/packs
	touch $@

bench: install system-packages $(S3RVER)
	$(PY) -m infra.bench
	$(PY) -m infra.bench iipsrv
	$(PY) -m infra.bench request-path
	$(PY) -m infra.bench cold-start

viewers: $(VIEWERS)

clean:
	rm -rf $(VENV) $(SAMVENV) $(CHECKOV) .aws-sam .pytest_cache .ruff_cache

## make sam-check: cfn-lint, sam validate --lint, and `sam build` (no Docker) for arm64 and
## x86_64, each build checked for architecture, wheel tags and zipped sizes; then
## `sam deploy --guided` and `sam deploy` driven on a terminal up to their first AWS call
## (tests/test_deploy.py, against a loopback stand-in for AWS); checkov on the template
SAMVENV := .venv-sam
SAM     := SAM_CLI_TELEMETRY=0 $(SAMVENV)/bin/sam
ARCHS   := arm64 x86_64

$(SAMVENV)/.installed:
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet --upgrade pip
	$(SAMVENV)/bin/pip install --quiet 'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0'
	touch $@

# checkov in a venv of its own (its pins clash with the SAM CLI's); every rule it skips
# is justified beside the resource in template.yaml (Metadata: checkov: skip).
CHECKOV := .venv-checkov
$(CHECKOV)/.installed:
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV)/bin/pip install --quiet 'checkov==3.3.30'
	touch $@

sam-check: install $(SAMVENV)/.installed $(CHECKOV)/.installed
	$(SAMVENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1
	$(CHECKOV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download
	set -e; for arch in $(ARCHS); do \
	  ARCH=$$arch $(SAM) build --build-dir .aws-sam/build-$$arch --parameter-overrides Architecture=$$arch >/dev/null; \
	  $(PY) infra/check_build.py .aws-sam/build-$$arch $$arch; \
	done
	SAM_CLI=$(CURDIR)/$(SAMVENV)/bin/sam $(VENV)/bin/pytest -q tests/test_deploy.py

## make sam-build ARCH=arm64|x86_64: the build `sam deploy` uploads (.aws-sam/build)
ARCH ?= arm64
sam-build: $(SAMVENV)/.installed
	ARCH=$(ARCH) $(SAM) build --parameter-overrides Architecture=$(ARCH)
