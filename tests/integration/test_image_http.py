"""POST /predict/image over real HTTP: pictures in each style, and hostile files that leave
every worker alive."""

from __future__ import annotations

import numpy as np
import psutil
import pytest
import requests

from tests.integration.conftest import Server
from tests.integration.test_limits import assert_still_ready
from tests.integration.test_limits import raw_request
from tests.pictures import CONTENT_TYPES
from tests.pictures import STYLES
from tests.pictures import heldout_uint8
from tests.pictures import png_bomb
from tests.pictures import render

pytestmark = pytest.mark.integration


def workers(server: Server) -> set[int]:
    return {child.pid for child in psutil.Process(server.proc.pid).children()}


@pytest.mark.parametrize("style", STYLES)
def test_each_style_over_http(live_server: Server, style: str) -> None:
    digits, labels = heldout_uint8()
    right = 0
    with requests.Session() as session:
        for index, data in enumerate(render(style, digits[:20])):
            if index % 2:
                response = session.post(f"{live_server.url}/predict/image", data=data,
                                        headers={"Content-Type": CONTENT_TYPES[style]},
                                        timeout=10)
            else:
                response = session.post(f"{live_server.url}/predict/image", timeout=10,
                                        files={"image": ("digit", data, CONTENT_TYPES[style])})
            assert response.status_code == 200, response.text
            right += response.json()["prediction"] == labels[index]
    assert right >= 19


def test_a_bomb_and_a_truncated_file_leave_the_workers_alive(live_server: Server) -> None:
    before = workers(live_server)
    bomb = png_bomb(40000, 40000)
    assert len(bomb) < 400_000
    truncated = render("paper_jpeg", heldout_uint8()[0][:1])[0][:3000]
    for _ in range(3):  # more than once, so both workers meet them
        response = requests.post(f"{live_server.url}/predict/image", data=bomb, timeout=10,
                                 headers={"Content-Type": "image/png"})
        assert response.status_code == 413
        assert "(MAX_IMAGE_PIXELS)" in response.json()["message"]
        response = requests.post(f"{live_server.url}/predict/image", timeout=10,
                                 files={"image": ("digit.jpg", truncated, "image/jpeg")})
        assert response.status_code == 400
        assert "could not be decoded" in response.json()["message"]
    assert_still_ready(live_server)
    assert workers(live_server) == before
    assert "Worker (pid:" not in live_server.log_text()


def test_a_chunked_upload_is_read_whole(live_server: Server) -> None:
    data = render("transparent_png", heldout_uint8()[0][:1])[0]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                      for part in (data[:100], data[100:]) if part) + b"0\r\n\r\n"
    head = (b"POST /predict/image HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    response = raw_request(live_server, head + chunks)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b'"prediction":9' in response
    broken = raw_request(live_server, head + b"zz\r\n" + data[:10] + b"\r\n0\r\n\r\n")
    assert broken.startswith(b"HTTP/1.1 400 ") and b"could not be read" in broken
    assert_still_ready(live_server)


def test_the_input_it_shows_is_what_predict_answers_for(live_server: Server) -> None:
    data = render("paper_jpeg", heldout_uint8()[0][:1])[0]
    shown = requests.post(f"{live_server.url}/predict/image?return_input=true", data=data,
                          headers={"Content-Type": "image/jpeg"}, timeout=10).json()
    again = requests.post(f"{live_server.url}/predict", json={"data": shown["input"]},
                          timeout=10).json()
    assert again["prediction"] == shown["prediction"]
    assert np.array(shown["input"]).shape == (28, 28)
