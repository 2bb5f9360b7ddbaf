# digitserve: `make serve` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: serve test test-fast lint bench train install system-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,perf,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)  ## Serve on 127.0.0.1:8000 (override with GUNICORN_* variables)
	$(VENV)/bin/gunicorn wsgi:app

test: system-packages $(STAMP)  ## The whole suite: unit, integration (real gunicorn), perf smoke
	$(PY) -m pytest

# Before the venv, with the system's python3: install (as root, with apt-get) or name the
# Debian packages the suite runs (tests/system-packages.txt), before any test starts.
system-packages:
	$(PYTHON) tests/system_packages.py

test-fast: $(STAMP)
	$(PY) -m pytest -m "not integration"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)  ## Per-request cost breakdown
	$(PY) -m perf.breakdown

train: $(STAMP)  ## Retrain model.onnx (torch 2.13.0 CPU)
	$(PY) -m pip install --quiet -e '.[train]'
	$(PY) -m training.train

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
