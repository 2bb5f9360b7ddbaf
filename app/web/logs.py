"""Logging: the app's logger joins Gunicorn's handlers and level when it runs under Gunicorn."""

from __future__ import annotations

import logging

from flask import Flask


def init_app(app: Flask) -> None:
    """Send app.logger's records where Gunicorn's error log goes, or keep Flask's stderr handler."""
    gunicorn_logger = logging.getLogger("gunicorn.error")
    if gunicorn_logger.handlers:
        app.logger.handlers = gunicorn_logger.handlers
        app.logger.setLevel(gunicorn_logger.level)
        app.logger.propagate = False
    else:
        app.logger.setLevel(str(app.config["LOG_LEVEL"]).upper())
