# digitserve: `make serve` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
# Serving needs only pyproject's dependencies; the tests, the perf tools and the linters add
# the test, perf and dev extras. Each stamp names the pyproject.toml it was installed from.
SERVE_STAMP := $(VENV)/.serve-$(HASH)
FULL_STAMP := $(VENV)/.full-$(HASH)

.PHONY: serve test test-fast lint bench train install system-packages clean

$(SERVE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	rm -f $(VENV)/.serve-*
	touch $(SERVE_STAMP)

$(FULL_STAMP): $(SERVE_STAMP)
	$(PY) -m pip install --quiet -e '.[test,perf,dev]'
	rm -f $(VENV)/.full-*
	touch $(FULL_STAMP)

install: $(FULL_STAMP)  ## Everything: serving, tests, perf tools, linters

serve: $(SERVE_STAMP)  ## Serve on 127.0.0.1:8000 (override with GUNICORN_* variables)
	$(VENV)/bin/gunicorn wsgi:app

test: system-packages $(FULL_STAMP)  ## The whole suite: unit, integration (real gunicorn), perf smoke
	$(PY) -m pytest

# Before the venv, with the system's python3: install (as root, with apt-get) or name the
# Debian packages the suite runs (tests/system-packages.txt), before any test starts.
system-packages:
	$(PYTHON) tests/system_packages.py

test-fast: $(FULL_STAMP)  ## Unit tests only (no gunicorn, nginx or browser): about a minute
	$(PY) -m pytest -m "not integration"

lint: $(FULL_STAMP)  ## ruff and mypy --strict, the pinned versions (CI runs them too)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(FULL_STAMP)  ## Per-request cost breakdown
	$(PY) -m perf.breakdown

train: $(FULL_STAMP)  ## Retrain model.onnx (torch 2.13.0 CPU)
	$(PY) -m pip install --quiet -e '.[train]'
	$(PY) -m training.train

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
