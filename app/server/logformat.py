"""Gunicorn's JSON log format: one object a line, access-log atoms as fields."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# Access-log fields and the Gunicorn atoms they hold.
ACCESS_FIELDS = {"remote_addr": "h", "method": "m", "path": "U", "query": "q", "status": "s",
                 "bytes": "B", "duration_ms": "M", "request_id": "{x-request-id}o",
                 "user_agent": "a"}


class AccessJsonFormatter(JsonFormatter):
    """python-json-logger's formatter that spreads an access line's atoms into keys."""

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        """Add the usual fields, and an access record's atoms under ACCESS_FIELDS' names."""
        super().add_fields(log_data, record, message_dict)
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            log_data.update({key: record.args[atom] for key, atom in ACCESS_FIELDS.items()})


def json_formatter() -> logging.Formatter:
    """Build the formatter: time, level, logger, pid and message, then any extra fields."""
    return AccessJsonFormatter("%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                               rename_fields={"asctime": "time", "levelname": "level",
                                              "name": "logger", "process": "pid"})


def json_logconfig(loglevel: str, access: bool) -> dict[str, Any]:
    """Return Gunicorn's logconfig_dict: errors to stderr, access lines (if on) to stdout."""
    return {
        "root": {"level": "WARNING", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"],
                               "propagate": False},
            "gunicorn.access": {"level": "INFO", "propagate": False,
                                "handlers": ["stdout"] if access else ["null"]},
        },
        "formatters": {"json": {"()": json_formatter}},
        # Lines that cannot be written at once are dropped, never waited for (serverlog.py).
        "handlers": {
            "stdout": {"()": "app.server.serverlog.lossy_stream_handler", "formatter": "json",
                       "stream": "ext://sys.stdout"},
            "stderr": {"()": "app.server.serverlog.lossy_stream_handler", "formatter": "json",
                       "stream": "ext://sys.stderr"},
            "null": {"class": "logging.NullHandler"},
        },
    }
