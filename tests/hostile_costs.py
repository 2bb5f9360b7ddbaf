"""What each hostile picture, and each large real one, costs a worker: CPU and peak memory.

`python -m tests.hostile_costs` builds the red team's files at full size, and photos and
drawings at the largest sizes the budget accepts (a minute and about 1 GB to build), and for
each runs app.inference.pictures.imaging.to_input once in a process of its own: CPU time (user +
system) and the growth of its peak resident memory (VmHWM, reset first), with the answer.
`--repo DIR` runs another checkout's code (an older commit's, say).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from tests import hostile_pictures as hp
from tests.pictures import encode

Made = Callable[[], bytes]
_TINY_PNG, _TINY_GIF = (lambda: encode(Image.new("L", (64, 64)), "PNG"),
                        lambda: encode(Image.new("L", (64, 64)), "GIF"))
FULL_SIZE: dict[str, Made] = {
    "progressive grey 13000x13000": lambda: hp.progressive_jpeg(13000, 13000),
    "progressive RGB 4:4:4 13000x13000": lambda: hp.progressive_jpeg(13000, 13000, "RGB",
                                                                     subsampling=0),
    "progressive CMYK 13000x13000": lambda: hp.progressive_jpeg(13000, 13000, "CMYK"),
    "progressive photo 8000x6000": lambda: hp.progressive_jpeg(8000, 6000, "RGB"),
    "multi-scan baseline 8000x6000": lambda: hp.multi_scan_jpeg(8000, 6000),
    "scan x1,500, 8000x8000": lambda: hp.repeat_scan(hp.progressive_jpeg(8000, 8000), 1500),
    "scan x78,000, 2000x2000 (2.8 MB)": lambda: hp.repeat_scan(hp.progressive_jpeg(2000, 2000),
                                                               78_000),
    "RLE8 BMP, one row of 4 Mpx": hp.rle_row_flood,
    "PNG, 300,000 empty chunks": lambda: hp.png_with_chunks(_TINY_PNG(), 300_000),
    "PNG, 250,000 1-byte IDATs": lambda: hp.png_split_idat(hp.png_noise(500), 1),
    "PNG, eXIf of 65,535 entries": lambda: hp.png_with_chunks(_TINY_PNG(), 1, b"eXIf",
                                                              hp.exif_block(65_535)),
    "GIF, 800,000 comments": lambda: hp.gif_with_comments(_TINY_GIF(), 800_000),
    "JPEG, 1,000,000 comments": lambda: hp.padded_jpeg(hp.progressive_jpeg(64, 64),
                                                       segments=1_000_000),
    "JPEG, 4 MB of stray bytes": lambda: hp.padded_jpeg(hp.progressive_jpeg(64, 64),
                                                        junk=4_000_000),
    "WebP, 500,000 chunks": lambda: hp.webp_with_chunks(500_000),
    "GIF, 4 MB of stray bytes": lambda: hp.gif_with_stray_bytes(_TINY_GIF(), 4_000_000),
    "JPEG, 60 x 1,000 quantization tables": lambda: hp.jpeg_with_segment(
        hp.progressive_jpeg(64, 64), 0xDB, hp.quantization_tables(1000), 60),
    "JPEG, 60 x 5,000 Photoshop resources": lambda: hp.jpeg_with_segment(
        hp.progressive_jpeg(64, 64), 0xED, hp.photoshop_resources(5000), 60),
    "JPEG, 60 x 21,000 frame components": lambda: hp.jpeg_with_segment(
        hp.progressive_jpeg(64, 64), 0xC0, hp.frame_components(21_000), 60),
    "JPEG, 60 JPG0 markers of 65,000 bytes": lambda: hp.jpeg_with_segment(
        hp.progressive_jpeg(64, 64), 0xF0, b"\x01" * 65_000, 60),
    "JPEG, multi-picture index of 5,000": lambda: hp.jpeg_with_segment(
        hp.progressive_jpeg(64, 64), 0xE2, b"MPF\0" + hp.exif_block(5000)),
}


def photo(width: int, height: int, mode: str = "RGB", **options: object) -> bytes:
    """Return a JPEG photo of lit, grainy paper with a dark stroke: compresses as photos do."""
    rng = np.random.default_rng(5)
    light = (np.linspace(170, 220, height, dtype=np.float32)[:, None]
             + np.linspace(0, 20, width, dtype=np.float32)[None, :]).astype(np.uint8)
    light += rng.integers(0, 12, (height, width), dtype=np.uint8)
    light[height // 3:2 * height // 3, width // 2 - width // 50:width // 2 + width // 50] = 40
    grey = Image.fromarray(light)
    picture = grey if mode == "L" else Image.merge("RGB", (grey, grey, grey.point(
        lambda level: level * 9 // 10)))
    return encode(picture, "JPEG", quality=85, **options)


def drawing(side: int, fmt: str, **options: object) -> bytes:
    """Return a side x side drawing: black strokes on a transparent (PNG, WebP) canvas."""
    alpha = np.zeros((side, side), np.uint8)
    alpha[side // 4:3 * side // 4, side // 2 - side // 40:side // 2 + side // 40] = 255
    strokes = Image.new("RGBA", (side, side))
    strokes.putalpha(Image.fromarray(alpha))
    return encode(strokes, fmt, **options)


ACCEPTED: dict[str, Made] = {
    "baseline photo 8000x6000 (48 Mpx)": lambda: photo(8000, 6000),
    "baseline photo 4032x3024 (12 Mpx)": lambda: photo(4032, 3024),
    "progressive photo 5456x4092 (22 Mpx)": lambda: photo(5456, 4092, progressive=True),
    "progressive photo 4032x3024 (12 Mpx)": lambda: photo(4032, 3024, progressive=True),
    "progressive grey 5792x5792, 32 scans": lambda: hp.repeat_scan(
        hp.progressive_jpeg(5792, 5792), 26),
    "drawing PNG 2048x2048 RGBA": lambda: drawing(2048, "PNG"),
    "drawing WebP 2048x2048 lossless": lambda: drawing(2048, "WEBP", lossless=True),
    "RLE8 BMP 512x512": lambda: hp.rle_bmp(512, 512, hp.rle8(np.asarray(
        Image.open(io.BytesIO(drawing(512, "PNG"))).getchannel("A")))),
}
_CHILD = """
import json, resource, sys, time
from pathlib import Path
try:
    from app.inference.pictures import imaging
except ImportError:  # a checkout from before the pictures package
    from app.inference import imaging
data = Path(sys.argv[1]).read_bytes()
imaging.to_input(Path("examples/pictures/paper.jpg").read_bytes(), max_pixels=4 << 20)
def status(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith(field + ":"))
Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
before, used = status("VmRSS"), resource.getrusage(resource.RUSAGE_SELF)
try:
    imaging.to_input(data, max_pixels=4 << 20)
    answer = "decoded"
except ValueError as error:
    answer = f"{type(error).__name__}: {error}"
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
print(json.dumps({"cpu_s": cpu, "peak_mb": (status("VmHWM") - before) / 1024, "answer": answer}))
"""


REPO_ROOT = Path(__file__).resolve().parent.parent


def cost(data: bytes, repo: Path = REPO_ROOT) -> dict[str, object]:
    """Run repo's to_input on data in a fresh process; return CPU seconds, peak MB, answer."""
    with tempfile.NamedTemporaryFile() as file:
        file.write(data)
        file.flush()
        out = subprocess.run([sys.executable, "-c", _CHILD, file.name], capture_output=True,
                             text=True, check=True, timeout=600, cwd=repo)
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    """Print each full-size file's size, CPU seconds, peak memory and answer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO_ROOT,
                        help="the checkout whose app/ decodes (default: this one)")
    repo = parser.parse_args(argv).repo
    for title, files in (("hostile", FULL_SIZE), ("accepted", ACCEPTED)):
        print(f"{title + ' file':38} {'bytes':>10} {'CPU s':>7} {'peak MB':>8}  answer")
        for name, make in files.items():
            data = make()
            result = cost(data, repo)
            answer = str(result["answer"])
            print(f"{name:38} {len(data):>10,} {result['cpu_s']:7.3f} "
                  f"{result['peak_mb']:+8.1f}  {answer[:56]}{'...' if len(answer) > 56 else ''}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
