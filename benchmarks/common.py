"""Timing and memory helpers shared by the benchmarks (both sides of a comparison run in the same process)."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from datetime import date

import torch


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), {date.today()}"


def interleaved_medians(functions: dict, repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median wall time (s) of each function; the functions take turns so machine noise hits them alike."""
    for fn in functions.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _rss_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_increase(fn) -> int:
    """Bytes by which the process's resident set peaks above its size before `fn()` (Linux: resets VmHWM).

    Run each side in its own process: freed memory stays with the allocator and would hide the second side's peak.
    """
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS mark
    before = _rss_bytes("VmRSS")
    fn()
    return _rss_bytes("VmHWM") - before
