"""Timing and memory helpers shared by the benchmarks (both sides of a comparison run in the same process), and the
keyword-size ViT they and the studies train."""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date

import torch

# AST's and ASiT's size at the keyword scale (the `-tiny` presets widened): 128 wide, 4 layers of 4 heads
KEYWORD_VIT = {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 512}
KEYWORD_VIT_OVERRIDES = ",".join(f"{name}={value}" for name, value in KEYWORD_VIT.items())  # --config_overrides


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def fresh_accelerate_state() -> None:
    """Forget the Accelerator of an earlier run in this process, so that the next run sets up its own."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def machine() -> str:
    threads = torch.get_num_threads()
    return f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} ({threads} threads), {date.today()}"


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


def save_and_report(results: dict, output: str, report) -> dict:
    """Write `results` as JSON to `output` (its folder made), print `report(results)`, return `results`."""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(results, f, indent=1)
    print(report(results))
    return results


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


def peak_memory_in_subprocess(script: str, args: list[str]) -> int:
    """Run `python script *args` (a script whose hidden mode prints `{"bytes": ...}` last) and return the bytes.

    A fixed mmap threshold makes glibc return every large buffer at once, so the resident set follows live tensors
    instead of the allocator's adaptive caching.
    """
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    output = subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(output.stdout.strip().splitlines()[-1])["bytes"]
