"""digitserve: the application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app import errors
from app import health
from app import info
from app import jsonio
from app import logs
from app import metrics
from app import model
from app import predict
from app import requestid
from app.config import load_config


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, logging, JSON, model, errors, metrics, then the blueprints.

    :raises ConfigError: if a setting is invalid.
    :raises ModelLoadError: if the model cannot be loaded; the worker must not start.
    """
    app = Flask(__name__)
    load_config(app, test_config)
    logs.init_app(app)
    requestid.init_app(app)
    jsonio.init_app(app)
    model.init_app(app)
    errors.init_app(app)
    metrics.init_app(app)
    loaded = app.extensions[model.KEY].info
    metrics.set_model_info(loaded.name, loaded.version, loaded.sha256)
    api = errors.ServiceApi(app)
    for blueprint in (info.blp, health.blp, predict.blp):
        api.register_blueprint(blueprint)
    return app
