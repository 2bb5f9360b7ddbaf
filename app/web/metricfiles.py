"""The metrics directory's files: dead workers' samples folded into one archive, read exactly.

prometheus_client's multiprocess mode gives each process its own files (counter_PID.db,
histogram_PID.db, gauge_MODE_PID.db) and sums them all at each scrape, so a dead worker's
files are kept for good: with recycled workers they fill the directory. Here the master
folds a dead worker's counters and histograms into an archive file and removes its files.

Archive files are never written in place: each version is a new file,
counter_archive-GEN.db (or histogram_...), made under a temporary name and renamed. While a
dead worker is being folded in, the new archive is named counter_archive-GEN-PID.db: a scrape
that sees it skips PID's own file, which it already holds. So whichever moment a scrape
lists the directory, it counts each sample once: the newest archive, and the files of the
processes it does not hold. A file gone between listing and reading means a newer listing
is consistent: the scrape starts again. A worker's file so new it is not sized yet holds no
samples and is skipped.
"""

from __future__ import annotations

import glob
import os
import re
import struct
import time
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

ARCHIVED = ("counter", "histogram")  # the types whose dead samples still count
_ARCHIVE = re.compile(r"^(counter|histogram)_archive-(\d+)(?:-(\d+))?\.db$")
_OWN = re.compile(r"^(counter|histogram)_(\d+)\.db$")
ATTEMPTS = 5  # listings a scrape tries while the master folds dead workers in
RETRY_S = 0.01


def current(paths: Iterable[str]) -> list[str]:
    """Keep the files a scrape must read: the newest archive of each type, and the files of
    processes that archive does not already hold."""
    newest: dict[str, tuple[int, str, int | None]] = {}
    others = []
    for path in paths:
        if found := _ARCHIVE.match(os.path.basename(path)):
            kind, generation = found[1], int(found[2])
            if kind not in newest or generation > newest[kind][0]:
                newest[kind] = (generation, path, int(found[3]) if found[3] else None)
        else:
            others.append(path)
    held = {(kind, pid) for kind, (_, _, pid) in newest.items() if pid is not None}
    kept = [path for path in others
            if not ((own := _OWN.match(os.path.basename(path)))
                    and (own[1], int(own[2])) in held)]
    return kept + [path for _, path, _ in newest.values()]


class ArchiveAwareCollector(MultiProcessCollector):
    """prometheus_client's multiprocess collector that reads the archives as above."""

    def collect(self) -> Iterator[Metric]:
        """Merge the current files; list again if one went away meanwhile."""
        for attempt in range(ATTEMPTS):
            files = [path for path in current(glob.glob(os.path.join(self._path, "*.db")))
                     if _sized(path)]
            try:
                return iter(self.merge(files, accumulate=True))  # type: ignore[no-untyped-call]
            except (FileNotFoundError, struct.error):  # struct.error: a file not sized yet
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(RETRY_S)
        raise AssertionError("unreachable")


def _sized(path: str) -> bool:
    """Tell whether a file has been given its size (prometheus_client makes the file, then
    sizes it: a new worker's file may be empty for a moment, and holds no samples yet). A file
    gone already is kept, for the merge to notice and list again."""
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:
        return True


def fold_in(directory: Path, pid: int) -> int:
    """Fold a dead process's counter and histogram samples into the archives; remove its
    files. Return how many files were removed.

    :raises OSError: if the directory cannot be read or written; nothing is lost then.
    """
    removed = 0
    for kind in ARCHIVED:
        own = directory / f"{kind}_{pid}.db"
        if not own.exists():
            continue
        if not own.stat().st_size:  # made and never sized: no samples
            own.unlink()
            removed += 1
            continue
        generation, archive = _newest_archive(directory, kind)
        totals: dict[str, float] = {}
        for path in (archive, own):
            if path is not None:
                for key, value, _, _ in _read(path):
                    totals[key] = totals.get(key, 0.0) + value
        holding = directory / f"{kind}_archive-{generation + 1}-{pid}.db"
        _write(holding, totals)
        own.unlink()
        removed += 1
        if archive is not None:
            archive.unlink(missing_ok=True)
        holding.rename(directory / f"{kind}_archive-{generation + 1}.db")
    return removed


def _newest_archive(directory: Path, kind: str) -> tuple[int, Path | None]:
    """Return the newest archive of a type, and its generation (0 and None if none yet)."""
    best: tuple[int, Path | None] = (0, None)
    for path in directory.glob(f"{kind}_archive-*.db"):
        found = _ARCHIVE.match(path.name)
        if found and int(found[2]) > best[0]:
            best = (int(found[2]), path)
    return best


def _write(target: Path, values: dict[str, float]) -> None:
    """Write values as a new mmap file at target, whole (a temporary name, then a rename)."""
    partial = target.with_suffix(".partial")
    store = MmapedDict(str(partial))  # type: ignore[no-untyped-call]
    try:
        for key, value in values.items():
            store.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
    finally:
        store.close()  # type: ignore[no-untyped-call]
    partial.rename(target)


def _read(path: Path) -> list[tuple[str, float, float, int]]:
    """Read every (key, value, timestamp, position) of a sample file."""
    return list(MmapedDict.read_all_values_from_file(str(path)))  # type: ignore[no-untyped-call]
