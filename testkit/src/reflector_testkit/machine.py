"""The machine a benchmark ran on, reported beside its numbers."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def process_memory(pid: int | str = "self") -> dict[str, int]:
    """The kernel's memory counters of a process (``/proc/PID/status``), in bytes: ``VmRSS``
    is ``RssAnon`` (heaps and arenas: where a leak grows) plus ``RssFile`` (pages of mapped
    libraries and model files, which the kernel may drop) plus ``RssShmem``; ``VmHWM`` is the
    kernel's own peak of ``VmRSS``."""
    counters: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
            counters[name] = int(value.split()[0]) * 1024
    return counters


def allocator_env(allocator: str) -> dict[str, str] | None:
    """This process's environment for a child that runs on ``allocator``: ``system`` (glibc's)
    or ``jemalloc`` (preloaded as ``reflector serve`` does it); ``None`` where jemalloc is not
    installed."""
    from reflector.memory import allocator_environment

    environ = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MALLOC_CONF")}
    environ["REFLECTOR_ALLOCATOR"] = allocator
    return allocator_environment(environ) if allocator == "jemalloc" else environ


def machine_report(load_before: float) -> dict:
    """Cores, Python, and how busy the machine was before and after the run."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }
