"""The `digitserve` command and the Client API against a real Gunicorn: every kind of input,
tables and JSON, exit statuses, and retries while the server is not up yet."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import ephemeral_port_reserve
import numpy as np
import pytest
from PIL import Image

from digitserve_client import Client
from digitserve_client import ClientError
from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.pictures import encode
from tests.pictures import heldout_uint8
from tests.pictures import render
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration
COMMAND = str(Path(sys.executable).parent / "digitserve")  # the console script


def digitserve(*args: str, url: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed `digitserve` command from the repo root."""
    options = ["--url", url] if url else []
    return subprocess.run([COMMAND, *options, *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, int]]]:
    """A folder of every kind of input, and the (source, label) rows it should give."""
    folder = tmp_path_factory.mktemp("inputs")
    digits, labels = heldout_uint8()
    expected = []
    for index, style in enumerate(("paper_jpeg", "transparent_png", "plain_png")):
        name = f"a{index}.{'jpg' if style == 'paper_jpeg' else 'png'}"
        (folder / name).write_bytes(render(style, digits[index:index + 1])[0])
        expected.append((str(folder / name), int(labels[index])))
    np.save(folder / "b_one.npy", digits[3].reshape(28, 28))  # uint8 0-255
    expected.append((str(folder / "b_one.npy"), int(labels[3])))
    np.save(folder / "c_many.npy", digits[4:7].reshape(3, 28, 28) / 255.0)  # floats 0-1
    expected += [(f"{folder / 'c_many.npy'}[{i}]", int(labels[4 + i])) for i in range(3)]
    (folder / "d_body.json").write_text(json.dumps({"data": (digits[7] / 255).tolist()}))
    expected.append((str(folder / "d_body.json"), int(labels[7])))
    (folder / "notes.txt").write_text("not sent: a folder's other files are skipped")
    return folder, expected


def test_health_table_and_json(live_server: Server) -> None:
    done = digitserve("health", url=live_server.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["status", "healthy"]
    done = digitserve("health", "--json", url=live_server.url)
    assert json.loads(done.stdout)["model_loaded"] is True


def test_a_folder_of_every_kind(live_server: Server,
                                inputs: tuple[Path, list[tuple[str, int]]]) -> None:
    folder, expected = inputs
    done = digitserve("predict", str(folder), "--json", "--batch-size", "3", url=live_server.url)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert [(a["source"], a["prediction"]) for a in answers] == expected
    table = digitserve("predict", str(folder), url=live_server.url)
    assert table.returncode == 0
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0] == ["source", "digit", "confidence"]
    assert [(row[0], int(row[1])) for row in rows[1:]] == expected


def test_the_readme_examples_folder(live_server: Server) -> None:
    done = digitserve("predict", "examples/batch.json", "examples/pictures", "--json",
                      url=live_server.url)
    assert done.returncode == 0, done.stderr
    assert [a["prediction"] for a in json.loads(done.stdout)] == [9, 0, 3, 8, 5, 7, 3, 4,
                                                                    5, 0, 8, 3]


def test_any_failure_exits_1_and_says_which(live_server: Server, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(Image.new("L", (50, 50), 255), "PNG"))
    good = REPO_ROOT / "examples/pictures/mnist.png"
    done = digitserve("predict", str(good), str(blank), url=live_server.url)
    assert done.returncode == 1
    assert "error 422: The image has no ink" in done.stdout
    assert "1 of 2 failed" in done.stderr
    assert digitserve("predict", str(tmp_path / "missing.png"),
                      url=live_server.url).returncode == 1
    unreachable = digitserve("health", "--retries", "0", url="http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stdout


def test_retries_until_the_server_is_up(gunicorn: StartServer) -> None:
    port = ephemeral_port_reserve.reserve("127.0.0.1")
    started = time.monotonic()
    waiting = subprocess.Popen([COMMAND, "--url", f"http://127.0.0.1:{port}", "--retries", "8",
                                "predict", "examples/pictures/strokes.png"], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # nothing listens: the client is retrying
        assert waiting.poll() is None
        server = gunicorn(GUNICORN_BIND=f"127.0.0.1:{port}")  # its url is not this port's
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 0, err
    assert "retrying in 0.5 s" in err and out.splitlines()[1].split()[1] == "3"
    assert "POST /predict/image" in server.log_text()
    print(f"\nanswered {time.monotonic() - started:.1f} s after the first attempt")


def test_the_python_api(live_server: Server) -> None:
    digits, labels = heldout_uint8()
    with Client(live_server.url, max_batch=3) as client:
        assert client.health()["status"] == "healthy"
        assert client.predict(digits[0].reshape(28, 28))["prediction"] == labels[0]
        answers = client.predict_batch(digits[:8])  # three requests of 3, 3 and 2
        assert [a["prediction"] for a in answers] == labels[:8].tolist()
        picture = REPO_ROOT / "examples/pictures/paper.jpg"
        shown = client.predict_image(picture, return_input=True)
        assert shown["prediction"] == 0 and len(shown["input"]) == 28
        assert client.predict_image(picture.read_bytes())["prediction"] == 0  # octet-stream
        with pytest.raises(ClientError) as refused:
            client.call("POST", "/predict", json={"data": [0.5]})
        assert refused.value.status == 422 and "failed validation" in refused.value.message


def test_the_readme_python_snippet_runs(live_server: Server, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n((?:(?!```).)*?from digitserve_client import Client.*?)```",
                        readme, re.DOTALL)
    assert snippet, "no client snippet in the README"
    monkeypatch.chdir(REPO_ROOT)
    exec(compile(snippet[1].replace("http://127.0.0.1:8000", live_server.url), "README.md",
                 "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["0", "[9, 0, 3, 8, 5, 7, 3, 4]"]
