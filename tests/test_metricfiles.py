"""Dead workers' samples folded into one archive: every sample counted once, at any moment."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict

from app.web.metricfiles import ArchiveAwareCollector
from app.web.metricfiles import current
from app.web.metricfiles import fold_in
from tests.support import sample_value

KEY = json.dumps(["requests", "requests_total", {"endpoint": "/predict"}, "Requests."])


def write(path: Path, value: float) -> None:
    """Write one counter sample file, as a worker would."""
    store = MmapedDict(str(path))
    store.write_value(KEY, value, 0.0)
    store.close()


def total(directory: Path) -> float:
    """Scrape the directory as /metrics does."""
    registry = CollectorRegistry()
    ArchiveAwareCollector(registry, path=str(directory))
    return sample_value(generate_latest(registry).decode(), "requests_total", endpoint="/predict")


def test_a_listing_counts_each_sample_once_whatever_the_moment() -> None:
    listing = ["d/counter_7.db", "d/counter_8.db", "d/counter_archive-3.db",
               "d/counter_archive-4-7.db", "d/histogram_8.db", "d/gauge_livesum_8.db"]
    # Mid-fold: archive 4 holds worker 7 already, so 7's own file and archive 3 are skipped.
    assert sorted(current(listing)) == ["d/counter_8.db", "d/counter_archive-4-7.db",
                                        "d/gauge_livesum_8.db", "d/histogram_8.db"]
    assert sorted(current(["d/counter_7.db", "d/counter_archive-4.db"])) == [
        "d/counter_7.db", "d/counter_archive-4.db"]  # 4 holds no 7 once named so


def test_folding_keeps_the_totals_and_removes_the_files(tmp_path: Path) -> None:
    for pid, value in ((101, 5.0), (102, 7.0), (103, 11.0)):
        write(tmp_path / f"counter_{pid}.db", value)
    assert total(tmp_path) == 23
    for pid in (101, 102):
        assert fold_in(tmp_path, pid) == 1
        assert total(tmp_path) == 23
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "counter_103.db", "counter_archive-2.db"]


def test_an_unsized_new_file_is_skipped_and_folded_away(tmp_path: Path) -> None:
    write(tmp_path / "counter_101.db", 5.0)
    (tmp_path / "counter_102.db").touch()  # made, not yet sized by its worker
    assert total(tmp_path) == 5
    assert fold_in(tmp_path, 102) == 1
    assert not (tmp_path / "counter_102.db").exists()
