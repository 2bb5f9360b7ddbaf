"""A WSGI module whose import fails in every worker: Gunicorn's "Worker failed to boot"."""

from __future__ import annotations

raise RuntimeError("this worker cannot boot (tests/integration/bootfail.py)")
