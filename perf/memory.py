"""Memory of a server's workers: RSS, PSS and private pages (what forking did not share)."""

from __future__ import annotations

import psutil


def worker_processes(pid: int) -> list[psutil.Process]:
    """Return the workers under pid: its descendants but helper processes.

    multiprocessing's resource tracker (uvicorn starts one) is a helper, not a worker.
    """
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    workers = []
    for proc in children:
        try:
            if not any("resource_tracker" in part for part in proc.cmdline()):
                workers.append(proc)
        except psutil.Error:
            continue
    return workers


def worker_memory(pid: int) -> dict[str, float]:
    """Return the mean RSS, PSS and private (USS) MB of the workers under pid, and their count.

    Private = Private_Clean + Private_Dirty in smaps: the pages only that worker holds, which
    one more worker adds to the machine.
    """
    readings = []
    for proc in worker_processes(pid):
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        readings.append((info.rss, info.pss, info.uss))
    count = len(readings) or 1
    return {"workers": len(readings),
            "rss_mb": sum(r[0] for r in readings) / count / 2**20,
            "pss_mb": sum(r[1] for r in readings) / count / 2**20,
            "private_mb": sum(r[2] for r in readings) / count / 2**20}
