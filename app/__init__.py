"""digitserve: the application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.config import load_config
from app.inference import model
from app.routes import demo
from app.routes import docs
from app.routes import health
from app.routes import image
from app.routes import info
from app.routes import predict
from app.routes import v2
from app.web import browsers
from app.web import errors
from app.web import jsonio
from app.web import logs
from app.web import metrics
from app.web import requestid
from app.web.application import App


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, logging, JSON, model, errors, metrics, then the blueprints.

    :raises ConfigError: if a setting is invalid.
    :raises ModelLoadError: if the model cannot be loaded; the worker must not start.
    """
    app = App(__name__)
    load_config(app, test_config)
    logs.init_app(app)
    requestid.init_app(app)
    jsonio.init_app(app)
    model.init_app(app)
    errors.init_app(app)
    metrics.init_app(app)
    loaded = app.extensions[model.KEY].info
    metrics.set_model_info(loaded.name, loaded.version, loaded.sha256)
    app.config["API_SPEC_OPTIONS"] = {"info": {"description": info.describe(loaded)}}
    api = errors.ServiceApi(app, spec_kwargs={"extra_plugins": [v2.ModelNamePlugin(loaded.name)]})
    for blueprint in (info.blp, health.blp, predict.blp, image.blp, v2.blp):
        api.register_blueprint(blueprint)
    # Pages and their files, outside the OpenAPI document.
    app.register_blueprint(demo.blp)
    app.register_blueprint(docs.blp)
    app.register_blueprint(docs.init)
    browsers.init_app(app)
    return app
