"""The `digitserve` command: check a server's health, classify files and folders."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from digitserve_client.client import DEFAULT_URL
from digitserve_client.client import Client
from digitserve_client.client import ClientError
from digitserve_client.files import Result
from digitserve_client.files import expand
from digitserve_client.files import predict_file

EPILOG = """examples:
  digitserve health
  digitserve predict digit.png photo.jpg body.json images.npy
  digitserve --url http://10.0.0.5:8000 --json predict scans/

Pictures (PNG, JPEG, WebP, BMP, GIF) go to /predict/image as they are; .json request bodies
to /predict or /predict/batch; .npy arrays (28x28, (N, 28, 28) or (N, 784); uint8 0-255 or
floats 0-1) as JSON; a folder's files in name order, --batch-size at a time.
Exit status: 0 when every call succeeded, 1 when any failed, 2 for a usage error."""


def parser() -> argparse.ArgumentParser:
    """Build the argument parser; the options work before or after the command."""
    common = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS
    common.add_argument("--url", default=default,
                        help=f"the server (default $DIGITSERVE_URL or {DEFAULT_URL})")
    common.add_argument("--timeout", type=float, default=default,
                        help="seconds to wait for each answer (default 10)")
    common.add_argument("--retries", type=int, default=default,
                        help="retries when the server cannot be reached (default 3; waits "
                             "0.5 s, then twice as long each time)")
    common.add_argument("--json", action="store_true", default=default,
                        help="print JSON instead of a table")
    main = argparse.ArgumentParser(prog="digitserve", parents=[common], epilog=EPILOG,
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument("--version", action="version", version=f"digitserve {version()}")
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("health", parents=[common], help="check the server and its model")
    predict = commands.add_parser("predict", parents=[common], help="classify files or folders")
    predict.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    predict.add_argument("--batch-size", type=int, default=8,
                         help="files sent at once (default 8)")
    return main


def version() -> str:
    """Return the installed digitserve's version (pyproject.toml's, as /openapi.json gives)."""
    try:
        return metadata.version("digitserve")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit status."""
    args = vars(parser().parse_args(argv))
    url = args.get("url") or os.environ.get("DIGITSERVE_URL") or DEFAULT_URL
    options = {"timeout": args.get("timeout", 10.0), "retries": args.get("retries", 3),
               "on_retry": lambda note: print(note, file=sys.stderr)}
    as_json = args.get("json", False)
    if args["command"] == "health":
        return health(Client(url, **options), as_json)
    if args["batch_size"] < 1:
        print("digitserve: --batch-size must be 1 or more", file=sys.stderr)
        return 2
    try:
        paths = list(expand(args["paths"]))
    except ClientError as error:
        print(f"digitserve: {error}", file=sys.stderr)
        return 1
    local = threading.local()

    def send(path: Path) -> list[Result]:  # one client (one connection pool) per thread
        if not hasattr(local, "client"):
            local.client = Client(url, **options)
        return predict_file(local.client, path)

    results = run(send, paths, args["batch_size"])
    show(results, as_json)
    failed = sum(result.error is not None for result in results)
    if failed:
        print(f"digitserve: {failed} of {len(results)} failed", file=sys.stderr)
    return 1 if failed or not results else 0


def run(send: Callable[[Path], list[Result]], paths: list[Path], at_once: int) -> list[Result]:
    """Send the files, at_once at a time; return the results in the files' order."""
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        return [result for results in pool.map(send, paths) for result in results]


def health(client: Client, as_json: bool) -> int:
    """Print the server's health; 0 when healthy."""
    try:
        answer = client.health()
    except ClientError as error:
        print(json.dumps({"error": error.message, "status": error.status}) if as_json
              else f"unhealthy: {error}")
        return 1
    if as_json:
        print(json.dumps(answer))
    else:
        model = answer.get("model", {})
        print(table([["status", answer.get("status")], ["url", client.url],
                     ["model", f"{model.get('name')} {model.get('version')}"],
                     ["sha256", str(model.get("sha256"))[:12]]]))
    return 0


def show(results: list[Result], as_json: bool) -> None:
    """Print the results: a table (source, digit, confidence, error), or JSON."""
    if as_json:
        print(json.dumps([result.as_json() for result in results]))
        return
    rows: list[list[Any]] = [["source", "digit", "confidence", ""]]
    for result in results:
        if result.error is not None:
            rows.append([result.source, "-", "-", f"error {result.error}"])
        else:
            rows.append([result.source, result.answer["prediction"],
                         f"{result.answer['confidence']:.4f}", ""])
    print(table(rows))


def table(rows: list[list[Any]]) -> str:
    """Lay rows out in columns, the first left-aligned, the others right-aligned but the last."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for row in cells:
        parts = [cell.ljust(width) if i in (0, len(row) - 1) else cell.rjust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
