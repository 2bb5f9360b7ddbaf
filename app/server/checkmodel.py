"""`digitserve-check-model PATH`: check a model file before it ships, as the server will.

The same check the Gunicorn master runs at start and on HUP: the file read whole, loaded by
the serving code (interface, warm-up), and the known digits classified. Prints what the file
is and exits 0, or prints one line naming the problem and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# onnxruntime's telemetry: off, as in the server (before onnxruntime is imported).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from flask import Flask  # noqa: E402

from app.config import load_config  # noqa: E402
from app.inference.check import CheckedModel  # noqa: E402
from app.inference.check import check_model  # noqa: E402
from app.inference.contract import KINDS  # noqa: E402
from app.inference.contract import LAYOUTS  # noqa: E402
from app.inference.contract import RANGES  # noqa: E402
from app.inference.contract import Options  # noqa: E402
from app.inference.session import read_model_file  # noqa: E402
from app.web.errors import ModelLoadError  # noqa: E402

# The card's figures printed, when the file's metadata has them (training/MODEL.md).
CARD = ("heldout_accuracy", "heldout_min_class_accuracy", "transformed_accuracy", "ece",
        "parameters", "multiply_adds")


def describe(checked: CheckedModel) -> dict[str, Any]:
    """Return what the check found, as --json prints it."""
    info = checked.info
    return {"ok": True, "path": info.path, "sha256": info.sha256, "size_bytes": info.size_bytes,
            "name": info.name, "version": info.version,
            "contract": ", ".join(f"{key} {value}" for key, value in info.contract.items()),
            "known_digits": f"{checked.known_right} of {checked.known_total} right",
            "card": {key: info.metadata[key] for key in CARD if key in info.metadata}}


def as_text(found: dict[str, Any]) -> str:
    """Write what the check found as lines for people: "ok: PATH", then key: value."""
    card = ", ".join(f"{key} {value}" for key, value in found["card"].items())
    lines = [f"ok: {found['path']}"]
    lines += [f"  {key}: {value}" for key, value in found.items()
              if key not in ("ok", "path", "card")]
    return "\n".join([*lines, f"  card: {card or 'no figures in its metadata'}"])


def main(argv: Sequence[str] | None = None) -> int:
    """Check each model file named; return 0 if all pass, 1 if one is refused."""
    parser = argparse.ArgumentParser(prog="digitserve-check-model",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="an ONNX model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object a file")
    for option, choices in (("output-kind", KINDS), ("input-range", tuple(RANGES)),
                            ("input-layout", tuple(LAYOUTS))):
        parser.add_argument(f"--{option}", choices=("auto", *choices),
                            help=f"as DIGITSERVE_{option.upper().replace('-', '_')}")
    parser.add_argument("--output-name", help="as DIGITSERVE_OUTPUT_NAME")
    args = parser.parse_args(argv)
    options = _options(args)
    status = 0
    for path in args.paths:
        try:
            found = describe(check_model(read_model_file(path), path, options=options))
        except ModelLoadError as error:
            status = 1
            if args.json:
                print(json.dumps({"ok": False, "path": str(path), "error": str(error)}))
            else:
                print(f"refused: {error}", file=sys.stderr)
            continue
        print(json.dumps(found) if args.json else as_text(found))
    return status


def _options(args: argparse.Namespace) -> Options:
    """Read the options as the server would (DIGITSERVE_*), the command line's winning."""
    settings = Flask("digitserve-check-model")
    load_config(settings)
    given = Options.from_config(settings.config)
    return Options(args.output_name or given.output_name, args.output_kind or given.output_kind,
                   args.input_range or given.input_range,
                   args.input_layout or given.input_layout, given.model_name)


if __name__ == "__main__":
    sys.exit(main())
