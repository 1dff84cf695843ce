"""The machine a benchmark ran on, reported beside its numbers."""

from __future__ import annotations

import os
import platform


def machine_report(load_before: float) -> dict:
    """Cores, Python, and how busy the machine was before and after the run."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }
