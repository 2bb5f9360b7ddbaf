"""digitserve's client: call a running digitserve over HTTP, from Python or the command line."""

from __future__ import annotations

from digitserve_client.client import Client
from digitserve_client.client import ClientError

__all__ = ["Client", "ClientError"]
