"""Configuration: defaults, DIGITSERVE_* environment variables, test overrides, checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # Where the ONNX model lives; a missing or broken file stops start-up.
    "MODEL_PATH": str(REPO_ROOT / "model.onnx"),
    # onnxruntime intra-op threads per worker. Gunicorn runs one worker per core by default,
    # so one thread each keeps workers x threads at the CPU count.
    "ORT_THREADS": 1,
    # Largest number of images in one /predict/batch request.
    "MAX_BATCH": 256,
    # Largest request body in bytes (Flask answers 413 above it). 256 images of 784
    # pixels written with 4 decimals take about 1.5 MB.
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
    # Most pixels a picture sent to /predict/image may decode to; a larger one is refused
    # from its header, before it is decoded (a few hundred KB of PNG can unpack to gigabytes).
    # A JPEG counts at the reduced scale it is decoded at (1/2 to 1/8 a side), so phone photos
    # pass. Decoding briefly costs about 8 bytes a pixel for an RGBA PNG and 16 for a WebP
    # (measured): at 4 megapixels (2048x2048) +32 and +64 MB a worker; 16 would be 4 times that.
    "MAX_IMAGE_PIXELS": 4 * 1024 * 1024,
    # Log level of the digitserve logger (under Gunicorn it follows --log-level instead).
    "LOG_LEVEL": "INFO",
    # While this file exists /readyz answers 503 ("draining") and every other route still
    # serves, so a load balancer stops sending before Gunicorn is stopped; "" turns it off.
    # The Kubernetes preStop hook creates it (deploy/kubernetes/deployment.yaml).
    "DRAIN_FILE": "",
    "API_TITLE": "digitserve",
    "API_VERSION": "1.0.0",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Swagger UI's files come from the flask-swagger-ui package, served by app/routes/docs.py:
    # /docs works on a closed network. No validator badge (it would call validator.swagger.io).
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
}

# MAX_IMAGE_PIXELS stays under Pillow's own decompression-bomb limit (Image.MAX_IMAGE_PIXELS),
# above which Pillow warns (and at twice which it refuses) before we could.
_POSITIVE_INTS = {"ORT_THREADS": 64, "MAX_BATCH": 100_000, "MAX_CONTENT_LENGTH": 1 << 30,
                  "MAX_IMAGE_PIXELS": 89_478_485}


class ConfigError(ValueError):
    """A configuration value is missing or out of range."""


def load_config(app: Flask, test_config: Mapping[str, Any] | None = None) -> None:
    """Apply defaults, then DIGITSERVE_* env vars, then test overrides; validate last.

    :raises ConfigError: if a value has the wrong type or is out of range.
    """
    app.config.from_mapping(DEFAULTS)
    # Values are parsed as JSON: DIGITSERVE_ORT_THREADS=2 arrives as the int 2.
    app.config.from_prefixed_env("DIGITSERVE")
    if test_config:
        app.config.update(test_config)
    _validate(app.config)


def _validate(config: Mapping[str, Any]) -> None:
    """Check every setting the service reads, so a bad value fails start-up, not a request."""
    for key, upper in _POSITIVE_INTS.items():
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
            raise ConfigError(f"{key} must be an integer from 1 to {upper}, got {value!r}")
    if not isinstance(config["MODEL_PATH"], str) or not config["MODEL_PATH"]:
        raise ConfigError(f"MODEL_PATH must be a file path, got {config['MODEL_PATH']!r}")
    drain_file = config["DRAIN_FILE"]
    if not isinstance(drain_file, str) or (drain_file and not Path(drain_file).parent.is_dir()):
        raise ConfigError(f"DRAIN_FILE must be empty or a path in an existing directory, "
                          f"got {drain_file!r}")
    if str(config["LOG_LEVEL"]).upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"LOG_LEVEL must be a logging level name, got {config['LOG_LEVEL']!r}")
