"""Configuration: defaults, DIGITSERVE_* environment variables, test overrides, checks."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from flask import Flask

from app.inference.contract import KINDS
from app.inference.contract import LAYOUTS
from app.inference.contract import RANGES

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "DIGITSERVE"


def read_version() -> str:
    """Return the project's version: pyproject.toml's (a checkout, the image), else the
    installed distribution's."""
    try:
        with (REPO_ROOT / "pyproject.toml").open("rb") as project:
            return str(tomllib.load(project)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        try:
            return metadata.version("digitserve")
        except metadata.PackageNotFoundError:
            return "unknown"


VERSION = read_version()

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
    # Your own model (README, "Serve your own model"); each defaults to the file's metadata
    # (digitserve.output_name, digitserve.output_kind, digitserve.input_range), then to what
    # the file shows. The output of 10 scores an image to serve, when there are several:
    "OUTPUT_NAME": "",
    # What those scores are: auto (found out), probabilities, logits or log_probabilities.
    "OUTPUT_KIND": "auto",
    # The pixel values the model was trained on: auto (0-1), 0-1, 0-255 or mnist (standardised
    # with MNIST's mean 0.1307 and standard deviation 0.3081). The service converts.
    "INPUT_RANGE": "auto",
    # The input's layout when its shape cannot tell: auto, nchw, nhw, flat or nhwc.
    "INPUT_LAYOUT": "auto",
    # The model's name under /v2 and in the docs: the file's metadata "name", else its stem.
    "MODEL_NAME": "",
    # Set by the server (app/server/, through gunicorn.conf.py), not by hand: the private copy
    # of MODEL_PATH the master checked, which workers load instead of the file itself, and the
    # master's record of model reloads. Empty without Gunicorn: the file is loaded directly.
    "MODEL_SNAPSHOT": "",
    "MODEL_RELOADS": {},
    "API_TITLE": "digitserve",
    "API_VERSION": VERSION,
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


@dataclass(frozen=True)
class Problem:
    """One setting whose value is not accepted."""

    key: str
    accepted: str
    value: Any

    def __str__(self) -> str:
        return f"{self.key} must be {self.accepted}, got {self.value!r}"


_CHOICES = {"OUTPUT_KIND": ("auto", *KINDS), "INPUT_RANGE": ("auto", *RANGES),
            "INPUT_LAYOUT": ("auto", *LAYOUTS)}


class ConfigError(ValueError):
    """One or more configuration values are missing or out of range."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def load_config(app: Flask, test_config: Mapping[str, Any] | None = None) -> None:
    """Apply defaults, then DIGITSERVE_* env vars, then test overrides; validate last.

    :raises ConfigError: if a value has the wrong type or is out of range.
    """
    app.config.from_mapping(DEFAULTS)
    # Values are parsed as JSON: DIGITSERVE_ORT_THREADS=2 arrives as the int 2.
    app.config.from_prefixed_env(ENV_PREFIX)
    if test_config:
        app.config.update(test_config)
    if problems := find_problems(app.config):
        raise ConfigError(problems)


def find_problems(config: Mapping[str, Any]) -> list[Problem]:
    """Check every setting the service reads; return those whose value is not accepted."""
    problems = [Problem(key, f"an integer from 1 to {upper}", config[key])
                for key, upper in _POSITIVE_INTS.items()
                if isinstance(config[key], bool) or not isinstance(config[key], int)
                or not 1 <= config[key] <= upper]
    if not isinstance(config["MODEL_PATH"], str) or not config["MODEL_PATH"]:
        problems.append(Problem("MODEL_PATH", "a file path", config["MODEL_PATH"]))
    drain_file = config["DRAIN_FILE"]
    if not isinstance(drain_file, str) or (drain_file and not Path(drain_file).parent.is_dir()):
        problems.append(Problem("DRAIN_FILE", "empty or a path in an existing directory",
                                drain_file))
    if str(config["LOG_LEVEL"]).upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        problems.append(Problem("LOG_LEVEL", "a logging level name", config["LOG_LEVEL"]))
    if not isinstance(config["MODEL_SNAPSHOT"], str):
        problems.append(Problem("MODEL_SNAPSHOT", "a file path or empty",
                                config["MODEL_SNAPSHOT"]))
    for key, choices in _CHOICES.items():
        if config[key] not in choices:
            problems.append(Problem(key, "one of " + ", ".join(choices), config[key]))
    for key in ("OUTPUT_NAME", "MODEL_NAME"):
        if not isinstance(config[key], str):
            problems.append(Problem(key, "a name (text)", config[key]))
    if not isinstance(config["MODEL_RELOADS"], dict):
        problems.append(Problem("MODEL_RELOADS", "a JSON object", config["MODEL_RELOADS"]))
    return problems
