# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint format measure clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[binary,server,demo,test]'
	touch $(STAMP)

install: $(STAMP)

## make demo: local S3 server + generated 30,000 × 50,000 sample + tiler and viewer on :8000
demo: install
	$(PY) infra/demo.py

## make test: lint, then the whole test suite (real S3 server on loopback, real libvips)
test: install lint
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## make measure: GETs and bytes per tile, render time, peak RSS over 1,000 random tiles
measure: install
	$(PY) infra/measure.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
