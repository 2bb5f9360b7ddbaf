"""digitserve_client without a server: what it sends for each kind of input, and what it
never imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from digitserve_client.cli import main
from digitserve_client.cli import table
from digitserve_client.client import ClientError
from digitserve_client.client import pixels
from digitserve_client.client import refusal
from tests.support import REPO_ROOT


@pytest.mark.parametrize(("shape", "dtype", "count"), [
    ((28, 28), np.uint8, 1), ((784,), np.float32, 1), ((5, 28, 28), np.float64, 5),
    ((3, 784), np.uint8, 3), ((1, 28, 28), np.int64, 1)])
def test_pixels_take_every_documented_shape(shape: tuple[int, ...], dtype: type,
                                            count: int) -> None:
    array = np.ones(shape, dtype)
    rows = pixels(array, None)
    assert rows.shape == (count, 784) and rows.dtype == np.float64
    expected = 1 / 255 if np.issubdtype(dtype, np.integer) else 1.0
    assert rows.max() == pytest.approx(expected)


@pytest.mark.parametrize(("array", "fragment"), [
    (np.ones((27, 28)), "expected 28x28"), (np.ones((2, 28, 27)), "expected 28x28"),
    (np.full((28, 28), 2.0), "must be in [0, 1]"), (np.full(784, np.nan), "must be in [0, 1]"),
    (np.array(["a"] * 784), "must be numbers")])
def test_pixels_refuse_what_the_server_would(array: np.ndarray, fragment: str) -> None:
    with pytest.raises(ClientError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        pixels(array, None)


def test_one_image_means_one() -> None:
    with pytest.raises(ClientError, match="expected 1 image"):
        pixels(np.zeros((2, 784)), 1)


def test_the_client_imports_neither_the_server_nor_flask() -> None:
    check = ("import sys, digitserve_client.cli; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in {'app', 'flask', "
             "'werkzeug', 'onnxruntime', 'PIL'}))")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [[], ["predict"], ["frobnicate"], ["health", "--timeout", "x"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: digitserve" in capsys.readouterr().err


def test_a_batch_size_under_1_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "x.png", "--batch-size", "0"]) == 2
    assert "--batch-size must be 1 or more" in capsys.readouterr().err


def test_a_table_lines_up() -> None:
    assert table([["source", "digit"], ["a.png", 7], ["longer.png", 10]]).splitlines() == [
        "source      digit", "a.png       7", "longer.png  10"]


def test_a_refusal_says_which_field_and_why() -> None:
    # What the server answers for 8 images to a server that takes 4 at most.
    error = refusal({"code": 422, "status": "Unprocessable Entity",
                     "message": "The request body failed validation; see errors.",
                     "errors": {"json": {"instances": ["Expected a list of 1 to 4 images, got "
                                                       "8 images."]}}}, "UNPROCESSABLE", 422)
    assert str(error) == ("422: The request body failed validation: instances: Expected a "
                          "list of 1 to 4 images, got 8 images.")
    assert error.details == {"json": {"instances": ["Expected a list of 1 to 4 images, got 8 "
                                                    "images."]}}
    v2 = refusal({"error": "Input 'image' must be FP32, got 'FP64'."}, "BAD REQUEST", 400)
    assert str(v2) == "400: Input 'image' must be FP32, got 'FP64'." and v2.details is None
    assert str(refusal("<html>", "Bad Gateway", 502)) == "502: Bad Gateway"
