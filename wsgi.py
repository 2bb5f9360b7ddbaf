"""WSGI entry point: `gunicorn wsgi:app` builds the app in each worker, after the fork."""

from __future__ import annotations

from app import create_app

app = create_app()
