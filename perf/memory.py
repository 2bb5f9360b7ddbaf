"""Memory of a server's workers: RSS, PSS and private pages (what forking did not share)."""

from __future__ import annotations

import psutil


def worker_memory(pid: int) -> dict[str, float]:
    """Return the mean RSS, PSS and private (USS) MB of the workers under pid, and their count.

    Private = Private_Clean + Private_Dirty in smaps: the pages only that worker holds, which
    one more worker adds to the machine. Helper processes (multiprocessing's resource
    tracker) are not workers.
    """
    readings = []
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {"workers": 0, "rss_mb": 0.0, "pss_mb": 0.0, "private_mb": 0.0}
    for proc in children:
        try:
            if any("resource_tracker" in part for part in proc.cmdline()):
                continue
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        readings.append((info.rss, info.pss, info.uss))
    count = len(readings) or 1
    return {"workers": len(readings),
            "rss_mb": sum(r[0] for r in readings) / count / 2**20,
            "pss_mb": sum(r[1] for r in readings) / count / 2**20,
            "private_mb": sum(r[2] for r in readings) / count / 2**20}
